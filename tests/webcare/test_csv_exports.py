"""The formula-injection guard of every CSV export (webcare.csvcell): only a cell that a
spreadsheet would run as a formula gets the apostrophe; empty and ordinary cells and
numbers go out exactly as they are."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from inbox.models import ConversationEvent
from reports.rollup.run import run_rollups
from tests.factories import ConversationFactory
from tests.reports.test_views import answered, read_csv
from webcare.csvcell import safe_cell


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("", ""),
        (None, ""),
        ("Mijn verwarming doet het niet", "Mijn verwarming doet het niet"),
        ("Prijs: =5 euro", "Prijs: =5 euro"),  # only the first character counts
        (" =1+1", " =1+1"),
        ("'al tekst", "'al tekst"),
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+31 6 12345678", "'+31 6 12345678"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        (-5, -5),  # a number is never a formula
        (2.5, 2.5),
    ],
)
def test_only_formula_starts_get_the_guard(value, cell):
    assert safe_cell(value) == cell


def rows(response) -> list[list[str]]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_the_team_export_leaves_empty_and_harmless_snippets_alone(client, staff_a, team_a, channel):
    texts = ["", "Lekkage in de hal", "=1+1", "-kapotte lift", "@woonstad help"]
    for text in texts:
        ConversationFactory(channel=channel, department=team_a, status="triaged", snippet=text)
    client.force_login(staff_a)
    response = client.get(reverse("inbox:team_export"), {"team": team_a.slug})
    assert response.status_code == 200
    header, *body = rows(response)
    text_column = header.index("text")
    assert sorted(row[text_column] for row in body) == sorted(
        ["", "Lekkage in de hal", "'=1+1", "'-kapotte lift", "'@woonstad help"]
    )


def test_the_audit_export_leaves_an_empty_actor_alone(client, manager, conversation):
    ConversationEvent.objects.create(conversation=conversation, kind="note", data={})
    client.force_login(manager)
    header, *body = rows(client.get(reverse("inbox:audit_export")))
    assert header[2] == "actor"
    assert [row[2] for row in body if row[3] == "note"] == [""]


def test_the_dashboard_export_keeps_numbers_and_defuses_names(client, manager, team_a, staff_a):
    team_a.name = "=cmd|' /C calc'!A0"
    team_a.save()
    answered(team_a, staff_a, minutes=20)
    run_rollups(now=timezone.now() + timedelta(minutes=1))
    client.force_login(manager)
    url = reverse("reports:panel", args=["department"])
    response = client.get(url, {"days": 7, "format": "csv"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    notes, table = read_csv(response)
    cells = [cell for row in rows(response) for cell in row]
    assert table[1][1] == "1"  # the answered count: a number, untouched
    assert "'=cmd|' /C calc'!A0" in cells, cells
    assert not [c for c in cells if c[:1] in ("=", "+", "@")], cells
    assert "'" not in cells  # no apostrophe alone, where a cell was empty
    # The team's export names the team in its notes: one cell, which starts with "#".
    response = client.get(
        url,
        {"days": 7, "format": "csv", "scope": "team", "team": team_a.pk},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    notes, table = read_csv(response)
    assert "Teams: =cmd|' /C calc'!A0." in notes
    cells = [cell for row in rows(response) for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "@")], cells
