"""Hourly snapshots of the open and overdue backlog (and a backfill of them for the demo history)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count

from inbox.models import OPEN_STATUSES, Conversation
from reports.models import BacklogSnapshot
from reports.periods import hour_start
from reports.rollup.metrics import NO_DEPARTMENT


def snapshot_backlog(*, now: datetime) -> None:
    """Open and overdue conversations now, filed under the current hour (the last run wins)."""
    from django.db.models import Q

    per_dept = (
        Conversation.objects.filter(status__in=OPEN_STATUSES)
        .values("department_id")
        .annotate(open=Count("id"), overdue=Count("id", filter=Q(sla_state="overdue")))
    )
    hour = hour_start(now)
    rows = {"": [0, 0]}
    for row in per_dept:
        dim = str(row["department_id"]) if row["department_id"] else NO_DEPARTMENT
        rows[dim] = [row["open"], row["overdue"]]
        rows[""][0] += row["open"]
        rows[""][1] += row["overdue"]
    BacklogSnapshot.objects.bulk_create(
        [BacklogSnapshot(hour=hour, dim=d, open=o, overdue=v) for d, (o, v) in rows.items()],
        update_conflicts=True,
        unique_fields=["hour", "dim"],
        update_fields=["open", "overdue"],
    )


def backfill_backlog(*, start: datetime, end: datetime) -> int:
    """Backlog snapshots for every hour in [start, end), worked out from the conversations'
    own times, for history that entered after it happened (a channel whose first poll reached
    weeks back, the demo's history): snapshot_backlog can only see the present.

    Open at an hour: received by then and not closed yet. Overdue: open, and its first-response
    (not yet given) or resolution deadline passed. Returns the number of snapshot rows written.
    """
    first_hour, stop = hour_start(start), hour_start(end)
    hours = int((stop - first_hour).total_seconds() // 3600)
    if hours <= 0:
        return 0
    totals: dict[str, list[list[int]]] = defaultdict(lambda: [[0, 0] for _ in range(hours)])

    def index(at: datetime | None, default: int) -> int:
        """The snapshot hour `at` falls in: a snapshot holds the state at its hour's end (the
        last run of snapshot_backlog in the hour wins)."""
        if at is None:
            return default
        return max(0, min(hours, math.floor((at - first_hour).total_seconds() / 3600)))

    lived = Conversation.objects.filter(received_at__lt=stop).exclude(closed_at__lt=first_hour)
    for received, closed, dept, first_due, answered, resolution_due in lived.values_list(
        "received_at",
        "closed_at",
        "department_id",
        "first_response_due_at",
        "first_response_at",
        "resolution_due_at",
    ):
        opened, gone = index(received, 0), index(closed, hours)
        late = min(
            index(first_due, hours)
            if first_due and (not answered or answered > first_due)
            else hours,
            index(resolution_due, hours),
        )
        for dim in ("", str(dept) if dept else NO_DEPARTMENT):
            series = totals[dim]
            for hour in range(opened, gone):
                series[hour][0] += 1
                series[hour][1] += hour >= late
    rows = [
        BacklogSnapshot(hour=first_hour + timedelta(hours=h), dim=dim, open=o, overdue=v)
        for dim, series in totals.items()
        for h, (o, v) in enumerate(series)
    ]
    BacklogSnapshot.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["hour", "dim"],
        update_fields=["open", "overdue"],
        batch_size=500,
    )
    return len(rows)
