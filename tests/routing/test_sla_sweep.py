"""The SLA sweep: at-risk and overdue transitions, idempotence, notifications, webhook, on-call."""

import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import responses
import time_machine

from inbox.models import ConversationEvent, Flag, Notification, SlaState
from routing.models import OnCallShift, SlaBreach
from routing.sla import escalation, hooks
from routing.sla import sweep as sla_sweep
from routing.tasks import sweep_sla
from tests.factories import ConversationFactory, UserFactory

pytestmark = pytest.mark.django_db
AMS = ZoneInfo("Europe/Amsterdam")
OPENED = datetime(2026, 3, 11, 10, 0, tzinfo=AMS)  # a Wednesday
WARN = OPENED + timedelta(minutes=22, seconds=30)  # 75% of 30 minutes
DUE = OPENED + timedelta(minutes=30)


@pytest.fixture
def conv(team_a, office_calendar, policy, channel, staff_a, lead_a, coordinator):
    team_a.calendar = office_calendar
    team_a.save()
    c = ConversationFactory(
        channel=channel, department=team_a, assignee=staff_a, received_at=OPENED
    )
    hooks.on_conversation_opened(c, OPENED)
    c.refresh_from_db()
    return c


def sweep(at):
    return sla_sweep.sweep_sla(now=at, enqueue_notifications=False)


def test_nothing_changes_before_the_warning(conv):
    result = sweep(WARN - timedelta(seconds=1))
    assert result.changed == 0
    conv.refresh_from_db()
    assert conv.sla_state == SlaState.OK


def test_at_risk_then_overdue_and_idempotent(conv, staff_a):
    result = sweep(WARN)
    assert result.at_risk == [conv.pk] and result.overdue == []
    conv.refresh_from_db()
    assert conv.sla_state == SlaState.AT_RISK
    assert sweep(WARN + timedelta(seconds=30)).changed == 0  # twice: nothing more

    result = sweep(DUE)
    assert result.overdue == [conv.pk] and result.breaches == 1
    conv.refresh_from_db()
    assert conv.sla_state == SlaState.OVERDUE
    assert sweep(DUE + timedelta(minutes=1)).changed == 0
    breach = SlaBreach.objects.get()
    assert (breach.target, breach.due_at, breach.holder, breach.overdue_by) == (
        "first_response",
        DUE,
        staff_a,
        None,
    )
    kinds = list(ConversationEvent.objects.filter(conversation=conv).values_list("kind", flat=True))
    assert sorted(kinds) == ["sla_at_risk", "sla_overdue"]

    # The late reply completes the breach and the conversation returns to "ok" (resolution runs).
    hooks.on_agent_reply(conv, DUE + timedelta(minutes=12), staff_a)
    breach.refresh_from_db()
    assert breach.overdue_by == timedelta(minutes=12)
    conv.refresh_from_db()
    assert conv.sla_state == SlaState.OK
    assert SlaBreach.objects.count() == 1


def test_straight_to_overdue_when_the_sweep_was_late(conv):
    result = sweep(DUE + timedelta(hours=1))
    assert result.overdue == [conv.pk] and result.at_risk == []


def test_notifications_go_to_the_right_people_once(conv, staff_a, lead_a, coordinator, staff_b):
    sweep(WARN)
    assert escalation.notify_sla_state(conversation_ids=[conv.pk], state="at_risk", now=WARN) == 2
    at_risk_users = set(Notification.objects.values_list("user__username", flat=True))
    assert at_risk_users == {"anna", "lars"}  # assignee and team (the lead is in the team)
    # Run twice: nothing new.
    assert escalation.notify_sla_state(conversation_ids=[conv.pk], state="at_risk", now=WARN) == 0

    sweep(DUE)
    made = escalation.notify_sla_state(conversation_ids=[conv.pk], state="overdue", now=DUE)
    assert made == 3
    overdue = Notification.objects.filter(kind="sla_overdue")
    assert set(overdue.values_list("user__username", flat=True)) == {"anna", "lars", "cora"}
    assert not Notification.objects.filter(user=staff_b).exists()
    assert escalation.notify_sla_state(conversation_ids=[conv.pk], state="overdue", now=DUE) == 0


def test_the_beat_task_notifies_after_commit(
    conv, eager_celery, django_capture_on_commit_callbacks, mailoutbox
):
    with time_machine.travel(DUE, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert sweep_sla() == 1
    assert Notification.objects.filter(kind="sla_overdue").count() == 3
    assert len(mailoutbox) == 3


@responses.activate
def test_the_webhook_gets_slack_and_teams_json_after_commit(
    conv, settings, django_capture_on_commit_callbacks
):
    settings.SLA_WEBHOOK_URL = "https://hooks.example.org/sla"
    responses.post("https://hooks.example.org/sla", status=200)
    sweep(DUE)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        escalation.notify_sla_state(conversation_ids=[conv.pk], state="overdue", now=DUE)
    assert len(responses.calls) == 0  # not before commit
    for callback in callbacks:
        callback()
    assert len(responses.calls) == 1
    body = json.loads(responses.calls[0].request.body)
    assert list(body) == ["text"] and f"#{conv.pk}" in body["text"]


@responses.activate
def test_a_failing_webhook_is_logged_not_raised():
    responses.post("https://hooks.example.org/sla", status=500)
    assert escalation.post_webhook("https://hooks.example.org/sla", {"text": "x"}) is False


def test_out_of_hours_urgent_items_go_to_the_on_call_person(
    team_a, office_calendar, channel, coordinator
):
    from routing.models import SlaPolicy

    SlaPolicy.objects.create(name="24/7 dreiging", flags_any=Flag.THREAT, first_response_minutes=15)
    team_a.calendar = office_calendar
    team_a.save()
    # The threat policy keeps the team calendar; make the clock run around the clock.
    policy = SlaPolicy.objects.get()
    from routing.models import BusinessCalendar

    policy.calendar = BusinessCalendar.objects.create(name="Altijd", is_24_7=True)
    policy.save()
    oncall = UserFactory(username="otto")
    day_shift = UserFactory(username="dora")
    OnCallShift.objects.create(department=team_a, user=oncall, start=time(17), end=time(9))
    OnCallShift.objects.create(department=team_a, user=day_shift, start=time(9), end=time(17))
    saturday_night = datetime(2026, 3, 14, 23, 0, tzinfo=AMS)
    c = ConversationFactory(
        channel=channel, department=team_a, received_at=saturday_night, flags=Flag.THREAT
    )
    hooks.on_conversation_opened(c, saturday_night)
    c.refresh_from_db()
    assert c.sla_due_at == saturday_night + timedelta(minutes=15)
    due = c.sla_due_at
    sweep(due)
    escalation.notify_sla_state(conversation_ids=[c.pk], state="overdue", now=due)
    users = set(Notification.objects.values_list("user__username", flat=True))
    assert "otto" in users and "dora" not in users and "cora" in users


def test_oncall_shift_over_midnight_counts_from_the_evening_it_started(team_a):
    user = UserFactory(username="nina")
    shift = OnCallShift(department=team_a, user=user, weekdays=[4], start=time(17), end=time(9))
    saturday_0300 = datetime(2026, 3, 14, 3, 0, tzinfo=AMS)  # Friday's shift
    sunday_0300 = datetime(2026, 3, 15, 3, 0, tzinfo=AMS)
    assert escalation.oncall_users(team_a, saturday_0300, [shift]) == [user]
    assert escalation.oncall_users(team_a, sunday_0300, [shift]) == []


def test_sweep_touches_only_what_changed(conv, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        sweep(WARN - timedelta(minutes=1))
