"""The "Public and private" and "By channel kind" panels (issue 16 item 6) equal a direct count of
the conversations and messages, after a real ingest on channels of several kinds: the same
histogram bins, so the same percentiles, for the manager and for a team; counting again and
rebuilding change nothing; a constant number of queries; the team lead sees only their teams;
the CSV export equals the API."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from api import tokens
from inbox.channels.base import IncomingMessage
from inbox.models import ChannelKind, Conversation, Message
from inbox.services.ingest import ingest_messages
from reports import sketch
from reports.models import CountRollup, DimKind, DurationBin
from reports.panels import PANELS, export_table, ratio
from reports.periods import Period
from reports.rollup.run import run_rollups
from reports.selectors import Scope
from tests.factories import ChannelFactory, DepartmentFactory, MessageFactory
from tests.reports.test_views import EN, read_csv

pytestmark = pytest.mark.django_db

# Wednesday 11 March 2026, 15:00 in Amsterdam (14:00 UTC).
NOW = datetime(2026, 3, 11, 14, 0, tzinfo=UTC)
VISIBILITY = "visibility"
CHANNEL_KIND = "channel_kind"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def rollup():
    run_rollups(now=timezone.now() + timedelta(minutes=1))


# (channel kind, public?, days ago, minutes to the first response or None, hours to close or None)
HISTORY = [
    ("x", True, 0.2, 7, None),
    ("x", True, 1, 45, 3),
    ("x", False, 2, 3, None),  # an X DM on the X channel itself
    ("x", False, 12, 90, 30),
    ("facebook", True, 0.3, 20, None),
    ("facebook", True, 9, None, None),
    ("whatsapp", False, 0.1, 2, 1),
    ("whatsapp", False, 4, 15, None),
    ("whatsapp", False, 20, 600, None),
    ("messenger", False, 3, 33, 5),
    ("messenger", False, 40, 12, None),
    ("linkedin", True, 6, 240, None),
    ("linkedin", True, 0.2, None, None),
]


@pytest.fixture
def history(team_a, team_b, staff_a):
    """Ingested customer messages on two channels of each kind (WhatsApp: two numbers), answered
    by staff, some closed; teams a, b and none in turn. One public X mention gets a private
    message in its own thread: it stays a public conversation."""
    channels = {
        kind: [ChannelFactory(kind=kind), ChannelFactory(kind=kind)]
        for kind in {k for k, *_r in HISTORY}
    }
    teams = [team_a, team_b, None]
    for i, (kind, public, days, answer, close) in enumerate(HISTORY):
        at = NOW - timedelta(days=days, minutes=i)
        channel = channels[kind][i % 2]
        ingest_messages(
            channel=channel,
            messages=[
                IncomingMessage(
                    external_id=f"m{i}",
                    text="Mijn rekening klopt niet",
                    created_at=at,
                    author_id=f"klant-{i}",
                    author_handle=f"klant{i}",
                    is_public=public,
                )
            ],
        )
        conv = Conversation.objects.get(messages__external_id=f"m{i}", channel=channel)
        Conversation.objects.filter(pk=conv.pk).update(department=teams[i % 3])
        follow = MessageFactory(
            conversation=conv, created_at=at + timedelta(minutes=1), direction="in"
        )
        if i == 1:
            Message.objects.filter(pk=follow.pk).update(is_public=False)
        if answer is not None:
            MessageFactory(
                conversation=conv,
                created_at=at + timedelta(minutes=answer),
                direction="out",
                sent_by=staff_a,
            )
        if close is not None:
            Conversation.objects.filter(pk=conv.pk).update(
                status="closed", closed_at=at + timedelta(hours=close)
            )
            conv.events.create(kind="closed")
    rollup()
    return channels


def _key(panel: str, conv: Conversation) -> str:
    if panel == VISIBILITY:
        return "Public" if conv.is_public else "Private"
    return str(ChannelKind(conv.channel.kind).label)


def _seconds(values: list[float], q: int):
    value = sketch.percentile(sketch.histogram(values), q)
    return "–" if value is None else round(value)


def direct(panel: str, period: Period, scope: Scope) -> dict[str, list]:
    """The oracle: each conversation's messages read directly, percentiles from the same sketch
    bins (exact: bins add up), in the panel's columns from the label on."""
    conversations: dict[str, int] = defaultdict(int)
    inbound: dict[str, int] = defaultdict(int)
    frt: dict[str, list[float]] = defaultdict(list)
    res: dict[str, list[float]] = defaultdict(list)
    responses: dict[str, int] = defaultdict(int)

    def inside(at) -> bool:
        return period.start <= at < period.end

    convs = Conversation.objects.select_related("channel").prefetch_related("messages")
    if scope.is_team:
        convs = convs.filter(department_id__in=scope.departments)
    for conv in convs:
        key = _key(panel, conv)
        messages = sorted(conv.messages.all(), key=lambda m: m.pk)
        first_in = next(m for m in messages if m.direction == "in")
        conversations[key] += inside(first_in.created_at)
        inbound[key] += sum(inside(m.created_at) for m in messages if m.direction == "in")
        replies = [m for m in messages if m.direction == "out" and not m.is_automatic]
        responses[key] += sum(inside(m.created_at) for m in replies)
        if replies and inside(replies[0].created_at):
            frt[key].append((replies[0].created_at - first_in.created_at).total_seconds())
        if conv.closed_at and inside(conv.closed_at):
            res[key].append((conv.closed_at - first_in.created_at).total_seconds())
    out = {}
    for key in set(conversations) | set(inbound) | set(frt) | set(res):
        if not (conversations[key] or inbound[key] or frt[key] or res[key] or responses[key]):
            continue
        answered = len(frt[key])
        out[key] = [
            conversations[key],
            inbound[key],
            answered,
            _seconds(frt[key], 50),
            _seconds(frt[key], 90),
            _seconds(frt[key], 50),
            _seconds(frt[key], 90),
            _seconds(res[key], 50),
            "–",  # no SLA clocks in this history
            ratio(responses[key], answered),
        ]
    return out


