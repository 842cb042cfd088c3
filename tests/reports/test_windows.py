"""The pre-merged windows: running counts (cum) and totals give the same percentiles as merging
every bin, for the standard periods, with today's rows merged in live.

Durations are written through the rollup's own Batch (the path the beat task takes); the expected
figures are computed here from the same durations with reports.sketch.
"""

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db.models import Max
from django.utils import timezone

from reports import sketch
from reports.models import (
    DimKind,
    DurationMetric,
    RollupWatermark,
    WindowBin,
    WindowCount,
    WindowTotal,
)
from reports.periods import Period, day_start
from reports.rollup.batch import Batch
from reports.rollup.metrics import WINDOWS
from reports.rollup.windows import build_windows
from reports.selectors import Stat, counters, duration_stats

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 11, 14, 0, tzinfo=UTC)  # Wednesday, 15:00 in Amsterdam
METRICS = [DurationMetric.FRT_CALENDAR, DurationMetric.RESOLUTION_CALENDAR]


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _history(seed: int = 7) -> list[tuple[str, datetime, str, float]]:
    """(metric, at, agent, seconds): 70 days of answers, a busy today, an agent seen only today
    and one not seen today."""
    rng = random.Random(seed)
    out = []
    for back in range(70):
        for _ in range(rng.randint(3, 12)):
            agent = rng.choice(["1", "2", "3"])
            at = NOW - timedelta(days=back, minutes=rng.randint(0, 600))
            for metric in METRICS:
                out.append((metric, at, agent, rng.lognormvariate(7.5, 1.4)))
    for _ in range(150):  # today: many, and slower than usual (moves the ranks)
        at = NOW - timedelta(minutes=rng.randint(0, 800))
        out.append((METRICS[0], at, rng.choice(["1", "2", "4"]), rng.lognormvariate(9, 1.0)))
    return [row for row in out if row[1] <= NOW]


def _write(history) -> None:
    batch = Batch()
    for metric, at, agent, seconds in history:
        dims = [(DimKind.ALL, ""), (DimKind.AGENT, agent), (DimKind.DEPARTMENT, "9")]
        batch.duration(metric, at, seconds, dims)
    batch.write()


def _expected(history, period: Period, kind: str) -> dict[tuple[str, str], Stat]:
    bins: dict[tuple[str, str], Counter] = {}
    for metric, at, agent, seconds in history:
        if not period.start <= at < period.end:
            continue
        dim = {DimKind.ALL: "", DimKind.AGENT: agent, DimKind.DEPARTMENT: "9"}[kind]
        bins.setdefault((metric, dim), Counter())[sketch.bin_of(seconds)] += 1
    return {
        key: Stat(sum(c.values()), sketch.percentile(c, 50), sketch.percentile(c, 90))
        for key, c in bins.items()
    }


def test_windows_hold_running_counts_and_totals():
    _write(_history())
    assert build_windows(now=timezone.now())
    assert WindowBin.objects.exists()
    groups: dict[tuple, int] = {}
    for row in WindowBin.objects.order_by("days", "part", "dim_kind", "metric", "dim", "bin"):
        key = (row.days, row.part, row.dim_kind, row.metric, row.dim)
        groups[key] = groups.get(key, 0) + row.count
        assert row.cum == groups[key]
    totals = {
        (t.days, t.part, t.dim_kind, t.metric, t.dim): t.total for t in WindowTotal.objects.all()
    }
    assert totals == groups
    # Part 0 holds the complete days only: today is read live.
    today = day_start(timezone.now())
    last = WindowBin.objects.filter(part=0).aggregate(Max("end_day"))["end_day__max"]
    assert last == today.date() - timedelta(days=1)


@pytest.mark.parametrize("days", [7, 30])
def test_window_percentiles_equal_a_merge_of_every_bin(days):
    history = _history()
    _write(history)
    build_windows(now=timezone.now())
    current = Period.ending_today(days)
    cases = [(current, DimKind.ALL), (current, DimKind.AGENT), (current, DimKind.DEPARTMENT)]
    cases += [(current.previous(), DimKind.ALL), (current.previous(), DimKind.DEPARTMENT)]
    for period, kind in cases:
        expected = _expected(history, period, kind)
        assert expected
        fast = duration_stats(period, metrics=METRICS, dim_kind=kind)
        assert fast == expected, (period, kind)
    # Agent "4" answered only today, agent "3" never today: both read right.
    agents = duration_stats(current, metrics=METRICS, dim_kind=DimKind.AGENT)
    assert (
        agents[(METRICS[0], "4")] == _expected(history, current, DimKind.AGENT)[(METRICS[0], "4")]
    )
    assert (METRICS[1], "3") in agents

    # The same figures from the live merge (windows stale), and per team merged into one.
    RollupWatermark.objects.filter(name=WINDOWS).delete()
    for period, kind in cases:
        assert duration_stats(period, metrics=METRICS, dim_kind=kind) == _expected(
            history, period, kind
        )


