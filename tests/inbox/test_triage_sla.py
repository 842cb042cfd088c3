"""Triage actions keep the SLA clocks right (docs/sla.md): an end status stops every clock, so the
sweep leaves the item alone; a forward or a priority/flag change recomputes the due times with
the policy and calendar that match now; unhide restarts; split opens clocks; bulk does the same."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inbox.models import (
    Conversation,
    Flag,
    HouseRule,
    NoReplyReason,
    Notification,
    Priority,
    SlaState,
    Status,
)
from inbox.services import triage
from integrations.services import events
from routing.models import BusinessCalendar, SlaBreach, SlaClock, SlaPolicy
from routing.sla import hooks, sweep
from routing.tasks import sweep_sla
from tests.factories import ConversationFactory, MessageFactory
from webcare.db import on_postgres

pytestmark = pytest.mark.django_db
AMS = ZoneInfo("Europe/Amsterdam")
FRIDAY_1645 = datetime(2026, 3, 13, 16, 45, tzinfo=AMS)
FRIDAY_1650 = FRIDAY_1645 + timedelta(minutes=5)
MONDAY_0915 = datetime(2026, 3, 16, 9, 15, tzinfo=AMS)
MONDAY_1000 = datetime(2026, 3, 16, 10, 0, tzinfo=AMS)


@pytest.fixture
def policies(team_a, office_calendar, policy):
    """Team A works office hours; the standard policy (30 min) runs in the team's calendar or
    24/7 without a team; urgent items (15 min) and press items (10 min) run 24/7."""
    team_a.calendar = office_calendar
    team_a.save()
    always = BusinessCalendar.objects.create(name="Altijd", is_24_7=True)
    SlaPolicy.objects.create(
        name="Urgent",
        order=1,
        priorities=[Priority.URGENT],
        first_response_minutes=15,
        next_response_minutes=20,
        resolution_minutes=240,
        calendar=always,
    )
    SlaPolicy.objects.create(
        name="Pers",
        order=2,
        flags_any=int(Flag.PRESS),
        first_response_minutes=10,
        next_response_minutes=20,
        resolution_minutes=240,
        calendar=always,
    )
    return policy


def opened(channel, **kwargs) -> Conversation:
    """A conversation that came in on Friday 16:45, its clocks started as ingest starts them."""
    conv = ConversationFactory(channel=channel, received_at=FRIDAY_1645, **kwargs)
    hooks.on_conversation_opened(conv)
    conv.refresh_from_db()
    return conv


def running(conv) -> dict[str, SlaClock]:
    return {c.kind: c for c in SlaClock.objects.filter(conversation=conv, stopped_at__isnull=True)}


def fresh(conv) -> Conversation:
    return Conversation.objects.get(pk=conv.pk)


def _rule():
    return HouseRule.objects.get_or_create(title="Spam", defaults={"text": "We hide spam."})[0]


def _reason():
    return NoReplyReason.objects.get_or_create(label="Spam")[0]


def close_by(action, conv, coordinator, channel):
    if action == "hide":
        triage.hide_conversation(
            conversation=conv, rule=_rule(), acting_user=coordinator, version=conv.version
        )
    elif action == "no_reply":
        triage.mark_no_reply_needed(
            conversation=conv, reason=_reason(), acting_user=coordinator, version=conv.version
        )
    elif action == "merge":
        target = opened(channel)
        triage.merge_conversations(
            target=target,
            source=conv,
            acting_user=coordinator,
            target_version=target.version,
            source_version=conv.version,
        )
    else:
        params = {"rule": _rule()} if action == "bulk_hide" else {"reason": _reason()}
        result = triage.bulk_triage(
            action=action.removeprefix("bulk_"),
            items={conv.pk: conv.version},
            acting_user=coordinator,
            **params,
        )
        assert result.done == [conv.pk]


CLOSING = ["hide", "no_reply", "merge", "bulk_hide", "bulk_no_reply"]


@pytest.mark.parametrize("action", CLOSING)
def test_closing_actions_stop_the_clocks_and_the_sweep_leaves_them_alone(
    action, policies, channel, coordinator, eager_celery, django_capture_on_commit_callbacks
):
    conv = opened(channel)
    control = opened(channel)  # left open: proves the sweep would have caught it
    assert set(running(conv)) == {"first_response", "resolution"}
    with time_machine.travel(FRIDAY_1650, tick=False):
        close_by(action, conv, coordinator, channel)
    conv = fresh(conv)
    assert conv.status in (Status.HIDDEN, Status.NO_REPLY_NEEDED, Status.CLOSED)
    assert running(conv) == {}
    assert (conv.sla_due_at, conv.sla_warn_at, conv.sla_state) == (None, None, SlaState.NONE)
    assert conv.first_response_due_at is None and conv.resolution_due_at is None
    assert SlaClock.objects.get(conversation=conv, kind="first_response").stopped_at == (
        FRIDAY_1650
    )

    with (
        time_machine.travel(MONDAY_1000, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        sweep_sla()
    assert fresh(conv).sla_state == SlaState.NONE
    assert fresh(control).sla_state == SlaState.OVERDUE
    assert not SlaBreach.objects.filter(conversation=conv).exists()
    assert not Notification.objects.filter(conversation=conv).exists()
    assert Notification.objects.filter(conversation=control, kind="sla_overdue").exists()


def test_a_late_hide_records_the_breach_once_and_nothing_follows(policies, channel, coordinator):
    conv = opened(channel)
    with time_machine.travel(FRIDAY_1645 + timedelta(minutes=45), tick=False):
        triage.hide_conversation(
            conversation=conv, rule=_rule(), acting_user=coordinator, version=conv.version
        )
    breach = SlaBreach.objects.get(conversation=conv)
    assert (breach.target, breach.overdue_by) == ("first_response", timedelta(minutes=15))
    result = sweep.sweep_sla(now=MONDAY_1000, enqueue_notifications=False)
    assert conv.pk not in result.overdue and conv.pk not in result.at_risk
    assert SlaBreach.objects.filter(conversation=conv).count() == 1


@pytest.mark.parametrize("bulk", [False, True], ids=["single", "bulk"])
def test_forward_to_an_office_hours_team_recomputes_the_due_time(
    bulk, policies, channel, coordinator, team_a
):
    conv = opened(channel)
    assert conv.first_response_due_at == FRIDAY_1645 + timedelta(minutes=30)  # 24/7: 17:15
    with time_machine.travel(FRIDAY_1650, tick=False):
        if bulk:
            triage.bulk_triage(
                action="forward",
                items={conv.pk: conv.version},
                acting_user=coordinator,
                department=team_a,
            )
        else:
            returned = triage.forward_conversation(
                conversation=conv, department=team_a, acting_user=coordinator, version=1
            )
            assert returned.first_response_due_at == MONDAY_0915  # the response shows it
    conv = fresh(conv)
    # 15 minutes on Friday, the weekend does not count, 15 on Monday; the clock kept its start.
    assert conv.first_response_due_at == MONDAY_0915
    assert conv.sla_due_at == MONDAY_0915
    clock = running(conv)["first_response"]
    assert clock.started_at == FRIDAY_1645 and clock.calendar_spec["windows"]
    # 8 business hours: 15 minutes on Friday, 7 h 45 on Monday.
    assert conv.resolution_due_at == datetime(2026, 3, 16, 16, 45, tzinfo=AMS)
    # The sweep at the old due time finds nothing overdue.
    result = sweep.sweep_sla(now=FRIDAY_1645 + timedelta(minutes=31), enqueue_notifications=False)
    assert conv.pk not in result.overdue


@pytest.mark.parametrize("how", ["single", "bulk", "threat_flag"])
def test_priority_urgent_picks_the_urgent_policy(how, policies, channel, coordinator, team_a):
    conv = opened(channel, department=team_a, status=Status.TRIAGED)
    assert conv.first_response_due_at == MONDAY_0915  # standard policy, office hours
    with time_machine.travel(FRIDAY_1650, tick=False):
        if how == "single":
            triage.set_priority(
                conversation=conv, priority=Priority.URGENT, acting_user=coordinator, version=1
            )
        elif how == "bulk":
            triage.bulk_triage(
                action="priority",
                items={conv.pk: conv.version},
                acting_user=coordinator,
                priority=int(Priority.URGENT),
            )
        else:  # a threat makes the conversation urgent
            triage.flag_conversation(
                conversation=conv, flag=Flag.THREAT, acting_user=coordinator, version=1
            )
    conv = fresh(conv)
    assert conv.priority == Priority.URGENT
    clock = running(conv)["first_response"]
    assert clock.policy.name == "Urgent" and clock.target_minutes == 15
    assert conv.first_response_due_at == FRIDAY_1645 + timedelta(minutes=15)  # 24/7: 17:00
    assert conv.resolution_due_at == FRIDAY_1645 + timedelta(hours=4)


@pytest.mark.parametrize("bulk", [False, True], ids=["single", "bulk"])
def test_a_press_flag_picks_the_press_policy(bulk, policies, channel, coordinator, team_a):
    conv = opened(channel, department=team_a, status=Status.TRIAGED)
    with time_machine.travel(FRIDAY_1650, tick=False):
        if bulk:
            triage.bulk_triage(
                action="flag",
                items={conv.pk: conv.version},
                acting_user=coordinator,
                flag=int(Flag.PRESS),
            )
        else:
            triage.flag_conversation(
                conversation=conv, flag=Flag.PRESS, acting_user=coordinator, version=1
            )
    conv = fresh(conv)
    assert running(conv)["first_response"].policy.name == "Pers"
    assert conv.first_response_due_at == FRIDAY_1645 + timedelta(minutes=10)


def test_unhide_restarts_the_clocks(policies, channel, coordinator):
    conv = opened(channel)
    with time_machine.travel(FRIDAY_1650, tick=False):
        conv = triage.hide_conversation(
            conversation=conv, rule=_rule(), acting_user=coordinator, version=1
        )
    assert running(conv) == {}
    unhidden_at = FRIDAY_1645 + timedelta(minutes=15)
    with time_machine.travel(unhidden_at, tick=False):
        triage.unhide_conversation(conversation=conv, acting_user=coordinator, version=2)
    conv = fresh(conv)
    assert conv.status == Status.NEW
    # As a reopen (docs/sla.md): a new resolution clock from now; never answered, so no
    # next-response clock, and never a second first-response clock.
    clocks = running(conv)
    assert set(clocks) == {"resolution"}
    assert clocks["resolution"].started_at == unhidden_at
    assert conv.resolution_due_at == unhidden_at + timedelta(hours=8)  # no team: 24/7
    assert conv.sla_due_at == conv.resolution_due_at and conv.sla_state == SlaState.OK


def test_split_gives_the_new_conversation_its_clocks(policies, channel, coordinator):
    conv = opened(channel, message_count=2)
    MessageFactory(conversation=conv, created_at=FRIDAY_1645)
    later = MessageFactory(conversation=conv, created_at=FRIDAY_1645 + timedelta(minutes=3))
    with time_machine.travel(FRIDAY_1650, tick=False):
        new = triage.split_conversation(
            conversation=conv, message_ids=[later.pk], acting_user=coordinator, version=1
        )
    new = fresh(new)
    assert set(running(new)) == {"first_response", "resolution"}
    assert new.first_response_due_at == later.created_at + timedelta(minutes=30)
    assert new.sla_due_at == new.first_response_due_at
    assert set(running(conv)) == {"first_response", "resolution"}  # the original keeps its own


def _bulk_queries(n, channel, coordinator, action, **params) -> int:
    convs = [opened(channel) for _ in range(n)]
    with CaptureQueriesContext(connection) as ctx:
        result = triage.bulk_triage(
            action=action, items={c.pk: c.version for c in convs}, acting_user=coordinator, **params
        )
    assert len(result.done) == n
    return len(ctx)


@pytest.mark.parametrize(
    "action",
    ["hide", "no_reply", "forward", "assign", "flag", "priority"],
)
def test_bulk_actions_with_running_clocks_cost_the_same_for_3_and_40(
    action, policies, channel, coordinator, team_a, staff_a
):
    params = {
        "hide": {"rule": _rule()},
        "no_reply": {"reason": _reason()},
        "forward": {"department": team_a},
        "assign": {"assignee": staff_a},
        "flag": {"flag": int(Flag.PRESS)},
        "priority": {"priority": int(Priority.URGENT)},
    }[action]
    # Late (past the first response due time) so the stops record breaches too.
    with time_machine.travel(FRIDAY_1645 + timedelta(hours=1), tick=False):
        # The webhook subscriptions' event types are read once per process, then cached (by
        # wall time): read them first, so both runs count the same statements.
        events.wants("conversation.forwarded")
        small = _bulk_queries(3, channel, coordinator, action, **params)
        big = _bulk_queries(40, channel, coordinator, action, **params)
    assert big == small
    # Measured: forward 18 (the policies and the team calendars are read with their windows,
    # closures and reopened holidays: 9 of them; the SLA fields of the rows are one UPDATE).
    assert small <= 18


def test_bulk_hide_of_100_with_running_clocks_stays_set_based(
    policies, channel, coordinator, django_assert_max_num_queries
):
    convs = [opened(channel) for _ in range(100)]
    # The pinned 8 of test_bulk_hide_is_set_based (no clocks) + the hook's fixed cost when
    # every conversation has running clocks (read them, stop them, the conversations they
    # stopped) and the rows' SLA fields change (one UPDATE; SQLite binds at most 999
    # parameters a statement, so Django writes those 100 rows there in two).
    with (
        time_machine.travel(FRIDAY_1650, tick=False),
        django_assert_max_num_queries(8 + 4 + (0 if on_postgres() else 1)),
    ):
        result = triage.bulk_triage(
            action="hide",
            items={c.pk: c.version for c in convs},
            acting_user=coordinator,
            rule=_rule(),
        )
    assert len(result.done) == 100
    assert not SlaClock.objects.filter(stopped_at__isnull=True).exists()
    assert not Conversation.objects.filter(sla_due_at__isnull=False).exists()
