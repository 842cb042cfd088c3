"""A customer answering a conversation that waits on them, or that we answered, puts it back to work:
to its assignee, else its team's queue, else the shared inbox, with an event, and the SLA pause
ends as before. On a frozen clock; runs on both legs (PostgreSQL's set-based UPDATE in
ingest.writes._update_conversations and the portable bulk_update)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from inbox.channels.base import IncomingMessage
from inbox.models import Conversation, ConversationEvent, Status
from inbox.services.ingest import ingest_messages
from inbox.services.replies import set_waiting_on_customer
from routing.sla import hooks

pytestmark = pytest.mark.django_db
AMS = ZoneInfo("Europe/Amsterdam")
FRIDAY_1645 = datetime(2026, 3, 13, 16, 45, tzinfo=AMS)
MONDAY_0905 = datetime(2026, 3, 16, 9, 5, tzinfo=AMS)
TUESDAY_1000 = datetime(2026, 3, 17, 10, 0, tzinfo=AMS)


def im(ext, at, parent=""):
    return IncomingMessage(
        external_id=ext,
        text=f"Bericht {ext}: de lift doet het nog steeds niet",
        created_at=at,
        author_id="huurder",
        author_handle="huurder",
        author_name="Huurder",
        parent_external_id=parent,
    )


@pytest.fixture
def waiting(channel, policy, office_calendar, team_a, staff_a, coordinator):
    """A conversation answered on Monday 09:05 and set to wait on the customer then."""
    policy.calendar = office_calendar
    policy.save()

    def make(*, department, assignee):
        with time_machine.travel(FRIDAY_1645, tick=False):
            ingest_messages(channel=channel, messages=[im("m0", FRIDAY_1645)])
        conv = Conversation.objects.get()
        with time_machine.travel(MONDAY_0905, tick=False):
            # As the outbox leaves it after our reply (an answer, by a person, at 09:05).
            Conversation.objects.filter(pk=conv.pk).update(
                department=team_a if department else None,
                assignee=staff_a if assignee else None,
                status=Status.ASSIGNED if assignee else Status.ANSWERED,
            )
            conv.refresh_from_db()
            hooks.on_agent_reply(conv, MONDAY_0905, staff_a)
            conv = set_waiting_on_customer(conversation=conv, acting_user=coordinator)
        assert conv.status == Status.WAITING and conv.sla_paused_at == MONDAY_0905
        return conv

    return make


@pytest.mark.parametrize(
    ("department", "assignee", "expected"),
    [
        (True, True, Status.ASSIGNED),
        (True, False, Status.TRIAGED),
        (False, False, Status.NEW),
    ],
    ids=["assigned", "team queue", "shared inbox"],
)
def test_a_customer_answer_puts_a_waiting_conversation_back_to_work(
    waiting, channel, department, assignee, expected
):
    conv = waiting(department=department, assignee=assignee)
    version = conv.version
    answer = [im("c1", TUESDAY_1000, parent="m0")]
    with time_machine.travel(TUESDAY_1000 + timedelta(minutes=1), tick=False):
        result = ingest_messages(channel=channel, messages=answer)
        ingest_messages(channel=channel, messages=answer)  # a replay changes nothing
    assert result.conversation_ids == [conv.pk] and result.created == 1

    conv.refresh_from_db()
    assert conv.status == expected
    assert conv.version == version + 1
    event = ConversationEvent.objects.get(conversation=conv, kind="customer_replied")
    assert event.actor is None
    assert event.data == {"by": "ingest", "from": "waiting", "to": str(expected)}
    # The SLA as before: the pause ends when the customer wrote. Resolution had 7h40 left
    # (15 minutes on Friday, 5 on Monday) -> Wednesday 09:40; a next response of 60 minutes.
    assert conv.sla_paused_at is None
    assert conv.resolution_due_at == datetime(2026, 3, 18, 9, 40, tzinfo=AMS)
    assert conv.next_response_due_at == datetime(2026, 3, 17, 11, 0, tzinfo=AMS)
    assert conv.sla_due_at == conv.next_response_due_at


def test_our_own_message_leaves_a_waiting_conversation_waiting(waiting, channel):
    conv = waiting(department=True, assignee=True)
    own = IncomingMessage(
        external_id="r1",
        text="Is het al opgelost?",
        created_at=TUESDAY_1000,
        author_id="woonstad",
        author_handle="woonstad",
        author_name="Woonstad",
        parent_external_id="m0",
        is_own=True,
    )
    with time_machine.travel(TUESDAY_1000, tick=False):
        ingest_messages(channel=channel, messages=[own])
    conv.refresh_from_db()
    assert conv.status == Status.WAITING and conv.sla_paused_at == MONDAY_0905
    assert not ConversationEvent.objects.filter(kind="customer_replied").exists()


def test_a_customer_writing_after_our_answer_puts_it_back_to_work(channel, policy, team_a, staff_a):
    """Answered is the ball in the customer's court: when they write again it is work again
    (in the team's queue, a next-response clock running), not still "answered"."""
    with time_machine.travel(FRIDAY_1645, tick=False):
        ingest_messages(channel=channel, messages=[im("m0", FRIDAY_1645)])
    conv = Conversation.objects.get()
    with time_machine.travel(MONDAY_0905, tick=False):
        Conversation.objects.filter(pk=conv.pk).update(department=team_a, status=Status.ANSWERED)
        conv.refresh_from_db()
        hooks.on_agent_reply(conv, MONDAY_0905, staff_a)
    with time_machine.travel(TUESDAY_1000 + timedelta(minutes=1), tick=False):
        ingest_messages(channel=channel, messages=[im("c1", TUESDAY_1000, parent="m0")])
    conv.refresh_from_db()
    assert conv.status == Status.TRIAGED
    event = ConversationEvent.objects.get(conversation=conv, kind="customer_replied")
    assert event.data == {"by": "ingest", "from": "answered", "to": "triaged"}
    assert conv.next_response_due_at == TUESDAY_1000 + timedelta(minutes=60)