def test_one_team_merged_reads_the_window_and_two_teams_merge_bins():
    history = _history()
    _write(history)
    build_windows(now=timezone.now())
    period = Period.ending_today(30)
    team = duration_stats(
        period, metrics=METRICS, dim_kind=DimKind.DEPARTMENT, dims=["9"], per_dim=False
    )
    expected = _expected(history, period, DimKind.DEPARTMENT)
    assert team == {(m, ""): stat for (m, _d), stat in expected.items()}
    agents = duration_stats(
        period, metrics=METRICS, dim_kind=DimKind.AGENT, dims=["1", "2"], per_dim=False
    )
    merged = _expected([row for row in history if row[2] in ("1", "2")], period, DimKind.ALL)
    assert agents == merged


def test_answers_written_today_count_without_a_rebuild():
    history = _history()
    _write(history)
    build_windows(now=timezone.now())
    period = Period.ending_today(7)
    late = [(METRICS[0], NOW - timedelta(minutes=5), "1", 50_000.0 + i) for i in range(400)]
    _write(late)  # today only: the windows stay valid
    assert RollupWatermark.objects.filter(name=WINDOWS).exclude(last_id=0).exists()
    got = duration_stats(period, metrics=[METRICS[0]], dim_kind=DimKind.AGENT)
    want = _expected(history + late, period, DimKind.AGENT)
    assert got[(METRICS[0], "1")] == want[(METRICS[0], "1")]


def test_window_counters_equal_the_sum_of_day_rows_and_a_late_count_marks_them_stale():
    rng = random.Random(3)
    batch = Batch()
    expected: Counter = Counter()
    period = Period.ending_today(30)
    for back in range(70):
        for _ in range(rng.randint(0, 5)):
            at = NOW - timedelta(days=back, minutes=rng.randint(0, 600))
            agent = rng.choice(["1", "2"])
            batch.count("responses", at, [(DimKind.ALL, ""), (DimKind.AGENT, agent)])
            if period.start <= at < period.end:
                expected[("responses", "")] += 1
                expected[("responses", agent)] += 1
    batch.write()
    build_windows(now=timezone.now())
    assert WindowCount.objects.filter(days=30, part=0).exists()

    def read():
        both = counters(period, metrics=["responses"], dim_kind=DimKind.ALL)
        both.update(counters(period, metrics=["responses"], dim_kind=DimKind.AGENT))
        return both

    assert read() == expected
    # Today: read live on top of the window.
    late = Batch()
    late.count("responses", NOW - timedelta(minutes=1), [(DimKind.ALL, ""), (DimKind.AGENT, "1")])
    late.write()
    expected[("responses", "")] += 1
    expected[("responses", "1")] += 1
    assert read() == expected
    # A past day: the windows no longer hold it, so they are marked stale (live sums).
    late = Batch()
    late.count("responses", NOW - timedelta(days=2), [(DimKind.ALL, ""), (DimKind.AGENT, "2")])
    late.write()
    expected[("responses", "")] += 1
    expected[("responses", "2")] += 1
    assert not RollupWatermark.objects.filter(name=WINDOWS).exclude(last_id=0).exists()
    assert read() == expected
    build_windows(now=timezone.now())
    assert read() == expected


@pytest.mark.parametrize("today", [1, 2, 3, 5])
def test_a_rank_held_by_today_alone_reads_todays_faster_bins(today):
    """When today's durations hold the rank (R <= today's count) and are faster than every
    window bin, the percentile is one of today's bins below the window's first."""
    history = [(METRICS[0], NOW - timedelta(days=back), "1", 3600.0 * back) for back in (1, 2, 3)]
    history += [(METRICS[0], NOW - timedelta(minutes=m), "1", 60.0 + m) for m in range(today)]
    _write(history)
    build_windows(now=timezone.now())
    period = Period.ending_today(7)
    for kind in (DimKind.ALL, DimKind.AGENT):
        expected = _expected(history, period, kind)
        assert duration_stats(period, metrics=[METRICS[0]], dim_kind=kind) == expected, kind
