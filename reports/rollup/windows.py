"""Pre-merged windows for the standard periods: the duration bins and daily counters of each
period's whole days, merged once a day."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction

from reports.models import LABEL_KINDS, DimKind, Granularity, RollupWatermark
from reports.periods import PERIOD_CHOICES, Period, day_start, midnight
from reports.rollup.metrics import WINDOWS


def windows_stale(*, now: datetime) -> bool:
    yesterday = day_start(now).date().toordinal() - 1
    return not RollupWatermark.objects.filter(name=WINDOWS, last_id=yesterday).exists()


def build_windows(*, now: datetime) -> bool:
    """Merge the duration bins and daily counters of each standard period's whole days (before
    today) once a day.

    Skips (returns False) when another worker is building them right now.
    """
    today = day_start(now).date()
    yesterday = today - timedelta(days=1)
    adapt = connection.ops.adapt_datetimefield_value
    with transaction.atomic():
        RollupWatermark.objects.get_or_create(name=WINDOWS)
        mark = (
            RollupWatermark.objects.select_for_update(skip_locked=True).filter(name=WINDOWS).first()
        )
        if mark is None:
            return False
        with connection.cursor() as cur:
            cur.execute("DELETE FROM reports_windowbin")
            cur.execute("DELETE FROM reports_windowtotal")
            cur.execute("DELETE FROM reports_windowcount")
            for days in PERIOD_CHOICES:
                current = Period.ending_today(days, today=today)
                complete = Period(current.start, midnight(today), days - 1)
                for part, period, kinds in (
                    (0, complete, None),
                    # The comparison is shown for everything and per team only.
                    (1, current.previous(), [DimKind.ALL, DimKind.DEPARTMENT]),
                ):
                    if period.days <= 0:
                        continue
                    pieces = period.pieces()
                    where = " OR ".join(
                        "(granularity = %s AND start >= %s AND start < %s)" for _ in pieces
                    )
                    params: list[Any] = [days, part, yesterday]
                    for gran, lo, hi in pieces:
                        params += [gran, adapt(lo), adapt(hi)]
                    # The label figures change with every label: read from their rows always.
                    kind_sql = (
                        " AND dim_kind IN (%s, %s)" if kinds else " AND dim_kind NOT IN (%s, %s)"
                    )
                    kind_params = list(kinds or LABEL_KINDS)
                    params += kind_params
                    # cum: the running count of the group, what the percentile probes read.
                    cur.execute(
                        "INSERT INTO reports_windowbin"
                        " (days, part, end_day, metric, dim_kind, dim, bin, count, cum)"
                        " SELECT %s, %s, %s, metric, dim_kind, dim, bin, SUM(count),"
                        " SUM(SUM(count)) OVER (PARTITION BY metric, dim_kind, dim ORDER BY bin)"
                        f" FROM reports_durationbin WHERE ({where}){kind_sql}"
                        " GROUP BY metric, dim_kind, dim, bin",
                        params,
                    )
                    count_params: list[Any] = [
                        days,
                        part,
                        Granularity.DAY,
                        adapt(period.start),
                        adapt(period.end),
                        *kind_params,
                    ]
                    cur.execute(
                        "INSERT INTO reports_windowcount (days, part, metric, dim_kind, dim, value)"
                        " SELECT %s, %s, metric, dim_kind, dim, SUM(value)"
                        " FROM reports_countrollup WHERE granularity = %s AND start >= %s"
                        f" AND start < %s{kind_sql} GROUP BY metric, dim_kind, dim",
                        count_params,
                    )
                    cur.execute(
                        "INSERT INTO reports_windowtotal (days, part, metric, dim_kind, dim, total)"
                        " SELECT days, part, metric, dim_kind, dim, MAX(cum)"
                        " FROM reports_windowbin WHERE days = %s AND part = %s"
                        " GROUP BY days, part, metric, dim_kind, dim",
                        [days, part],
                    )
        mark.last_id = yesterday.toordinal()
        mark.save(update_fields=["last_id", "updated_at"])
    return True