def shown(panel: str, period: Period, scope: Scope) -> dict[str, list]:
    _header, rows = export_table(PANELS[panel](period, scope))
    return {str(row[0]): row[1:] for row in rows}


PERIODS = [
    lambda: Period.ending_today(7),  # windows plus today's rows
    lambda: Period.ending_today(30),
    lambda: Period.ending_today(7).previous(),
    lambda: Period.between(date(2026, 2, 1), date(2026, 3, 9)),  # month and day rows
]


def assert_as_direct(panel: str, scope: Scope) -> None:
    for make in PERIODS:
        period = make()
        assert shown(panel, period, scope) == direct(panel, period, scope), (panel, period)


@pytest.mark.parametrize("panel", [VISIBILITY, CHANNEL_KIND])
def test_the_panels_equal_a_direct_count(history, panel):
    got = shown(panel, Period.ending_today(30), Scope())
    expected_keys = {"Public", "Private"} if panel == VISIBILITY else set()
    if panel == CHANNEL_KIND:
        expected_keys = {"X", "Facebook", "WhatsApp", "Messenger", "LinkedIn"}
    assert set(got) == expected_keys
    assert_as_direct(panel, Scope())


def test_a_team_sees_its_own_split(history, team_a, team_b):
    for scope in (Scope((team_a.pk,)), Scope((team_a.pk, team_b.pk))):
        assert_as_direct(VISIBILITY, scope)
    alone = shown(VISIBILITY, Period.ending_today(30), Scope((team_a.pk,)))
    everyone = shown(VISIBILITY, Period.ending_today(30), Scope())
    assert alone["Private"][0] < everyone["Private"][0]
    panel = PANELS[CHANNEL_KIND](Period.ending_today(30), Scope((team_a.pk,)))
    assert panel.rows == [] and "manager dashboard only" in panel.note


