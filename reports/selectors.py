"""Reads for the dashboards: rollups only, never the messages table (except the crisis view).

A period is a run of whole local days. Durations are read from month rows for
the whole months inside it and day rows for the rest, so a year is about 12 +
60 periods per dimension; percentiles are computed in SQL (a running sum over
the merged bins) so only one row per figure comes back.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import F, Max, Sum, Window
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, TruncDate
from django.utils import timezone

from reports import sketch
from reports.models import (
    LABEL_KINDS,
    BacklogSnapshot,
    CountRollup,
    DimKind,
    DurationMetric,
    Granularity,
    KeywordCount,
    RollupWatermark,
)
from reports.periods import PERIOD_CHOICES, Period, day_start, local_zone, midnight
from reports.rollup.metrics import ORPHAN_CONVERSATIONS, WINDOWS, metric_without_orphans
from webcare.db import on_postgres


@dataclass(frozen=True)
class Scope:
    """What a dashboard counts: every team (departments None) or only these department ids (what
    the viewer may see), and whether the conversations that started with a reply to a message
    the inbox did not have are left out of the conversation figures (the viewer's choice)."""

    departments: tuple[int, ...] | None = None
    without_orphans: bool = False

    @property
    def is_team(self) -> bool:
        return self.departments is not None

    def department_dims(self) -> list[str] | None:
        return None if self.departments is None else [str(d) for d in self.departments]


def scope_for(user, team_id: int | None = None) -> Scope:
    """Managers see everything (or one team they pick); a team lead only the teams they lead."""
    if user.is_manager:
        return Scope((team_id,)) if team_id else Scope()
    led = tuple(
        user.memberships.filter(is_lead=True)
        .order_by("department_id")
        .values_list("department_id", flat=True)
    )
    if not led:
        raise PermissionDenied
    if team_id:
        if team_id not in led:
            raise PermissionDenied
        return Scope((team_id,))
    return Scope(led)


@dataclass(frozen=True)
class Stat:
    count: int
    p50: float | None
    p90: float | None


def _ranges_sql(period: Period) -> tuple[str, list]:
    adapt = connection.ops.adapt_datetimefield_value
    parts, params = [], []
    for gran, lo, hi in period.pieces():
        parts.append("(granularity = %s AND start >= %s AND start < %s)")
        params += [gran, adapt(lo), adapt(hi)]
    return "(" + " OR ".join(parts) + ")", params


def _in(column: str, values: list[str]) -> tuple[str, list]:
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def _window_part(period: Period) -> int | None:
    """0: a standard period ending today; 1: the one before it; None: any other range."""
    if period.days not in PERIOD_CHOICES:
        return None
    today = timezone.localdate(timezone=local_zone())
    if period.end == midnight(today + timedelta(days=1)):
        return 0
    if period.end == midnight(today + timedelta(days=1 - period.days)):
        return 1
    return None


_ready_memo: ContextVar[dict | None] = ContextVar("reports_windows_ready", default=None)


@contextmanager
def shared_reads():
    """Within the block the windows' readiness is asked once: a panel's reads share the answer."""
    token = _ready_memo.set({})
    try:
        yield
    finally:
        _ready_memo.reset(token)


def _windows_ready() -> bool:
    yesterday = timezone.localdate(timezone=local_zone()) - timedelta(days=1)
    memo = _ready_memo.get()
    if memo is not None and yesterday in memo:
        return memo[yesterday]
    ready = RollupWatermark.objects.filter(name=WINDOWS, last_id=yesterday.toordinal()).exists()
    if memo is not None:
        memo[yesterday] = ready
    return ready


def duration_stats(
    period: Period,
    *,
    metrics: list[str],
    dim_kind: str,
    dims: list[str] | None = None,
    per_dim: bool = True,
    without_orphans: bool = False,
    groups: dict[str, str] | None = None,
) -> dict[tuple[str, str], Stat]:
    """(metric, dim) -> count, median and p90 (dim "" when per_dim is False: dims merged).

    A standard period (the last 7/30/90/365 days, or the one before it) reads the pre-merged
    window rows plus today's day rows; any other range merges month and day rows.
    without_orphans: the figures without the orphan-start conversations (stored apart, so the
    read costs the same). groups: dim -> the key its bins are merged under (per_dim; the label
    figures merge a team scope's teams per label).
    """
    if dims is not None and not dims:
        return {}
    if without_orphans:
        stored = {metric_without_orphans(m): m for m in metrics}
        stats = duration_stats(
            period,
            metrics=list(stored),
            dim_kind=dim_kind,
            dims=dims,
            per_dim=per_dim,
            groups=groups,
        )
        return {(stored[m], d): stat for (m, d), stat in stats.items()}
    metric_sql, metric_params = _in("metric", metrics)
    filters = [metric_sql, "dim_kind = %s"]
    filter_params = [*metric_params, dim_kind]
    if dims is not None:
        dim_sql, dim_params = _in("dim", dims)
        filters.append(dim_sql)
        filter_params += dim_params
    filter_sql = " AND ".join(filters)

    part = _window_part(period)
    if part == 1 and dim_kind not in (DimKind.ALL, DimKind.DEPARTMENT) or dim_kind in LABEL_KINDS:
        part = None  # labels: never pre-merged (reports.rollup.windows)
    merges_dims = not per_dim and (dims is None or len(dims) > 1) and dim_kind != DimKind.ALL
    merges_dims = merges_dims or groups is not None  # groups merge the windows' counts (below)
    if part is not None and not merges_dims and on_postgres() and _windows_ready():
        stats = _window_stats(period, part=part, metrics=metrics, dim_kind=dim_kind, dims=dims)
        return stats if per_dim else {(m, ""): stat for (m, _d), stat in stats.items()}
    if part is not None and _windows_ready():
        source = (
            "SELECT metric, dim, bin, count FROM reports_windowbin"
            f" WHERE days = %s AND part = %s AND {filter_sql}"
        )
        params = [period.days, part, *filter_params]
        if part == 0:
            adapt = connection.ops.adapt_datetimefield_value
            source += (
                " UNION ALL SELECT metric, dim, bin, count FROM reports_durationbin"
                f" WHERE granularity = %s AND start >= %s AND start < %s AND {filter_sql}"
            )
            today = period.end - timedelta(days=1)
            params += [Granularity.DAY, adapt(day_start(today)), adapt(period.end), *filter_params]
    else:
        where, params = _ranges_sql(period)
        source = f"SELECT metric, dim, bin, count FROM reports_durationbin WHERE {where} AND {filter_sql}"
        params += filter_params
    if groups:
        cases = " ".join("WHEN %s THEN %s" for _ in groups)
        source = f"SELECT metric, CASE dim {cases} END AS dim, bin, count FROM ({source}) g"
        params = [v for pair in groups.items() for v in pair] + params
    dim_col = "dim" if per_dim else "''"
    group_dim = "dim, " if per_dim else ""
    sql = f"""
        WITH b AS (
            SELECT metric, {dim_col} AS d, bin, SUM(count) AS n
            FROM ({source}) s
            GROUP BY metric, {group_dim}bin
        ), c AS (
            SELECT metric, d, bin,
                   SUM(n) OVER (PARTITION BY metric, d ORDER BY bin) AS cum,
                   SUM(n) OVER (PARTITION BY metric, d) AS total
            FROM b
        )
        SELECT metric, d, MAX(total),
               MIN(CASE WHEN cum * 100 >= 50 * total THEN bin END),
               MIN(CASE WHEN cum * 100 >= 90 * total THEN bin END)
        FROM c GROUP BY metric, d
    """
    with connection.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    return {
        (metric, d): Stat(int(total), sketch.value_of(p50), sketch.value_of(p90))
        for metric, d, total, p50, p90 in rows
    }


# Percentiles of a standard period from the running counts (cum) of the pre-merged windows,
# plus today's day rows. The answer for rank R of a group is the smallest bin b where
# cumW(b) + cumT(b) >= R (W: window, T: today). Since 0 <= cumT <= T, b lies between lo, the
# first window bin with cumW >= R - T, and hi, the first with cumW >= R: two index probes, then a
# running sum over the few window rows between them and today's rows in that range (plus
# today's count below lo). With no today rows lo = hi: one row per figure. When today alone
# holds the rank (R <= T) there is no lo: b may be any bin up to hi, today's lowest included.
_WINDOW_STATS_SQL = """
WITH t AS MATERIALIZED (
    SELECT metric, dim, bin, count AS n FROM reports_durationbin
    WHERE granularity = %(day)s AND start >= %(today)s AND start < %(end)s
      AND dim_kind = %(kind)s AND metric = ANY(%(metrics)s) {dim_filter}
), g AS (
    SELECT metric, dim, SUM(w)::bigint AS w, SUM(tn)::bigint AS tn FROM (
        SELECT metric, dim, total AS w, 0 AS tn FROM reports_windowtotal
        WHERE days = %(days)s AND part = %(part)s
          AND dim_kind = %(kind)s AND metric = ANY(%(metrics)s) {dim_filter}
        UNION ALL
        SELECT metric, dim, 0, SUM(n) FROM t GROUP BY metric, dim
    ) x GROUP BY metric, dim
), r AS (
    SELECT g.metric, g.dim, g.w + g.tn AS total, g.tn, q.q,
           (q.q * (g.w + g.tn) + 99) / 100 AS rank
    FROM g CROSS JOIN (VALUES (50), (90)) AS q (q)
), b AS (
    SELECT r.*, lo.cum AS lo_cum, lo.bin AS lo_bin, hi.cum AS hi_cum, hi.bin AS hi_bin
    FROM r
    LEFT JOIN LATERAL (
        SELECT cum, bin FROM reports_windowbin w
        WHERE w.days = %(days)s AND w.part = %(part)s AND w.dim_kind = %(kind)s
          AND w.metric = r.metric AND w.dim = r.dim AND w.cum >= r.rank - r.tn AND r.rank > r.tn
        ORDER BY w.cum LIMIT 1
    ) lo ON true
    LEFT JOIN LATERAL (
        SELECT cum, bin FROM reports_windowbin w
        WHERE w.days = %(days)s AND w.part = %(part)s AND w.dim_kind = %(kind)s
          AND w.metric = r.metric AND w.dim = r.dim AND w.cum >= r.rank
        ORDER BY w.cum LIMIT 1
    ) hi ON true
), base AS (
    SELECT b.metric, b.dim, b.q, SUM(t.n) AS n
    FROM b JOIN t ON t.metric = b.metric AND t.dim = b.dim AND t.bin < b.lo_bin
    GROUP BY b.metric, b.dim, b.q
), s AS (
    SELECT b.metric, b.dim, b.q, w.bin, w.cum AS wcum, 0 AS n
    FROM b JOIN LATERAL (
        SELECT bin, cum FROM reports_windowbin w
        WHERE w.days = %(days)s AND w.part = %(part)s AND w.dim_kind = %(kind)s
          AND w.metric = b.metric AND w.dim = b.dim
          AND w.cum BETWEEN COALESCE(b.lo_cum, 0) AND COALESCE(b.hi_cum, 9223372036854775807)
    ) w ON true
    UNION ALL
    SELECT b.metric, b.dim, b.q, t.bin, 0, t.n
    FROM b JOIN t ON t.metric = b.metric AND t.dim = b.dim
        AND t.bin >= COALESCE(b.lo_bin, -2147483648) AND t.bin <= COALESCE(b.hi_bin, 2147483647)
), f AS (
    SELECT metric, dim, q, bin, MAX(wcum) OVER o + SUM(n) OVER o AS cum
    FROM s WINDOW o AS (PARTITION BY metric, dim, q ORDER BY bin)
)
SELECT b.metric, b.dim, b.total, b.q,
       MIN(f.bin) FILTER (WHERE f.cum + COALESCE(base.n, 0) >= b.rank)
FROM b LEFT JOIN base USING (metric, dim, q) LEFT JOIN f USING (metric, dim, q)
GROUP BY b.metric, b.dim, b.total, b.q
"""


def _window_stats(
    period: Period, *, part: int, metrics: list[str], dim_kind: str, dims: list[str] | None
) -> dict[tuple[str, str], Stat]:
    """duration_stats of a standard period from the windows' running counts (PostgreSQL)."""
    adapt = connection.ops.adapt_datetimefield_value
    today = period.end - timedelta(days=1)
    params = {
        "day": Granularity.DAY,
        # part 1 ends before today: an empty range leaves the today rows out.
        "today": adapt(day_start(today) if part == 0 else period.end),
        "end": adapt(period.end),
        "kind": dim_kind,
        "metrics": list(metrics),
        "days": period.days,
        "part": part,
        "dims": list(dims or []),
    }
    dim_filter = "AND dim = ANY(%(dims)s)" if dims is not None else ""
    with connection.cursor() as cur:
        cur.execute(_WINDOW_STATS_SQL.format(dim_filter=dim_filter), params)
        rows = cur.fetchall()
    found: dict[tuple[str, str], dict] = {}
    for metric, dim, total, q, bin_index in rows:
        found.setdefault((metric, dim), {"total": int(total)})[q] = bin_index
    return {
        key: Stat(v["total"], sketch.value_of(v[50]), sketch.value_of(v[90]))
        for key, v in found.items()
        if v["total"]
    }


def counters(
    period: Period,
    *,
    metrics: list[str],
    dim_kind: str,
    dims: list[str] | None = None,
    per_dim: bool = True,
    without_orphans: bool = False,
) -> dict[tuple[str, str], int]:
    """(metric, dim) -> sum of the daily counters over the period.

    A standard period reads the pre-merged window sums (one row per dimension) plus today's
    day rows, like duration_stats; any other range sums the day rows. without_orphans: as for
    duration_stats (counters of messages, such as "inbound", are the same either way).
    """
    if dims is not None and not dims:
        return {}
    if without_orphans:
        stored = {metric_without_orphans(m): m for m in metrics}
        got = counters(period, metrics=list(stored), dim_kind=dim_kind, dims=dims, per_dim=per_dim)
        return {(stored[m], d): value for (m, d), value in got.items()}
    adapt = connection.ops.adapt_datetimefield_value
    metric_sql, metric_params = _in("metric", metrics)
    filters = [metric_sql, "dim_kind = %s"]
    filter_params = [*metric_params, dim_kind]
    if dims is not None:
        dim_sql, dim_params = _in("dim", dims)
        filters.append(dim_sql)
        filter_params += dim_params
    filter_sql = " AND ".join(filters)
    part = _window_part(period)
    if part == 1 and dim_kind not in (DimKind.ALL, DimKind.DEPARTMENT) or dim_kind in LABEL_KINDS:
        part = None
    start = period.start
    source = ""
    params: list = []
    if part is not None and _windows_ready():
        source = (
            f"SELECT metric, dim, value FROM reports_windowcount"
            f" WHERE days = %s AND part = %s AND {filter_sql} UNION ALL "
        )
        params = [period.days, part, *filter_params]
        # Today's day rows (part 1 ends before today: none).
        start = day_start(period.end - timedelta(days=1)) if part == 0 else period.end
    source += (
        "SELECT metric, dim, value FROM reports_countrollup"
        f" WHERE granularity = %s AND start >= %s AND start < %s AND {filter_sql}"
    )
    params += [Granularity.DAY, adapt(start), adapt(period.end), *filter_params]
    dim_col = "dim" if per_dim else "''"
    group = "metric, dim" if per_dim else "metric"
    sql = f"SELECT metric, {dim_col}, SUM(value) FROM ({source}) s GROUP BY {group}"
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return {(m, d): int(v) for m, d, v in cur.fetchall()}


def daily_series(period: Period, *, metrics: list[str], scope: Scope) -> dict[str, list[int]]:
    """metric -> one value per day of the period (team scope: summed over its departments)."""
    adapt = connection.ops.adapt_datetimefield_value
    kind, dims = _scope_dims(scope)
    metric_sql, metric_params = _in("metric", metrics)
    where = ["granularity = %s", "start >= %s", "start < %s", metric_sql, "dim_kind = %s"]
    params = [Granularity.DAY, adapt(period.start), adapt(period.end), *metric_params, kind]
    if dims is not None:
        dim_sql, dim_params = _in("dim", dims)
        where.append(dim_sql)
        params += dim_params
    sql = (
        "SELECT metric, start, SUM(value) FROM reports_countrollup"
        f" WHERE {' AND '.join(where)} GROUP BY metric, start"
    )
    days = {d: i for i, d in enumerate(period.day_list())}
    zone = local_zone()
    # Aware datetimes hash by their instant: a row's start finds its local midnight directly.
    midnights = {midnight(d, zone): i for d, i in days.items()}
    out = {m: [0] * period.days for m in metrics}
    with connection.cursor() as cur:
        cur.execute(sql, params)
        for metric, start, value in cur.fetchall():
            index = midnights.get(start) if isinstance(start, datetime) else None
            if index is None:
                index = days.get(_as_local_date(start))
            if index is not None:
                out[metric][index] += int(value)
    return out


def _as_local_date(value) -> date:
    if isinstance(value, str):  # SQLite hands back text from a raw cursor
        value = datetime.fromisoformat(value)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value.astimezone(local_zone()).date()


def _scope_dims(scope: Scope) -> tuple[str, list[str] | None]:
    if scope.is_team:
        return DimKind.DEPARTMENT, scope.department_dims()
    return DimKind.ALL, None


@dataclass(frozen=True)
class OrphanStarts:
    """Conversations whose clock started in the period, and how many of them were orphan starts
    (their first message replied to a message the inbox did not have)."""

    started: int
    orphans: int


def orphan_starts(period: Period, *, scope: Scope) -> OrphanStarts:
    """What the orphan filter leaves out of the period, in the scope's teams (two counters)."""
    kind, dims = _scope_dims(scope)
    got = counters(
        period,
        metrics=["conversations", ORPHAN_CONVERSATIONS],
        dim_kind=kind,
        dims=dims,
        per_dim=False,
    )
    return OrphanStarts(
        started=got.get(("conversations", ""), 0), orphans=got.get((ORPHAN_CONVERSATIONS, ""), 0)
    )


def heatmap(period: Period, *, scope: Scope) -> list[list[int]]:
    """Inbound messages per local weekday (rows, Monday first) and hour of day (columns).

    Bucketed in the database on both (PostgreSQL AT TIME ZONE, SQLite through Django's zone
    functions): 7 x 24 rows come back, not one per hour of the period.
    """
    kind, dims = _scope_dims(scope)
    zone = local_zone()
    hours = CountRollup.objects.filter(
        granularity=Granularity.HOUR,
        start__gte=period.start,
        start__lt=period.end,
        metric="inbound",
        dim_kind=kind,
    )
    if dims is not None:
        hours = hours.filter(dim__in=dims)
    cells = (
        hours.annotate(
            weekday=ExtractIsoWeekDay("start", tzinfo=zone), hour=ExtractHour("start", tzinfo=zone)
        )
        .values("weekday", "hour")
        .annotate(n=Sum("value"))
        .order_by()
    )
    grid = [[0] * 24 for _ in range(7)]
    for weekday, hour, n in cells.values_list("weekday", "hour", "n"):
        grid[weekday - 1][hour] += int(n)
    return grid


def backlog(period: Period, *, scope: Scope) -> tuple[dict[str, int], list[tuple[date, int, int]]]:
    """The latest snapshot (open, overdue) and the last snapshot of each day of the period."""
    team_dims = scope.department_dims()  # None: not a team scope
    dims = team_dims if team_dims is not None else [""]
    zone = local_zone()
    day = TruncDate("hour", tzinfo=zone)
    # The last snapshot of each local day and dim: one row per day and dim comes back.
    last_of_day = (
        BacklogSnapshot.objects.filter(hour__gte=period.start, hour__lt=period.end, dim__in=dims)
        .annotate(day=day, last=Window(Max("hour"), partition_by=[F("dim"), day]))
        .filter(hour=F("last"))
        .values_list("day", "open", "overdue")
    )
    per_day: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for local_day, open_, overdue in last_of_day:
        per_day[local_day][0] += open_
        per_day[local_day][1] += overdue
    series = [(d, per_day[d][0], per_day[d][1]) for d in sorted(per_day)]
    latest_hour = (
        BacklogSnapshot.objects.filter(dim__in=dims)
        .order_by("-hour")
        .values_list("hour", flat=True)
    ).first()
    now = {"open": 0, "overdue": 0}
    if latest_hour:
        for open_, overdue in BacklogSnapshot.objects.filter(
            hour=latest_hour, dim__in=dims
        ).values_list("open", "overdue"):
            now["open"] += open_
            now["overdue"] += overdue
    return now, series


def top_keywords(period: Period, *, scope: Scope, limit: int = 20) -> list[tuple[str, int]]:
    qs = KeywordCount.objects.filter(day__gte=period.start.date(), day__lt=period.end.date())
    team_dims = scope.department_dims()  # None: not a team scope
    qs = qs.filter(dim__in=team_dims) if team_dims is not None else qs.filter(dim="")
    return list(
        qs.values("word")
        .annotate(total=Sum("count"))
        .order_by("-total", "word")
        .values_list("word", "total")[:limit]
    )


@dataclass(frozen=True)
class LabelFigures:
    conversations: int
    answered: int
    p50: float | None  # first response, calendar seconds (sketch bins, as every percentile)
    p90: float | None


def label_figures(
    period: Period, *, scope: Scope, durations: bool = True
) -> tuple[dict[int, LabelFigures], dict[date, dict[int, int]]]:
    """Per label: the conversations that arrived in the period and have it now, how many got a
    first response, its median and p90; and per local week (its Monday) the conversations per
    label. From the label rows reports.rollup.labels keeps as labels come and go: the day rows
    of "conversations" and the period's bins merged per label (a team scope: per label and
    team, its teams merged). At most three queries, whatever the number of conversations."""
    from inbox.models import Label

    groups: dict[str, str] | None = None
    if scope.is_team:
        teams = scope.department_dims() or []
        groups = {
            f"{pk}:{team}": str(pk)
            for pk in Label.objects.order_by("id").values_list("id", flat=True)
            for team in teams
        }
        kind, dims = DimKind.LABEL_TEAM, list(groups)
    else:
        kind, dims = DimKind.LABEL, None
    if dims is not None and not dims:
        return {}, {}
    metric = "conversations"
    stored = metric_without_orphans(metric) if scope.without_orphans else metric
    adapt = connection.ops.adapt_datetimefield_value
    where = ["granularity = %s", "start >= %s", "start < %s", "metric = %s", "dim_kind = %s"]
    params: list = [Granularity.DAY, adapt(period.start), adapt(period.end), stored, kind]
    if dims is not None:
        dim_sql, dim_params = _in("dim", dims)
        where.append(dim_sql)
        params += dim_params
    counts: dict[int, int] = defaultdict(int)
    weeks: dict[date, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT start, dim, value FROM reports_countrollup WHERE {' AND '.join(where)}",
            params,
        )
        for start, dim, value in cur.fetchall():
            if not value:
                continue  # every conversation counted there lost the label
            label_id = int(groups[dim] if groups is not None else dim)
            day = _as_local_date(start)
            counts[label_id] += int(value)
            weeks[day - timedelta(days=day.weekday())][label_id] += int(value)
    stats = {}
    if durations:  # False: counts only (answered 0, no percentiles), for the weekly trend
        stats = duration_stats(
            period,
            metrics=[DurationMetric.FRT_CALENDAR],
            dim_kind=kind,
            dims=dims,
            groups=groups,
            without_orphans=scope.without_orphans,
        )
    figures = {}
    for label_id, n in counts.items():
        if not n:
            continue
        stat = stats.get((DurationMetric.FRT_CALENDAR, str(label_id)))
        if stat is None or not stat.count:
            figures[label_id] = LabelFigures(n, 0, None, None)
        else:
            figures[label_id] = LabelFigures(n, stat.count, stat.p50, stat.p90)
    weekly = {week: {k: v for k, v in per.items() if v} for week, per in weeks.items()}
    return figures, {week: per for week, per in weekly.items() if per}
