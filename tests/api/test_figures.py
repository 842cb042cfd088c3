"""GET /api/v1/figures/: the dashboard's numbers, equal to its CSV export, for those who may
see the dashboards, narrowed to the token's teams."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reports.panels import PANELS
from tests.reports.test_views import EN, answered, read_csv, rollup
from webcare.accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(team_a, team_b, staff_a, staff_b):
    answered(team_a, staff_a, minutes=12)
    answered(team_a, staff_a, minutes=30)
    answered(team_b, staff_b, minutes=95)
    rollup()


def csv_table(client, panel: str, **params):
    response = client.get(reverse("reports:panel", args=[panel]), {**params, "format": "csv"}, **EN)
    assert response.status_code == 200
    return read_csv(response)


def as_csv_text(rows):
    return [[str(cell) for cell in row] for row in rows]


@pytest.mark.parametrize("panel", sorted(PANELS))
def test_figures_equal_the_csv_export(client, api_client, token_for, manager, history, panel):
    client.force_login(manager)
    notes, table = csv_table(client, panel, days=7, scope="all")
    body = api_client(token_for(manager)).get("/api/v1/figures/", {"panel": panel, "days": 7}, **EN)
    assert body.status_code == 200, body.content
    data = body.json()
    assert [data["columns"], *as_csv_text(data["rows"])] == table
    assert data["notes"] == notes
    assert data["teams"] is None and data["period"]["days"] == 7


def test_durations_are_whole_seconds_and_counts_numbers(api_client, token_for, manager, history):
    data = (
        api_client(token_for(manager))
        .get("/api/v1/figures/", {"panel": "department", "days": 30}, **EN)
        .json()
    )
    median = data["columns"].index("First response median (calendar) [s]")
    by_team = {row[0]: row for row in data["rows"]}
    assert by_team["Huur & Betalingen"][1] == 1
    # The duration sketch keeps medians within about 1%.
    assert abs(by_team["Huur & Betalingen"][median] - 95 * 60) <= 95 * 60 * 0.02


def test_a_team_and_a_custom_period_match_the_team_csv(
    client, api_client, token_for, manager, team_a, history
):
    client.force_login(manager)
    params = {"team": team_a.pk, "from": "2024-01-01", "to": "2030-12-31"}
    _notes, table = csv_table(client, "response", scope="team", **params)
    data = (
        api_client(token_for(manager))
        .get("/api/v1/figures/", {"panel": "response", **params}, **EN)
        .json()
    )
    assert [data["columns"], *as_csv_text(data["rows"])] == table
    assert data["teams"] == [team_a.pk]
    assert data["period"] == {"first_day": "2024-01-01", "last_day": "2030-12-31", "days": 2557}


def test_without_orphans_is_passed_on(api_client, token_for, manager, history):
    data = (
        api_client(token_for(manager))
        .get("/api/v1/figures/", {"panel": "response", "orphans": "exclude"})
        .json()
    )
    assert data["without_orphans"] is True


def test_a_lead_sees_the_teams_they_lead_only(
    api_client, token_for, lead_a, team_a, team_b, history
):
    client = api_client(token_for(lead_a))
    assert client.get("/api/v1/figures/", {"panel": "volume"}).json()["teams"] == [team_a.pk]
    refused = client.get("/api/v1/figures/", {"panel": "volume", "team": team_b.pk})
    assert refused.status_code == 403


@pytest.mark.parametrize("persona", ["coordinator", "staff_a", "staff_b"])
def test_others_are_refused_as_on_the_dashboards(request, api_client, token_for, persona):
    user = request.getfixturevalue(persona)
    assert (
        api_client(token_for(user)).get("/api/v1/figures/", {"panel": "volume"}).status_code == 403
    )


def test_a_token_limited_to_a_team_counts_that_team(
    api_client, token_for, manager, lead_a, team_a, team_b, history
):
    limited = api_client(token_for(manager, teams=[team_b]))
    assert limited.get("/api/v1/figures/", {"panel": "volume"}).json()["teams"] == [team_b.pk]
    narrowed = api_client(token_for(manager, teams=[team_b]))
    assert (
        narrowed.get("/api/v1/figures/", {"panel": "volume", "team": team_a.pk}).status_code == 403
    )
    # A lead's token limited to a team they do not lead counts nothing: refused, not everything.
    lead_limited = api_client(token_for(lead_a, teams=[team_a]))
    assert lead_limited.get("/api/v1/figures/", {"panel": "volume"}).json()["teams"] == [team_a.pk]
    team_b.memberships.create(user=lead_a)  # a member of B, so the token may be limited to it
    # A fresh object, as a new request would load: the old one keeps its request's memberships.
    lead_a = User.objects.get(pk=lead_a.pk)
    off_limits = api_client(token_for(lead_a, teams=[team_b]))
    assert off_limits.get("/api/v1/figures/", {"panel": "volume"}).status_code == 403


@pytest.mark.parametrize(
    "params",
    [
        {"panel": "nope"},
        {"panel": "volume", "days": 8},
        {"panel": "volume", "from": "2026-01-02"},
        {"panel": "volume", "from": "2026-02-01", "to": "2026-01-01"},
        {"panel": "volume", "from": "1990-01-01", "to": "2026-01-01"},
        {"panel": "volume", "team": "x"},
        {"panel": "volume", "orphans": "maybe"},
    ],
)
def test_bad_input_is_a_400(api_client, token_for, manager, params):
    assert api_client(token_for(manager)).get("/api/v1/figures/", params).status_code == 400
