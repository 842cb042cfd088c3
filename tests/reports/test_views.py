"""Dashboard pages, panels, CSV exports, crisis view and weekly report: who may see what."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from inbox.models import SpikeAlert
from reports.models import WeeklyReportSent
from reports.panels import PANELS
from reports.rollup.run import run_rollups
from reports.weekly import send_weekly_report
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def answered(department, agent, *, minutes=10, at=None):
    at = at or timezone.now() - timedelta(hours=3)
    conv = ConversationFactory(department=department, received_at=at)
    MessageFactory(conversation=conv, created_at=at, direction="in")
    MessageFactory(
        conversation=conv,
        created_at=at + timedelta(minutes=minutes),
        direction="out",
        sent_by=agent,
    )
    return conv


def orphan(department, agent, *, minutes=300, at=None):
    """A conversation whose first message replies to a message the inbox never had."""
    at = at or timezone.now() - timedelta(hours=6)
    conv = ConversationFactory(department=department, received_at=at)
    MessageFactory(
        conversation=conv, created_at=at, direction="in", parent_external_id=f"gone-{conv.pk}"
    )
    MessageFactory(
        conversation=conv,
        created_at=at + timedelta(minutes=minutes),
        direction="out",
        sent_by=agent,
    )
    return conv


def rollup():
    run_rollups(now=timezone.now() + timedelta(minutes=1))


def read_csv(response) -> tuple[list[str], list[list[str]]]:
    """(notes, table): the "# " lines above an export's table, and the table from its header on."""
    content = b"".join(response.streaming_content) if response.streaming else response.content
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"))))
    notes = []
    while rows and rows[0] and rows[0][0].startswith("#"):
        note = rows.pop(0)
        assert len(note) == 1 and note[0].startswith("# "), note
        notes.append(note[0][2:])
    return notes, rows


def test_manager_sees_dashboard_and_every_panel(client, manager, team_a, staff_a):
    answered(team_a, staff_a)
    rollup()
    client.force_login(manager)
    page = client.get(reverse("dashboards"), {"days": 7})
    assert page.status_code == 200
    for name in PANELS:
        assert f'id="panel-{name}"' in page.content.decode()
        response = client.get(reverse("reports:panel", args=[name]), {"days": 7}, **EN)
        assert response.status_code == 200, name
    dept = client.get(reverse("reports:panel", args=["department"]), {"days": 7}, **EN)
    # Each row's label is its row header, every figure a cell, escaped like any {{ value }}.
    assert f'<tr><th scope="row">{escape(team_a.name)}</th><td>' in dept.content.decode()
    assert "<td>10 min</td>" in dept.content.decode()


def test_panels_are_htmx_fragments_that_refresh(client, manager):
    client.force_login(manager)
    html = client.get(reverse("dashboards")).content.decode()
    assert html.count('hx-trigger="load, every 60s"') == len(PANELS)
    assert "<script>" not in html  # no inline JS; charts get their data from json_script blocks


def test_panels_are_cached_until_the_rollups_move(client, manager, team_a, staff_a):
    client.force_login(manager)
    url = reverse("reports:panel", args=["department"])
    assert escape(team_a.name) not in client.get(url, **EN).content.decode()
    answered(team_a, staff_a)
    assert escape(team_a.name) not in client.get(url, **EN).content.decode()  # cached
    rollup()  # the watermark moved: fresh figures at once
    assert escape(team_a.name) in client.get(url, **EN).content.decode()


def test_csv_export_has_the_table(client, manager, team_a, staff_a):
    answered(team_a, staff_a, minutes=20)
    rollup()
    client.force_login(manager)
    response = client.get(
        reverse("reports:panel", args=["agent"]), {"days": 30, "format": "csv"}, **EN
    )
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    _notes, rows = read_csv(response)
    assert rows[0][0] == "By agent"
    assert rows[1][0] == staff_a.get_full_name()
    assert rows[1][1] == "1"
    assert abs(int(rows[1][rows[0].index("First response median (calendar) [s]")]) - 1200) <= 6


