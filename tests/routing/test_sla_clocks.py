"""SLA clock semantics through the hooks in routing.sla.hooks, on a frozen clock."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from inbox.models import Flag, Priority, SlaState, Status
from routing.models import BusinessCalendar, BusinessWindow, SlaBreach, SlaClock, SlaPolicy
from routing.sla import hooks, sweep
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db
AMS = ZoneInfo("Europe/Amsterdam")
FRIDAY_1645 = datetime(2026, 3, 13, 16, 45, tzinfo=AMS)
MONDAY_0915 = datetime(2026, 3, 16, 9, 15, tzinfo=AMS)


@pytest.fixture
def team_conv(team_a, office_calendar, policy, channel):
    team_a.calendar = office_calendar
    team_a.save()

    def make(at=FRIDAY_1645, **kwargs):
        with time_machine.travel(at, tick=False):
            conv = ConversationFactory(channel=channel, department=team_a, received_at=at, **kwargs)
            hooks.on_conversation_opened(conv, at)
        conv.refresh_from_db()
        return conv

    return make


def test_friday_1645_with_30_minutes_is_due_monday_0915(team_conv):
    conv = team_conv()
    assert conv.first_response_due_at == MONDAY_0915
    assert conv.sla_due_at == MONDAY_0915
    assert conv.sla_state == SlaState.OK
    # 75% of 30 business minutes: 15 on Friday + 7.5 on Monday.
    assert conv.sla_warn_at == datetime(2026, 3, 16, 9, 7, 30, tzinfo=AMS)
    # Resolution: 8 business hours from Friday 16:45 -> Monday 16:45.
    assert conv.resolution_due_at == datetime(2026, 3, 16, 16, 45, tzinfo=AMS)


def test_no_matching_policy_means_no_clock(team_conv, policy):
    policy.priorities = [Priority.URGENT]
    policy.save()
    conv = team_conv()
    assert conv.sla_state == SlaState.NONE
    assert conv.sla_due_at is None
    assert not SlaClock.objects.exists()


def test_first_matching_policy_wins(team_conv, policy):
    SlaPolicy.objects.create(
        name="Dreiging", order=1, flags_any=Flag.THREAT, first_response_minutes=10
    )
    urgent = team_conv(flags=Flag.THREAT)
    normal = team_conv()
    assert urgent.first_response_due_at == datetime(2026, 3, 13, 16, 55, tzinfo=AMS)
    assert urgent.resolution_due_at is None  # the threat policy has no resolution target
    assert normal.first_response_due_at == MONDAY_0915


def test_a_person_replying_stops_the_first_response_clock(team_conv, staff_a):
    conv = team_conv()
    reply_at = datetime(2026, 3, 16, 9, 5, tzinfo=AMS)
    hooks.on_agent_reply(conv, reply_at, staff_a)
    conv.refresh_from_db()
    assert conv.first_response_at == reply_at
    assert conv.first_response_due_at is None
    assert conv.sla_due_at == conv.resolution_due_at
    assert not SlaBreach.objects.exists()


@pytest.mark.parametrize("kwargs", [{"automatic": True}, {"internal": True}])
def test_automatic_acks_and_internal_notes_do_not_count(team_conv, staff_a, kwargs):
    conv = team_conv()
    hooks.on_agent_reply(conv, FRIDAY_1645 + timedelta(minutes=1), staff_a, **kwargs)
    conv.refresh_from_db()
    assert conv.first_response_at is None
    assert conv.first_response_due_at == MONDAY_0915


def test_a_late_reply_records_a_breach_with_the_holder(team_conv, staff_a):
    conv = team_conv(assignee=staff_a)
    late = MONDAY_0915 + timedelta(minutes=20)
    hooks.on_agent_reply(conv, late, staff_a)
    breach = SlaBreach.objects.get()
    assert breach.target == "first_response"
    assert breach.overdue_by == timedelta(minutes=20)
    assert breach.holder == staff_a
    assert breach.department == conv.department


def test_forwarding_does_not_stop_the_clock_but_applies_the_new_teams_calendar(team_conv, team_b):
    conv = team_conv()
    # Team B works Saturdays too.
    sat = BusinessCalendar.objects.create(name="Zaterdag")
    BusinessWindow.objects.bulk_create(
        BusinessWindow(calendar=sat, weekday=d, start=time(9), end=time(17)) for d in range(6)
    )
    team_b.calendar = sat
    team_b.save()
    conv.department = team_b
    conv.save()
    hooks.on_priority_or_department_changed(conv, FRIDAY_1645 + timedelta(minutes=5))
    conv.refresh_from_db()
    # Same start (Friday 16:45), new calendar: due Saturday 09:15.
    assert conv.first_response_due_at == datetime(2026, 3, 14, 9, 15, tzinfo=AMS)
    assert SlaClock.objects.filter(stopped_at__isnull=True).count() == 2


def test_reassignment_keeps_the_clock_and_the_breach_names_the_holder_at_the_time(
    team_conv, staff_a, lead_a
):
    conv = team_conv(assignee=staff_a)
    conv.assignee = lead_a
    conv.save()
    conv.refresh_from_db()
    assert conv.first_response_due_at == MONDAY_0915
    sweep.sweep_sla(now=MONDAY_0915 + timedelta(minutes=1), enqueue_notifications=False)
    assert SlaBreach.objects.get().holder == lead_a


def test_priority_change_recomputes_with_the_new_policy(team_conv):
    SlaPolicy.objects.create(
        name="Urgent", order=1, priorities=[Priority.URGENT], first_response_minutes=10
    )
    conv = team_conv()
    conv.priority = Priority.URGENT
    conv.save()
    hooks.on_priority_or_department_changed(conv, FRIDAY_1645 + timedelta(minutes=2))
    conv.refresh_from_db()
    assert conv.first_response_due_at == datetime(2026, 3, 13, 16, 55, tzinfo=AMS)
    assert conv.resolution_due_at is None  # the urgent policy has no resolution target


def test_waiting_on_customer_pauses_and_a_customer_message_resumes(team_conv, staff_a):
    conv = team_conv()
    monday_0905 = datetime(2026, 3, 16, 9, 5, tzinfo=AMS)
    hooks.on_agent_reply(conv, monday_0905, staff_a)
    conv.status = Status.WAITING
    hooks.on_status_changed(conv, Status.ASSIGNED, Status.WAITING, monday_0905)
    conv.refresh_from_db()
    assert conv.sla_paused_at == monday_0905
    assert conv.sla_due_at is None
    assert conv.sla_state == SlaState.NONE
    # The customer answers on Tuesday 10:00: resolution had 7h40 left -> Wednesday 09:40.
    tuesday = datetime(2026, 3, 17, 10, 0, tzinfo=AMS)
    hooks.on_customer_message(conv, tuesday)
    conv.refresh_from_db()
    assert conv.sla_paused_at is None
    assert conv.resolution_due_at == datetime(2026, 3, 18, 9, 40, tzinfo=AMS)
    # ... and a next-response clock of 60 minutes: 11:00.
    assert conv.next_response_due_at == datetime(2026, 3, 17, 11, 0, tzinfo=AMS)
    assert conv.sla_due_at == conv.next_response_due_at


def test_status_leaving_waiting_resumes(team_conv, staff_a):
    conv = team_conv()
    paused = datetime(2026, 3, 16, 9, 5, tzinfo=AMS)
    hooks.on_status_changed(conv, Status.NEW, Status.WAITING, paused)
    hooks.on_status_changed(conv, Status.WAITING, Status.ASSIGNED, paused + timedelta(hours=1))
    conv.refresh_from_db()
    assert conv.sla_paused_at is None
    # First response: 15 + 5 business minutes before the pause, 10 left after 10:05.
    assert conv.first_response_due_at == datetime(2026, 3, 16, 10, 15, tzinfo=AMS)


def test_reopening_starts_a_next_response_clock_not_a_new_first_response(team_conv, staff_a):
    conv = team_conv()
    hooks.on_agent_reply(conv, MONDAY_0915 - timedelta(minutes=10), staff_a)
    close_at = MONDAY_0915
    hooks.on_status_changed(conv, Status.ASSIGNED, Status.CLOSED, close_at)
    conv.refresh_from_db()
    assert conv.sla_state == SlaState.NONE and conv.sla_due_at is None
    assert not SlaClock.objects.filter(stopped_at__isnull=True).exists()

    reopen_at = datetime(2026, 3, 16, 14, 0, tzinfo=AMS)
    conv.status = Status.ASSIGNED
    hooks.on_status_changed(conv, Status.CLOSED, Status.ASSIGNED, reopen_at)
    hooks.on_customer_message(conv, reopen_at)  # called twice in effect: harmless
    conv.refresh_from_db()
    assert conv.first_response_due_at is None
    assert conv.next_response_due_at == datetime(2026, 3, 16, 15, 0, tzinfo=AMS)
    assert conv.resolution_due_at == datetime(2026, 3, 17, 14, 0, tzinfo=AMS)
    assert SlaClock.objects.filter(stopped_at__isnull=True, kind="next_response").count() == 1


def test_a_followup_conversation_starts_with_a_next_response(team_conv, staff_a):
    first = team_conv()
    hooks.on_agent_reply(first, MONDAY_0915, staff_a)
    first.refresh_from_db()
    later = datetime(2026, 3, 17, 10, 0, tzinfo=AMS)
    followup = team_conv(at=later, previous=first)
    assert followup.first_response_due_at is None
    assert followup.next_response_due_at == datetime(2026, 3, 17, 11, 0, tzinfo=AMS)


def test_a_policy_edit_applies_to_new_clocks_only(team_conv, policy):
    conv = team_conv()
    policy.first_response_minutes = 120
    policy.save()
    hooks.on_customer_message(conv, FRIDAY_1645 + timedelta(minutes=3))
    conv.refresh_from_db()
    assert conv.first_response_due_at == MONDAY_0915
    newer = team_conv()
    assert newer.first_response_due_at == datetime(2026, 3, 16, 10, 45, tzinfo=AMS)


def test_a_reopened_good_friday_counts_as_business_time_and_the_clock_keeps_it(
    team_conv, office_calendar
):
    """Frozen clock: a mention on the Thursday before Easter 2026 at 16:45."""
    from routing.models import ReopenedHoliday

    thursday = datetime(2026, 4, 2, 16, 45, tzinfo=AMS)
    closed = team_conv(at=thursday)
    # Good Friday, the weekend and Easter Monday closed: due Tuesday 09:15.
    assert closed.first_response_due_at == datetime(2026, 4, 7, 9, 15, tzinfo=AMS)

    reopened = ReopenedHoliday.objects.create(calendar=office_calendar, holiday="Good Friday")
    works = team_conv(at=thursday)
    assert works.first_response_due_at == datetime(2026, 4, 3, 9, 15, tzinfo=AMS)
    clock = SlaClock.objects.get(conversation=works, kind="first_response")
    assert clock.calendar_spec["reopened_holidays"] == ["Good Friday"]

    # Undoing the reopen applies to new clocks; a running one keeps its snapshot, also when a
    # pause ends (the due time is computed again from the snapshot).
    reopened.delete()
    assert team_conv(at=thursday).first_response_due_at == datetime(2026, 4, 7, 9, 15, tzinfo=AMS)
    hooks.on_status_changed(works, Status.NEW, Status.WAITING, thursday + timedelta(minutes=5))
    hooks.on_status_changed(works, Status.WAITING, Status.NEW, thursday + timedelta(minutes=5))
    works.refresh_from_db()
    assert works.first_response_due_at == datetime(2026, 4, 3, 9, 15, tzinfo=AMS)
