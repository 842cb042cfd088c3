"""The SLA editor, the tryout, the badge and the notifications page."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from inbox.models import SlaState
from routing.models import BusinessCalendar, SlaPolicy
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["routing:sla", "routing:policy_new", "routing:calendar_new"])
def test_editor_is_for_managers_and_admins(client, staff_a, coordinator, manager, name):
    for user, code in ((staff_a, 403), (coordinator, 403), (manager, 200)):
        client.force_login(user)
        assert client.get(reverse(name)).status_code == code


def test_tryout_answers_friday_1645(client, manager, team_a, office_calendar, policy):
    team_a.calendar = office_calendar
    team_a.save()
    client.force_login(manager)
    response = client.get(
        reverse("routing:sla"),
        {"at": "2026-03-13T16:45", "department": team_a.pk, "priority": 1, "channel_kind": "x"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'datetime="2026-03-16T09:15:00+01:00"' in body  # first response
    assert "Standaard" in body


def test_tryout_without_a_matching_policy(client, manager):
    client.force_login(manager)
    response = client.get(reverse("routing:sla"), {"at": "2026-03-13T16:45", "priority": 1})
    assert b'id="tryout-result"' in response.content
    assert b'datetime="' not in response.content.split(b'id="tryout-result"')[1]


def test_policy_editor_saves_conditions(client, manager, team_a):
    client.force_login(manager)
    response = client.post(
        reverse("routing:policy_new"),
        {
            "name": "Pers",
            "order": 5,
            "is_active": "on",
            "channel_kinds": ["x", "facebook"],
            "priorities": ["2", "3"],
            "flags": ["1", "64"],
            "department": team_a.pk,
            "first_response_minutes": 15,
            "warn_percent": 80,
        },
    )
    assert response.status_code == 302
    p = SlaPolicy.objects.get(name="Pers")
    assert (p.channel_kinds, p.priorities, p.flags_any, p.warn_percent) == (
        ["x", "facebook"],
        [2, 3],
        65,
        80,
    )


def test_policy_editor_needs_a_target(client, manager):
    client.force_login(manager)
    response = client.post(
        reverse("routing:policy_new"), {"name": "Leeg", "order": 1, "warn_percent": 75}
    )
    assert response.status_code == 200
    assert not SlaPolicy.objects.exists()


def test_calendar_editor_with_split_shift_and_closure(client, manager):
    client.force_login(manager)
    data = {
        "name": "Gesplitst",
        "timezone": "Europe/Amsterdam",
        "use_dutch_holidays": "on",
        "windows-TOTAL_FORMS": "2",
        "windows-INITIAL_FORMS": "0",
        "windows-0-weekday": "0",
        "windows-0-start": "08:00",
        "windows-0-end": "12:00",
        "windows-1-weekday": "0",
        "windows-1-start": "13:00",
        "windows-1-end": "17:00",
        "closures-TOTAL_FORMS": "1",
        "closures-INITIAL_FORMS": "0",
        "closures-0-start_date": "2026-12-24",
        "closures-0-end_date": "2026-12-31",
        "closures-0-reason": "Kerstsluiting",
        "holidays-TOTAL_FORMS": "0",
        "holidays-INITIAL_FORMS": "0",
    }
    assert client.post(reverse("routing:calendar_new"), data).status_code == 302
    cal = BusinessCalendar.objects.get(name="Gesplitst")
    assert cal.windows.count() == 2 and cal.closures.get().reason == "Kerstsluiting"
    data["timezone"] = "Mars/Olympus"
    data["name"] = "Fout"
    assert client.post(reverse("routing:calendar_new"), data).status_code == 200


def test_badge_shows_text_and_colour_in_the_inbox(client, coordinator, channel):
    now = timezone.now()
    ConversationFactory(
        channel=channel, sla_state=SlaState.AT_RISK, sla_due_at=now + timedelta(minutes=5)
    )
    ConversationFactory(
        channel=channel, sla_state=SlaState.OVERDUE, sla_due_at=now - timedelta(hours=1)
    )
    client.force_login(coordinator)
    body = client.get(reverse("inbox:inbox")).content.decode()
    assert 'class="badge badge-at_risk"' in body and "At risk: due in" in body
    assert 'class="badge badge-overdue"' in body and "Overdue by" in body


def test_notifications_page_lists_and_marks_read(client, coordinator):
    from inbox.services.notifications import notify_users

    notify_users(users=[coordinator], kind="sla_overdue", text="Overdue: #1", email=False)
    client.force_login(coordinator)
    body = client.get(reverse("inbox:notifications")).content.decode()
    assert "Overdue: #1" in body
    assert 'id="notification-count">1<' in body
    assert client.get(reverse("inbox:notifications_read")).status_code == 405
    assert client.post(reverse("inbox:notifications_read")).status_code == 302
    body = client.get(reverse("inbox:notifications")).content.decode()
    assert 'id="notification-count">0<' in body


def test_notifications_are_private(client, coordinator, staff_a):
    from inbox.services.notifications import notify_users

    notify_users(users=[coordinator], kind="x", text="Alleen voor Cora", email=False)
    client.force_login(staff_a)
    assert b"Alleen voor Cora" not in client.get(reverse("inbox:notifications")).content


def test_badge_shows_in_the_conversation_panel(client, coordinator, channel):
    conversation = ConversationFactory(
        channel=channel, sla_state="at_risk", sla_due_at=timezone.now() + timedelta(minutes=20)
    )
    client.force_login(coordinator)
    body = client.get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert 'data-sla-state="at_risk"' in body


# --- A calendar with no opening time is refused (it would stop every clock it starts) ----------


def calendar_data(**overrides):
    data = {
        "name": "Leeg",
        "timezone": "Europe/Amsterdam",
        "use_dutch_holidays": "on",
        "windows-TOTAL_FORMS": "2",
        "windows-INITIAL_FORMS": "0",
        "closures-TOTAL_FORMS": "0",
        "closures-INITIAL_FORMS": "0",
        "holidays-TOTAL_FORMS": "0",
        "holidays-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_calendar_editor_refuses_a_calendar_without_opening_time(client, manager):
    client.force_login(manager)
    response = client.post(reverse("routing:calendar_new"), calendar_data())
    assert response.status_code == 200
    assert "needs at least one opening window" in response.content.decode()
    assert not BusinessCalendar.objects.exists()
    # Open 24/7 needs no window.
    response = client.post(reverse("routing:calendar_new"), calendar_data(is_24_7="on"))
    assert response.status_code == 302
    assert BusinessCalendar.objects.get(name="Leeg").is_24_7


def test_calendar_editor_refuses_deleting_the_last_window(client, manager, office_calendar):
    client.force_login(manager)
    windows = list(office_calendar.windows.all())
    data = calendar_data(
        name=office_calendar.name,
        **{"windows-TOTAL_FORMS": str(len(windows)), "windows-INITIAL_FORMS": str(len(windows))},
    )
    for i, w in enumerate(windows):
        data.update(
            {
                f"windows-{i}-id": w.pk,
                f"windows-{i}-weekday": w.weekday,
                f"windows-{i}-start": "09:00",
                f"windows-{i}-end": "17:00",
                f"windows-{i}-DELETE": "on",
            }
        )
    response = client.post(reverse("routing:calendar_edit", args=[office_calendar.pk]), data)
    assert response.status_code == 200
    assert office_calendar.windows.count() == 5
    del data["windows-0-DELETE"]
    response = client.post(reverse("routing:calendar_edit", args=[office_calendar.pk]), data)
    assert response.status_code == 302
    assert office_calendar.windows.count() == 1


def policy_data(**overrides):
    data = {"name": "Kapot", "order": 1, "first_response_minutes": 30, "warn_percent": 75}
    data.update(overrides)
    return data


def test_policy_editor_refuses_a_calendar_without_opening_time(client, manager, team_a):
    # Written around the editor (or saved before it refused such calendars).
    empty = BusinessCalendar.objects.create(name="Leeg")
    client.force_login(manager)
    response = client.post(reverse("routing:policy_new"), policy_data(calendar=empty.pk))
    assert response.status_code == 200
    assert "“Leeg” has no opening time" in response.content.decode()
    # Nor on a team whose calendar it is.
    team_a.calendar = empty
    team_a.save()
    response = client.post(reverse("routing:policy_new"), policy_data(department=team_a.pk))
    assert response.status_code == 200
    assert "has no opening time" in response.content.decode()
    assert not SlaPolicy.objects.exists()


def test_admin_refuses_a_calendar_without_windows_and_a_policy_on_one(client, admin_user):
    client.force_login(admin_user)
    inline = {
        "windows-TOTAL_FORMS": "1",
        "windows-INITIAL_FORMS": "0",
        "closures-TOTAL_FORMS": "0",
        "closures-INITIAL_FORMS": "0",
        "reopened_holidays-TOTAL_FORMS": "0",
        "reopened_holidays-INITIAL_FORMS": "0",
    }
    url = reverse("admin:routing_businesscalendar_add")
    base = {"name": "Leeg", "timezone": "Europe/Amsterdam", **inline}
    response = client.post(url, base)
    assert response.status_code == 200
    assert "needs at least one opening window" in response.content.decode()
    assert not BusinessCalendar.objects.exists()
    response = client.post(
        url,
        {**base, "windows-0-weekday": "0", "windows-0-start": "09:00", "windows-0-end": "17:00"},
    )
    assert response.status_code == 302

    empty = BusinessCalendar.objects.create(name="Echt leeg")
    response = client.post(
        reverse("admin:routing_slapolicy_add"),
        {
            **policy_data(calendar=empty.pk),
            "channel_kinds": "[]",
            "priorities": "[]",
            "flags_any": 0,
        },
    )
    assert response.status_code == 200
    assert "has no opening time" in response.content.decode()
    assert not SlaPolicy.objects.exists()


def test_tryout_on_a_calendar_without_opening_time_explains_instead_of_failing(
    client, manager, policy
):
    policy.calendar = BusinessCalendar.objects.create(name="Leeg")
    policy.save()
    client.force_login(manager)
    response = client.get(reverse("routing:sla"), {"at": "2026-03-13T16:45", "priority": 1})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Calendar “Leeg” has no opening time" in body
    assert "no opening hours: no clock in this calendar can become due" in body


def test_sla_page_shows_how_often_a_policy_failed(client, manager, policy):
    SlaPolicy.objects.filter(pk=policy.pk).update(
        failure_count=3,
        last_failure="ValueError: calendar has no open business time",
        last_failure_at=timezone.now(),
    )
    client.force_login(manager)
    for url in (reverse("routing:sla"), reverse("routing:policy_edit", args=[policy.pk])):
        body = client.get(url).content.decode()
        assert "Failed for 3 conversations: stored without an SLA clock." in body
        assert "calendar has no open business time" in body


# --- Holidays a team works on ------------------------------------------------------------------


def office_data(**overrides):
    return calendar_data(
        **{
            "name": "Kantoor",
            "windows-TOTAL_FORMS": "1",
            "windows-0-weekday": "4",
            "windows-0-start": "09:00",
            "windows-0-end": "17:00",
            "holidays-TOTAL_FORMS": "2",
            **overrides,
        }
    )


@time_machine.travel(datetime(2026, 3, 2, 12, 0, tzinfo=UTC), tick=False)
def test_calendar_editor_reopens_holidays_by_name_and_by_date(client, manager):
    client.force_login(manager)
    data = office_data(**{"holidays-0-holiday": "Good Friday", "holidays-1-date": "2025-05-05"})
    assert client.post(reverse("routing:calendar_new"), data).status_code == 302
    cal = BusinessCalendar.objects.get(name="Kantoor")
    assert sorted((r.holiday, r.date) for r in cal.reopened_holidays.all()) == [
        ("", date(2025, 5, 5)),
        ("Good Friday", None),
    ]
    # The editor lists the rule and this year's and next year's holidays, open or closed.
    body = client.get(reverse("routing:calendar_edit", args=[cal.pk])).content.decode()
    assert '<option value="Good Friday" selected>Good Friday</option>' in body
    assert '<label for="id_holidays-0-holiday">Holiday, every year:</label>' in body
    good_friday = body.split('datetime="2026-04-03"')[1].split("</tr>")[0]
    assert "<strong>open</strong>" in good_friday
    easter_monday = body.split('datetime="2026-04-06"')[1].split("</tr>")[0]
    assert "closed" in easter_monday
    # The SLA page says which holidays the calendar works on.
    listed = client.get(reverse("routing:sla")).content.decode().split(">Kantoor</a>")[1]
    assert "works on May 5, 2025, Good Friday" in listed.split("</li>")[0]


@time_machine.travel(datetime(2026, 3, 2, 12, 0, tzinfo=UTC), tick=False)
def test_calendar_editor_speaks_dutch_holiday_names(client, manager, office_calendar):
    from routing.models import ReopenedHoliday

    ReopenedHoliday.objects.create(calendar=office_calendar, holiday="Good Friday")
    client.force_login(manager)
    client.cookies["django_language"] = "nl"
    url = reverse("routing:calendar_edit", args=[office_calendar.pk])
    body = client.get(url, HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert '<option value="Good Friday" selected>Goede vrijdag</option>' in body
    assert "Feestdagen waarop we werken" in body


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ({"holidays-0-date": "2026-04-02"}, "is not a Dutch public holiday"),
        (
            {"holidays-0-holiday": "Good Friday", "holidays-0-date": "2026-04-03"},
            "Choose a holiday or a date, not both.",
        ),
        ({"holidays-0-holiday": "Good Friday", "holidays-1-holiday": "Good Friday"}, "once"),
        ({"holidays-0-holiday": "Sinterklaas"}, "Select a valid choice"),
    ],
)
def test_calendar_editor_refuses_a_holiday_it_cannot_reopen(client, manager, row, error):
    client.force_login(manager)
    response = client.post(reverse("routing:calendar_new"), office_data(**row))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not BusinessCalendar.objects.exists()


def test_admin_reopens_a_holiday(client, admin_user):
    client.force_login(admin_user)
    data = {
        "name": "Kantoor",
        "timezone": "Europe/Amsterdam",
        "use_dutch_holidays": "on",
        "windows-TOTAL_FORMS": "1",
        "windows-INITIAL_FORMS": "0",
        "windows-0-weekday": "4",
        "windows-0-start": "09:00",
        "windows-0-end": "17:00",
        "closures-TOTAL_FORMS": "0",
        "closures-INITIAL_FORMS": "0",
        "reopened_holidays-TOTAL_FORMS": "1",
        "reopened_holidays-INITIAL_FORMS": "0",
        "reopened_holidays-0-holiday": "Liberation Day",
    }
    response = client.post(reverse("admin:routing_businesscalendar_add"), data)
    assert response.status_code == 302
    assert BusinessCalendar.objects.get().reopened_holidays.get().holiday == "Liberation Day"
