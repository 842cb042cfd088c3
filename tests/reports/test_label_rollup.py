"""The label figures from the rollup (reports.rollup.labels) equal a direct count of the labels
table and the clocks, after every way a label comes or goes, a first response, and a rebuild;
local days in Europe/Amsterdam; a constant number of queries."""

from __future__ import annotations

import io
import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inbox.models import ConversationLabel
from inbox.services import triage
from inbox.services.labels import create_label, set_labels
from reports import sketch
from reports.models import LABEL_KINDS, ConversationClock, CountRollup, DurationBin, LabelTally
from reports.panels import label_trend_panel, labels_panel
from reports.periods import Period, local_zone
from reports.rollup.labels import reconcile
from reports.rollup.run import run_rollups
from reports.selectors import LabelFigures, Scope, label_figures
from routing.models import RoutingRule
from routing.rules.apply import apply_routing
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

# Wednesday 11 March 2026, 15:00 in Amsterdam (14:00 UTC).
NOW = datetime(2026, 3, 11, 14, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def rollup():
    run_rollups(now=timezone.now() + timedelta(minutes=1))


def conversation(at, *, department=None, snippet="", orphan=False):
    conv = ConversationFactory(received_at=at, department=department, snippet=snippet)
    MessageFactory(
        conversation=conv,
        created_at=at,
        direction="in",
        parent_external_id=f"gone-{conv.pk}" if orphan else "",
    )
    return conv


def reply(conv, at, by):
    MessageFactory(conversation=conv, created_at=at, direction="out", sent_by=by)


def direct(period: Period, scope: Scope):
    """The oracle: the labels table and the clocks counted directly (what the panel read before
    the rollup), with exact nearest-rank percentiles."""
    links = ConversationLabel.objects.filter(
        received_at__gte=period.start, received_at__lt=period.end
    )
    if scope.is_team:
        links = links.filter(conversation__department_id__in=scope.departments)
    clocks = {
        c: (first_in, first_out, orphan)
        for c, first_in, first_out, orphan in ConversationClock.objects.values_list(
            "conversation_id", "first_inbound_at", "first_response_at", "orphan_start"
        )
    }
    counts: dict[int, int] = defaultdict(int)
    durations: dict[int, list[float]] = defaultdict(list)
    weeks: dict[date, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for conv_id, label_id, received in links.values_list(
        "conversation_id", "label_id", "received_at"
    ):
        clock = clocks.get(conv_id)
        if scope.without_orphans and clock and clock[2]:
            continue
        counts[label_id] += 1
        day = received.astimezone(local_zone()).date()
        weeks[day - timedelta(days=day.weekday())][label_id] += 1
        if clock and clock[1]:
            durations[label_id].append((clock[1] - clock[0]).total_seconds())
    figures = {}
    for label_id, n in counts.items():
        values = durations[label_id]
        figures[label_id] = LabelFigures(
            n, len(values), sketch.exact_percentile(values, 50), sketch.exact_percentile(values, 90)
        )
    return figures, {week: dict(per) for week, per in weeks.items()}


def near(value, expected) -> bool:
    if value is None or expected is None:
        return value is expected
    return math.isclose(value, expected, rel_tol=sketch.RELATIVE_ERROR, abs_tol=0.5)


SCOPES = ("all", "team", "kept")


def assert_as_direct(team) -> None:
    """For every scope and a standard, a longer and a custom period: counts and weeks equal,
    percentiles within the sketch's error."""
    scopes = {"all": Scope(), "team": Scope((team.pk,)), "kept": Scope(without_orphans=True)}
    periods = [
        Period.ending_today(7),
        Period.ending_today(30),
        Period.between(date(2026, 3, 2), date(2026, 3, 10)),
    ]
    for name in SCOPES:
        for period in periods:
            got, got_weeks = label_figures(period, scope=scopes[name])
            want, want_weeks = direct(period, scopes[name])
            where = (name, period.days)
            assert got_weeks == want_weeks, where
            assert {k: (f.conversations, f.answered) for k, f in got.items()} == {
                k: (f.conversations, f.answered) for k, f in want.items()
            }, where
            for k, f in want.items():
                assert near(got[k].p50, f.p50) and near(got[k].p90, f.p90), (where, k)


@pytest.fixture
def labels(admin_user):
    return (
        create_label(name="Klacht", colour="red", acting_user=admin_user),
        create_label(name="Lof", colour="green", acting_user=admin_user),
    )


def test_the_rollup_equals_the_direct_count_after_every_change(
    frozen, coordinator, admin_user, team_a, team_b, staff_a, labels
):
    klacht, lof = labels
    mon = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    convs = []
    for at, minutes, team in (
        (mon, 10, team_a),
        (mon + timedelta(days=1), 20, None),
        (mon - timedelta(days=3), 60, team_a),  # last week's Friday
        (mon - timedelta(days=20), 5, team_b),  # outside 7 days, inside 30
        (NOW - timedelta(hours=2), None, team_a),  # not answered yet
        (mon + timedelta(hours=1), 3, team_b),
    ):
        conv = conversation(at, department=team)
        if minutes:
            reply(conv, at + timedelta(minutes=minutes), staff_a)
        convs.append(conv)
    rollup()
    assert_as_direct(team_a)

    # One by one (as the inbox and the API do).
    for conv in convs[:4]:
        set_labels(conversation=conv, add=[klacht], remove=[], acting_user=coordinator)
    set_labels(conversation=convs[1], add=[lof], remove=[], acting_user=coordinator)
    rollup()
    assert label_figures(Period.ending_today(7), scope=Scope())[0][klacht.pk].conversations == 3
    assert_as_direct(team_a)

    # Taken off: no longer counted, anywhere.
    set_labels(conversation=convs[1], add=[], remove=[lof], acting_user=coordinator)
    rollup()
    assert lof.pk not in label_figures(Period.ending_today(30), scope=Scope())[0]
    assert_as_direct(team_a)

    # In bulk, on and off.
    for c in (convs[4], convs[5], convs[0]):
        c.refresh_from_db()
    items = {c.pk: c.version for c in (convs[4], convs[5], convs[0])}
    triage.bulk_triage(action="label", items=items, acting_user=coordinator, label=lof)
    rollup()
    assert_as_direct(team_a)
    convs[0].refresh_from_db()
    triage.bulk_triage(
        action="unlabel", items={convs[0].pk: convs[0].version}, acting_user=coordinator, label=lof
    )
    rollup()
    assert_as_direct(team_a)

    # By a routing rule, before the conversation's clock exists; one is an orphan start.
    RoutingRule.objects.create(order=1, name="Klachten", keywords=["klacht"], label=klacht)
    fresh = conversation(NOW - timedelta(minutes=30), snippet="Klacht over de lift")
    stray = conversation(NOW - timedelta(minutes=40), snippet="klacht hier", orphan=True)
    apply_routing(conversation_ids=[fresh.pk, stray.pk])
    assert ConversationLabel.objects.filter(conversation__in=[fresh, stray]).count() == 2
    rollup()
    assert_as_direct(team_a)

    # The first response of a labelled conversation.
    reply(convs[4], NOW - timedelta(minutes=5), staff_a)
    reply(fresh, NOW - timedelta(minutes=1), staff_a)
    rollup()
    figures = label_figures(Period.ending_today(7), scope=Scope())[0]
    assert figures[lof.pk].answered == 2  # convs[4] and convs[5]
    assert_as_direct(team_a)

    # Counting again changes nothing; a rebuild counts the same (a label taken off leaves its
    # rows at 0, a rebuild writes none).
    def label_rows():
        return {
            model: sorted(
                model.objects.filter(dim_kind__in=LABEL_KINDS)
                .exclude(**{field: 0})
                .values_list(*fields)
            )
            for model, field, fields in (
                (CountRollup, "value", ("dim_kind", "start", "metric", "dim", "value")),
                (
                    DurationBin,
                    "count",
                    ("dim_kind", "granularity", "start", "metric", "dim", "bin", "count"),
                ),
            )
        }

    before = label_rows()
    assert reconcile(ConversationLabel.objects.values_list("conversation_id", flat=True)) == 0
    frozen.shift(timedelta(minutes=2))  # the rebuild counts settled messages only
    call_command("rebuild_rollups", stdout=io.StringIO())
    assert label_rows() == before
    assert LabelTally.objects.count() == ConversationLabel.objects.count()
    assert_as_direct(team_a)


def test_days_and_weeks_are_local_to_amsterdam(frozen, coordinator, staff_a, labels):
    """Sunday 29 March 2026, the clocks go to summer time: 21:30 UTC is 23:30 that Sunday,
    22:30 UTC is already Monday 00:30 (of the next week)."""
    klacht, _lof = labels
    frozen.move_to(datetime(2026, 4, 1, 10, 0, tzinfo=UTC))
    sunday = conversation(datetime(2026, 3, 29, 21, 30, tzinfo=UTC))
    monday = conversation(datetime(2026, 3, 29, 22, 30, tzinfo=UTC))
    # Before the switch a day starts at 23:00 UTC: 23:10 UTC on Friday 27 March is Saturday.
    saturday = conversation(datetime(2026, 3, 27, 23, 10, tzinfo=UTC))
    for conv in (sunday, monday, saturday):
        set_labels(conversation=conv, add=[klacht], remove=[], acting_user=coordinator)
    rollup()
    _figures, weeks = label_figures(Period.ending_today(7), scope=Scope())
    assert weeks == {date(2026, 3, 23): {klacht.pk: 2}, date(2026, 3, 30): {klacht.pk: 1}}
    # Only Monday's conversation lies in a period starting that Monday.
    figures, _weeks = label_figures(
        Period.between(date(2026, 3, 30), date(2026, 4, 1)), scope=Scope()
    )
    assert figures[klacht.pk].conversations == 1
    days = set(
        CountRollup.objects.filter(dim_kind="label", metric="conversations").values_list(
            "start", flat=True
        )
    )
    zone = local_zone()
    assert {d.astimezone(zone).date() for d in days} == {
        date(2026, 3, 28),
        date(2026, 3, 29),
        date(2026, 3, 30),
    }
    assert all(d.astimezone(zone).hour == 0 for d in days)


def test_the_panels_read_a_constant_number_of_queries(
    coordinator, admin_user, team_a, staff_a, labels
):
    """The same queries for 2 conversations with 2 labels as for 32 with 7."""

    def queries(scope):
        with CaptureQueriesContext(connection) as ctx:
            labels_panel(Period.ending_today(30), scope)
            label_trend_panel(Period.ending_today(30), scope)
        return len(ctx)

    def add(n, names):
        for i in range(n):
            conv = conversation(NOW - timedelta(days=i % 20, hours=1), department=team_a)
            reply(conv, NOW - timedelta(days=i % 20, minutes=30 - i % 7), staff_a)
            set_labels(
                conversation=conv,
                add=names[: 1 + i % len(names)],
                remove=[],
                acting_user=coordinator,
            )
        rollup()

    add(2, list(labels))
    few = [queries(Scope()), queries(Scope((team_a.pk,)))]
    more = [create_label(name=f"L{i}", colour="blue", acting_user=admin_user) for i in range(5)]
    add(30, [*labels, *more])
    assert [queries(Scope()), queries(Scope((team_a.pk,)))] == few
    figures = label_figures(Period.ending_today(30), scope=Scope())[0]
    assert len(figures) == 7 and figures[labels[0].pk].conversations == 32
