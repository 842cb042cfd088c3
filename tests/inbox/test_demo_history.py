"""The demo's month of history (seed_demo, inbox.demo.history): what a newcomer's dashboards show.

Run as README command 1 runs it, on a frozen clock: the demo organisation, then the history. The
dashboards' own panels must then have thirty days of figures (first response, SLA, a backlog for
every day, every weekday in the heatmap, a spike alert), every team its share, and what the team
did must carry the time it happened.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from inbox.demo.history import SAMPLE_CHANNEL, STILL_OPEN
from inbox.models import (
    Channel,
    Conversation,
    ConversationEvent,
    Message,
    ReplyState,
    SpikeAlert,
    Status,
)
from inbox.services.outbox import deliver_reply
from inbox.services.replies import save_and_submit_reply
from reports.panels import (
    backlog_panel,
    breakdown_panel,
    heatmap_panel,
    response_panel,
    spikes_panel,
    volume_panel,
)
from reports.periods import Period
from reports.rollup.run import run_rollups
from reports.selectors import Scope
from routing.models import Department
from tests.realworld import needs_twcs
from webcare.accounts.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.slow, needs_twcs]
NOW = datetime(2026, 3, 20, 11, 0, tzinfo=UTC)  # a Friday


@pytest.fixture
def demo():
    with time_machine.travel(NOW, tick=True):
        call_command("seed_demo", verbosity=0, stdout=open("/dev/null", "w"))  # noqa: SIM115
        # What the last seconds of the history wrote, beat's rollup counts a minute later.
        run_rollups(now=timezone.now() + timedelta(minutes=1))
    return Period.ending_today(30, today=NOW.date())


def cells(panel, label: str) -> list:
    return next(row[1:] for row in panel.rows if str(row[0]).startswith(label))


def test_the_dashboards_have_thirty_days_of_figures(client, demo):
    """One seed for the three checks below (a seed takes half a minute)."""
    dashboards_have_figures(demo)
    the_team_handled_it_when_it_happened()
    every_demo_role_sees_the_history_on_its_pages(client)
    a_reply_to_any_demo_conversation_is_sent()


def dashboards_have_figures(demo):
    with time_machine.travel(NOW, tick=False):
        response = response_panel(demo, Scope())
        assert cells(response, "First response, calendar time: median")[0] != "–"
        assert cells(response, "First response, business time: p90")[0] != "–"
        assert cells(response, "Resolution, calendar time: median")[0] != "–"
        assert cells(response, "SLA met: first response")[0] != "–"
        assert cells(response, "SLA met: resolution")[0] != "–"
        assert int(cells(response, "Answered conversations")[0]) > 500

        volume = volume_panel(demo, Scope())
        busy_days = [row for row in volume.rows if int(row[1]) > 0]
        assert len(busy_days) >= 29, volume.rows  # messages in on (nearly) every day

        grid = heatmap_panel(demo, Scope()).rows
        assert all(sum(int(v) for v in row[1:]) > 0 for row in grid), "a weekday without mail"
        office, night = (sum(int(row[1 + h]) for row in grid) for h in (10, 3))
        assert office > 3 * night  # the week has a rhythm: office hours, not nights

        backlog = backlog_panel(demo, Scope())
        assert len(backlog.rows) >= 29 and any(int(row[1]) for row in backlog.rows)

        spikes = spikes_panel(demo, Scope())
        assert spikes.rows, "the viral letter raised no spike alert"

        teams = breakdown_panel("department")(demo, Scope())
        answered = {str(row[0]): int(row[1]) for row in teams.rows}
        for team in Department.objects.exclude(slug="communicatie"):
            assert answered.get(team.name, 0) > 10, (team.name, answered)


def the_team_handled_it_when_it_happened():
    sample = Conversation.objects.filter(channel__name=SAMPLE_CHANNEL)
    closed = sample.filter(status=Status.CLOSED)
    assert closed.count() > 500
    for conversation in closed[:200]:
        event = ConversationEvent.objects.get(conversation=conversation, kind="closed")
        assert event.created_at == conversation.closed_at  # the audit trail tells the same time
        assert conversation.last_message_at < conversation.closed_at < NOW
    # What came in lately is still there to do; nothing older was left lying around.
    still_open = sample.filter(status__in=[Status.NEW, Status.TRIAGED])
    assert still_open.exists()
    assert not still_open.filter(received_at__lt=NOW - STILL_OPEN - timedelta(days=1)).exists()
    # The viral letter: one alert per quarter hour while it lasted, forwarded, answered, closed.
    letter_alerts = SpikeAlert.objects.filter(keyword="")
    assert letter_alerts.count() == 3
    letter = Conversation.objects.get(
        pk=Message.objects.get(external_id__endswith="-apology").conversation_id
    )
    assert letter.status == Status.CLOSED and letter.department.slug == "communicatie"
    assert letter.message_count > 150


def test_a_second_run_adds_nothing(demo):
    counts = (Message.objects.count(), ConversationEvent.objects.count())
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        call_command("seed_demo", verbosity=0, stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert (Message.objects.count(), ConversationEvent.objects.count()) == counts


def every_demo_role_sees_the_history_on_its_pages(client):
    with time_machine.travel(NOW, tick=False):
        for username, url in (
            ("manager", reverse("dashboards")),
            ("teamleider", reverse("reports:team")),
            ("coordinator", reverse("inbox:spike-alerts")),
        ):
            client.force_login(User.objects.get(username=username))
            assert client.get(url, {"days": 30}).status_code == 200, (username, url)


def a_reply_to_any_demo_conversation_is_sent():
    """The demo's channels have no platform credentials: a newcomer's first reply, to the leak
    or to a month-old English question, must still reach "sent" (the simulated platform)."""
    coordinator = User.objects.get(username="coordinator")
    channels = Channel.objects.filter(conversations__status__in=[Status.NEW, Status.TRIAGED])
    assert channels.distinct().count() >= 3
    for channel in channels.distinct():
        conversation = channel.conversations.filter(status__in=[Status.NEW, Status.TRIAGED])[0]
        reply = save_and_submit_reply(
            conversation=conversation, text="Dank voor je bericht!", acting_user=coordinator
        )
        deliver_reply(reply_id=reply.pk)
        reply.refresh_from_db()
        assert reply.state == ReplyState.SENT, (channel.name, reply.state)