def test_counting_again_and_rebuilding_change_nothing(history, team_a, frozen):
    def stored():
        kinds = [DimKind.VISIBILITY, DimKind.VISIBILITY_TEAM, DimKind.CHANNEL]
        return (
            sorted(
                CountRollup.objects.filter(dim_kind__in=kinds).values_list(
                    "granularity", "start", "metric", "dim_kind", "dim", "value"
                )
            ),
            sorted(
                DurationBin.objects.filter(dim_kind__in=kinds).values_list(
                    "granularity", "start", "metric", "dim_kind", "dim", "bin", "count"
                )
            ),
        )

    def figures():
        return [
            shown(panel, make(), scope)
            for panel in (VISIBILITY, CHANNEL_KIND)
            for make in PERIODS
            for scope in (Scope(), Scope((team_a.pk,)))
        ]

    before, shown_before = stored(), figures()
    assert before[0] and before[1]
    rollup()
    rollup()
    assert stored() == before and figures() == shown_before
    frozen.shift(timedelta(minutes=1))  # the rebuild counts what has settled (rollup.messages)
    call_command("rebuild_rollups", batch_size=3, stdout=io.StringIO())
    assert stored() == before and figures() == shown_before


def test_a_constant_number_of_queries(history, team_a, team_b):
    def queries(panel: str, scope: Scope) -> int:
        with CaptureQueriesContext(connection) as ctx:
            PANELS[panel](Period.ending_today(30), scope)
        return len(ctx.captured_queries)

    few = {
        panel: queries(panel, scope)
        for panel in (VISIBILITY, CHANNEL_KIND)
        for scope in (Scope(), Scope((team_a.pk, team_b.pk)))
    }
    # More channels of more kinds and more teams, with figures.
    more = [DepartmentFactory() for _ in range(4)]
    for i, kind in enumerate(["youtube", "instagram_direct", "email", "bluesky"]):
        ingest_messages(
            channel=ChannelFactory(kind=kind),
            messages=[
                IncomingMessage(
                    external_id=f"more{i}",
                    text="Hallo",
                    created_at=NOW - timedelta(hours=i + 1),
                    author_id=f"k{i}",
                    is_public=bool(i % 2),
                )
            ],
        )
    rollup()
    assert len(shown(CHANNEL_KIND, Period.ending_today(30), Scope())) == 9
    teams = Scope((team_a.pk, team_b.pk, *(d.pk for d in more)))
    again = {
        panel: queries(panel, scope)
        for panel in (VISIBILITY, CHANNEL_KIND)
        for scope in (Scope(), teams)
    }
    assert list(again.values()) == list(few.values())


def test_the_team_lead_sees_only_their_teams(client, history, lead_a, team_a, team_b):
    client.force_login(lead_a)
    page = client.get(reverse("reports:team"), **EN).content.decode()
    assert f"panel/{VISIBILITY}/" in page and f"panel/{CHANNEL_KIND}/" not in page
    url = reverse("reports:panel", args=[VISIBILITY])
    response = client.get(url, {"days": 30, "scope": "team", "format": "csv"}, **EN)
    _notes, table = read_csv(response)
    expected = direct(VISIBILITY, Period.ending_today(30), Scope((team_a.pk,)))
    assert {row[0]: row[1:4] for row in table[1:]} == {
        k: [str(v) for v in row[:3]] for k, row in expected.items()
    }
    assert client.get(url, {"scope": "team", "team": team_b.pk}).status_code == 403
    assert client.get(url, {"scope": "all"}).status_code == 403
    dutch = client.get(url, {"days": 30, "scope": "team"}, HTTP_ACCEPT_LANGUAGE="nl")
    html = dutch.content.decode()
    assert "Openbaar en privé" in html and "Privé" in html


@pytest.mark.parametrize("panel", [VISIBILITY, CHANNEL_KIND])
def test_the_csv_export_equals_the_api(client, history, manager, lead_a, team_a, panel):
    for user, scope in ((manager, "all"), (lead_a, "team")):
        client.force_login(user)
        response = client.get(
            reverse("reports:panel", args=[panel]),
            {"days": 30, "scope": scope, "format": "csv"},
            **EN,
        )
        notes, table = read_csv(response)
        _token, raw = tokens.create_personal_token(user=user, name="t", scope="read", teams=())
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        data = api.get("/api/v1/figures/", {"panel": panel, "days": 30}, **EN).json()
        assert [data["columns"], *[[str(c) for c in row] for row in data["rows"]]] == table
        assert data["notes"] == notes
        if user == manager:
            assert len(table) > 2