def test_lead_sees_only_their_team(client, lead_a, team_a, team_b, staff_a, staff_b):
    answered(team_a, staff_a)
    answered(team_b, staff_b, minutes=50)
    rollup()
    client.force_login(lead_a)
    # "Dashboards" in the navigation takes a lead to the team dashboard.
    assert client.get(reverse("dashboards"))["Location"] == reverse("reports:team")
    assert client.get(reverse("reports:team")).status_code == 200
    panel = client.get(
        reverse("reports:panel", args=["department"]), {"scope": "team"}, **EN
    ).content.decode()
    assert escape(team_a.name) in panel
    assert escape(team_b.name) not in panel
    agents = client.get(
        reverse("reports:panel", args=["agent"]), {"scope": "team"}, **EN
    ).content.decode()
    assert staff_a.get_full_name() in agents and staff_b.get_full_name() not in agents
    # Another team, the all-teams scope and its CSV are refused.
    assert client.get(reverse("reports:team"), {"team": team_b.pk}).status_code == 403
    forbidden = reverse("reports:panel", args=["department"])
    assert client.get(forbidden, {"scope": "team", "team": team_b.pk}).status_code == 403
    assert client.get(forbidden, {"format": "csv"}).status_code == 403


def test_staff_and_coordinator_have_no_dashboards(client, staff_a, coordinator):
    for user in (staff_a, coordinator):
        client.force_login(user)
        assert client.get(reverse("dashboards")).status_code == 403
        assert client.get(reverse("reports:panel", args=["response"])).status_code == 403
        assert client.get(reverse("reports:crisis")).status_code == 403


def test_team_dashboard_reads_few_queries(
    client, lead_a, team_a, staff_a, django_assert_max_num_queries
):
    answered(team_a, staff_a)
    rollup()
    client.force_login(lead_a)
    url = reverse("reports:panel", args=["agent"])
    # Session, user, lead check, scope, rollup watermarks (cache key), team members, windows
    # ready?, bins, counters, agent names; plus the navigation and notification-bell context
    # processors: none grows with the data.
    with django_assert_max_num_queries(12):
        page = client.get(url, {"scope": "team"})
    assert page.status_code == 200
    assert staff_a.get_full_name() in page.content.decode()  # the figures were read, not skipped


def test_crisis_view_counts_the_last_two_hours(client, manager, channel):
    now = timezone.now()
    conv = ConversationFactory(channel=channel, received_at=now)
    for minutes in (1, 1, 2, 150):
        MessageFactory(
            conversation=conv,
            created_at=now - timedelta(minutes=minutes),
            direction="in",
            text="brief over huurverhoging",
        )
    client.force_login(manager)
    assert client.get(reverse("reports:crisis")).status_code == 200
    live = client.get(reverse("reports:crisis_live"), {"channel": channel.pk, "q": "brief"}, **EN)
    assert live.context["total"] == 3
    assert len(live.context["messages_list"]) == 3
    notes, table = read_csv(
        client.get(reverse("reports:crisis_live"), {"channel": channel.pk, "format": "csv"}, **EN)
    )
    assert notes[0].startswith("Messages in per minute over the last two hours")
    assert table[0] == ["Minute", "Messages in"]
    assert sum(int(row[1]) for row in table[1:]) == 3
    none = client.get(reverse("reports:crisis_live"), {"q": "nothing-like-this"}, **EN)
    assert none.context["total"] == 0


def test_spike_alerts_panel(client, manager, channel):
    SpikeAlert.objects.create(
        channel=channel, keyword="brief", window_start=timezone.now(), count=80, baseline=4.0
    )
    client.force_login(manager)
    html = client.get(reverse("reports:panel", args=["spikes"]), **EN).content.decode()
    assert channel.name in html and "brief" in html and "80" in html


@pytest.mark.parametrize(
    ("at", "sent"),
    [
        (datetime(2026, 3, 16, 6, 0, tzinfo=UTC), 0),  # Monday 07:00 in Amsterdam: too early
        (datetime(2026, 3, 16, 7, 0, tzinfo=UTC), 1),  # Monday 08:00
        (datetime(2026, 3, 17, 7, 0, tzinfo=UTC), 0),  # Tuesday
    ],
)
def test_weekly_report_goes_out_monday_morning_once(manager, team_a, staff_a, at, sent):
    with time_machine.travel(at, tick=False):
        answered(team_a, staff_a, at=at - timedelta(days=3))
        rollup()
        assert send_weekly_report() == sent
        assert send_weekly_report() == 0  # the same week again: nothing
    assert len(mail.outbox) == sent
    assert WeeklyReportSent.objects.count() == sent
    if sent:
        assert "Response times" in mail.outbox[0].body or "Reactietijden" in mail.outbox[0].body


def test_weekly_report_page_prints(client, manager):
    client.force_login(manager)
    response = client.get(reverse("reports:weekly"), **EN)
    assert response.status_code == 200
    assert "Weekly webcare report" in response.content.decode()


def test_definitions_page_for_leads(client, lead_a):
    client.force_login(lead_a)
    assert client.get(reverse("reports:definitions")).status_code == 200


def test_top_keywords_overall_and_per_team(client, manager, lead_a, team_a, team_b):
    at = timezone.now() - timedelta(hours=1)
    for team, text in ((team_a, "Lekkage in de badkamer"), (team_b, "Huurverhoging onduidelijk")):
        conv = ConversationFactory(department=team, received_at=at)
        MessageFactory(conversation=conv, created_at=at, direction="in", text=text)
    rollup()
    client.force_login(manager)
    html = client.get(reverse("reports:panel", args=["keywords"]), **EN).content.decode()
    assert "lekkage" in html and "huurverhoging" in html
    client.force_login(lead_a)
    team = client.get(
        reverse("reports:panel", args=["keywords"]), {"scope": "team"}, **EN
    ).content.decode()
    assert "lekkage" in team and "huurverhoging" not in team


def test_dashboard_says_what_the_figures_count(client, manager):
    from reports.definitions import definitions

    client.force_login(manager)
    page = client.get(reverse("dashboards"), **EN).content.decode()
    assert 'href="#figures"' in page and 'id="figures"' in page
    for definition in definitions():
        assert f'<dt id="{definition.slug}">{escape(definition.term)}</dt>' in page
        assert f"<dd>{escape(definition.text)}</dd>" in page
    # The measurement in words: where first response starts and how percentiles are read.
    assert (
        escape(
            "From the customer's first message in a conversation to the first reply that a person sent"
        )
        in page
    )
    assert "Nearest rank" in page and "within 0.5% of the exact value" in page


def test_orphan_filter_changes_the_figures_and_says_by_how_much(client, manager, team_a, staff_a):
    answered(team_a, staff_a, minutes=10)
    orphan(team_a, staff_a, minutes=300)
    rollup()
    client.force_login(manager)
    page = client.get(reverse("dashboards"), {"days": 7}, **EN).content.decode()
    assert '<input type="checkbox" id="period-orphans" name="orphans" value="exclude"' in page
    assert '<label for="period-orphans">Leave out conversations that started with a reply' in page
    assert 'value="exclude" aria-describedby' in page  # not checked
    assert (
        "1 of 2 conversations that started in this period began with a reply to a message not"
        " in the inbox; it is included."
    ) in page
    page = client.get(reverse("dashboards"), {"days": 7, "orphans": "exclude"}, **EN)
    html = page.content.decode()
    assert 'value="exclude" checked aria-describedby' in html
    assert (
        "1 conversation excluded (started with a reply to a message not in the inbox),"
        " of 2 that started in this period."
    ) in html
    dutch = client.get(
        reverse("dashboards"), {"days": 7, "orphans": "exclude"}, HTTP_ACCEPT_LANGUAGE="nl"
    ).content.decode()
    assert (
        "1 gesprek weggelaten (begon met een antwoord op een bericht dat niet in de inbox staat),"
        " van de 2 die in deze periode begonnen."
    ) in dutch
    assert "Gesprekken weglaten die begonnen met een antwoord" in dutch
    # Every panel carries the filter, and so does the CSV link in it.
    assert len(re.findall(r'hx-get="[^"]*[?&;]orphans=exclude', html)) == len(PANELS)
    fragment = client.get(
        reverse("reports:panel", args=["agent"]), {"days": 7, "orphans": "exclude"}, **EN
    ).content.decode()
    assert re.search(r'class="dash-csv" href="[^"]*orphans=exclude[^"]*format=csv"', fragment)

    def figure(name, params, label):
        url = reverse("reports:panel", args=[name])
        panel = client.get(url, {"days": 7, **params}, **EN).context["panel"]
        return next(row for row in panel.rows if str(row[0]) == label)

    # The same minute, so the panel cache must tell the two apart.
    assert figure("response", {}, "Answered conversations")[1] == 2
    assert figure("response", {"orphans": "exclude"}, "Answered conversations")[1] == 1
    assert str(figure("response", {}, "First response, calendar time: p90")[1]) == "5.0 h"
    assert (
        str(figure("response", {"orphans": "exclude"}, "First response, calendar time: p90")[1])
        == "10 min"
    )
    assert figure("department", {}, team_a.name)[1] == 2
    assert figure("department", {"orphans": "exclude"}, team_a.name)[1] == 1
    # Figures of messages count every message either way.
    volume = reverse("reports:panel", args=["volume"])
    rows = [
        client.get(volume, {"days": 7, **params}, **EN).context["panel"].rows
        for params in ({}, {"orphans": "exclude"})
    ]
    assert rows[0] == rows[1] and sum(row[1] for row in rows[0]) == 2


def test_csv_exports_state_the_definitions_and_the_filter(client, manager, team_a, staff_a):
    answered(team_a, staff_a, minutes=10)
    orphan(team_a, staff_a, minutes=300)
    rollup()
    client.force_login(manager)
    url = reverse("reports:panel", args=["department"])
    notes, table = read_csv(client.get(url, {"days": 7, "format": "csv"}, **EN))
    today = timezone.localdate()
    first = (today - timedelta(days=6)).isoformat()
    assert notes[0] == (
        f"By department: {first} to {today.isoformat()}, whole days in the Europe/Amsterdam"
        " time zone."
    )
    assert "First response time: From the customer's first message in a conversation" in "\n".join(
        notes
    )
    percentiles = next(n for n in notes if n.startswith("Median and p90: Nearest rank"))
    assert "within 0.5% of the exact value" in percentiles
    assert "Durations are in whole seconds (the columns marked [s])." in notes
    assert notes[-1] == (
        "1 of 2 conversations that started in this period began with a reply to a message not"
        " in the inbox; it is included."
    )
    assert table[0][:2] == ["By department", "Answered"] and table[1][:2] == [team_a.name, "2"]

    notes, table = read_csv(
        client.get(url, {"days": 7, "format": "csv", "orphans": "exclude"}, **EN)
    )
    assert notes[-1] == (
        "1 conversation excluded (started with a reply to a message not in the inbox), of 2"
        " that started in this period."
    )
    assert table[1][:2] == [team_a.name, "1"]

    # Every export has its notes; those of messages say nothing about the filter.
    for name in PANELS:
        response = client.get(reverse("reports:panel", args=[name]), {"format": "csv"}, **EN)
        notes, _table = read_csv(response)
        assert notes[0].endswith("whole days in the Europe/Amsterdam time zone."), name
        assert any("excluded" in n or "included" in n for n in notes) == (
            name
            in (
                *("response", "department", "channel", "agent", "language", "labels"),
                *("label_trend", "visibility", "channel_kind"),
            )
        ), name
