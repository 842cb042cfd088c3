"""Incremental rollups: turn new messages and audit events into counters and duration bins.

run_rollups() is what the beat task calls every minute and what rebuild_rollups
calls from scratch. It reads messages with an id above a stored watermark, in
id order, in batches; each batch is one transaction that locks the watermark
row (SELECT ... FOR UPDATE), so two workers never count a message twice and a
crash leaves the watermark where the last committed batch put it.

What counts (the definitions page says the same, tests/reports/test_definitions.py proves it):
- inbound message: volume (per hour and day), sentiment, flags, keywords;
  the first one of a conversation starts its clock.
- outbound message that is not automatic (sent by an agent, or posted by our
  own account outside the app and ingested): a response. The first one after
  the conversation's first customer message is its first response (calendar
  and business seconds), credited to the agent who sent it; a later one after a
  new customer message (also after a reopen) is a next response.
- a conversation closed for the first time: its resolution time, from the first
  customer message to the close.
Figures are filed under the local day (settings.TIME_ZONE) the event happened,
and under the conversation's department at the time they are counted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from inbox.models import OPEN_STATUSES, Conversation, ConversationEvent, Direction, Flag, Message
from reports import sketch
from reports.models import (
    BacklogSnapshot,
    ConversationClock,
    DimKind,
    DurationMetric,
    Granularity,
    RollupWatermark,
)

BATCH_SIZE = 5000
# Rows younger than this are left for the next run: an ingest transaction that took a lower id
# may still be open, and counting past it would skip its rows for good.
SETTLE = timedelta(seconds=5)
NO_DEPARTMENT = "0"
MESSAGES = "messages"
EVENTS = "events"
WINDOWS = "windows"  # last_id: the ordinal of the last day merged into WindowBin

_WORD = re.compile(r"(?<![@#\w/])([^\W\d_]{4,40})", re.UNICODE)
STOPWORDS = frozenset(
    [
        "this",
        "that",
        "with",
        "have",
        "from",
        "your",
        "what",
        "when",
        "will",
        "just",
        "they",
        "them",
        "their",
        "there",
        "been",
        "were",
        "about",
        "would",
        "could",
        "should",
        "than",
        "then",
        "into",
        "only",
        "also",
        "some",
        "more",
        "very",
        "here",
        "does",
        "dont",
        "cant",
        "please",
        "thanks",
        "thank",
        "help",
        "need",
        "still",
        "over",
        "after",
        "again",
        "being",
        "want",
        "know",
        "like",
        "much",
        "even",
        "because",
        "really",
        "today",
        "http",
        "https",
        "niet",
        "voor",
        "maar",
        "naar",
        "heeft",
        "hebben",
        "wordt",
        "worden",
        "zijn",
        "deze",
        "over",
        "door",
        "veel",
        "geen",
        "moet",
        "kunnen",
        "jullie",
        "mijn",
        "onze",
        "waar",
        "want",
        "weer",
        "welke",
        "wordt",
        "alleen",
        "graag",
        "bedankt",
    ]
)


# --------------------------------------------------------------------------
# Periods
# --------------------------------------------------------------------------


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def hour_start(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def day_start(at: datetime) -> datetime:
    local = at.astimezone(local_zone())
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(at: datetime) -> datetime:
    return day_start(at).replace(day=1)


# --------------------------------------------------------------------------
# Accumulators: everything a batch adds, written with one upsert per table
# --------------------------------------------------------------------------


class Batch:
    def __init__(self) -> None:
        self.counts: Counter[tuple] = Counter()
        self.bins: Counter[tuple] = Counter()
        self.words: Counter[tuple] = Counter()

    def count(self, metric: str, at: datetime, dims: Iterable[tuple[str, str]], *, hourly=False):
        day = day_start(at)
        for kind, dim in dims:
            self.counts[(Granularity.DAY, day, metric, kind, dim)] += 1
            if hourly:
                self.counts[(Granularity.HOUR, hour_start(at), metric, kind, dim)] += 1

    def duration(self, metric: str, at: datetime, seconds: float, dims: Iterable[tuple[str, str]]):
        b = sketch.bin_of(max(seconds, 0.0))
        day, month = day_start(at), month_start(at)
        for kind, dim in dims:
            self.bins[(Granularity.DAY, day, metric, kind, dim, b)] += 1
            self.bins[(Granularity.MONTH, month, metric, kind, dim, b)] += 1

    def write(self) -> None:
        adapt = connection.ops.adapt_datetimefield_value
        today = day_start(timezone.now())
        if any(
            g == Granularity.DAY and start < today
            for g, start, *_rest in (*self.bins, *self.counts)
        ):
            # A late message changed a day the pre-merged windows already hold.
            RollupWatermark.objects.filter(name=WINDOWS).update(last_id=0)
        with connection.cursor() as cur:
            if self.counts:
                cur.executemany(
                    "INSERT INTO reports_countrollup"
                    " (granularity, start, metric, dim_kind, dim, value) VALUES (%s,%s,%s,%s,%s,%s)"
                    " ON CONFLICT (dim_kind, granularity, metric, start, dim)"
                    " DO UPDATE SET value = reports_countrollup.value + excluded.value",
                    [(g, adapt(s), m, k, d, n) for (g, s, m, k, d), n in self.counts.items()],
                )
            if self.bins:
                cur.executemany(
                    "INSERT INTO reports_durationbin"
                    " (granularity, start, metric, dim_kind, dim, bin, count)"
                    " VALUES (%s,%s,%s,%s,%s,%s,%s)"
                    " ON CONFLICT (dim_kind, granularity, start, metric, dim, bin)"
                    " DO UPDATE SET count = reports_durationbin.count + excluded.count",
                    [(g, adapt(s), m, k, d, b, n) for (g, s, m, k, d, b), n in self.bins.items()],
                )
            if self.words:
                cur.executemany(
                    "INSERT INTO reports_keywordcount (day, dim, word, count) VALUES (%s,%s,%s,%s)"
                    " ON CONFLICT (day, dim, word)"
                    " DO UPDATE SET count = reports_keywordcount.count + excluded.count",
                    [
                        (connection.ops.adapt_datefield_value(day), dim, word, n)
                        for (day, dim, word), n in self.words.items()
                    ],
                )


# --------------------------------------------------------------------------
# Business time
# --------------------------------------------------------------------------


class Calendars:
    """The business calendar of each department, loaded once per run (none: 24/7)."""

    def __init__(self) -> None:
        self._specs: dict[int | None, object] = {}

    def business_seconds(self, department_id: int | None, a: datetime, b: datetime) -> float:
        try:
            from routing.sla import business_time_between
        except ImportError:  # the SLA module is not there: business time equals calendar time
            return (b - a).total_seconds()
        if department_id not in self._specs:
            self._specs[department_id] = self._load(department_id)
        spec = self._specs[department_id]
        if spec is None:
            return (b - a).total_seconds()
        return business_time_between(a, b, spec).total_seconds()

    @staticmethod
    def _load(department_id: int | None):
        from routing.models import Department

        if department_id is None or not hasattr(Department, "calendar"):
            return None
        from routing.services import calendar_spec

        dept = (
            Department.objects.filter(pk=department_id)
            .select_related("calendar")
            .prefetch_related("calendar__windows", "calendar__closures")
            .first()
        )
        if dept is None or dept.calendar is None:
            return None
        return calendar_spec(dept.calendar)


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


def _watermark(name: str) -> RollupWatermark:
    RollupWatermark.objects.get_or_create(name=name)
    return RollupWatermark.objects.select_for_update().get(name=name)


def run_rollups(*, batch_size: int | None = None, now: datetime | None = None) -> int:
    """Count everything new since the last run. Returns the number of messages and events read."""
    batch_size = batch_size or BATCH_SIZE
    now = now or timezone.now()
    calendars = Calendars()
    total = 0
    while True:
        done = _message_batch(batch_size, now, calendars)
        total += done
        if done < batch_size:
            break
    while True:
        done = _event_batch(batch_size)
        total += done
        if done < batch_size:
            break
    snapshot_backlog(now=now)
    if windows_stale(now=now):
        build_windows(now=now)
    return total


_MSG_FIELDS = (
    "id",
    "conversation_id",
    "direction",
    "is_automatic",
    "sent_by_id",
    "created_at",
    "ingested_at",
    "language",
    "sentiment",
    "flags",
    "text",
    "conversation__channel_id",
    "conversation__department_id",
    "conversation__language",
    "conversation__first_response_due_at",
    "conversation__next_response_due_at",
)


def _message_batch(batch_size: int, now: datetime, calendars: Calendars) -> int:
    with transaction.atomic():
        mark = _watermark(MESSAGES)
        rows = list(
            Message.objects.filter(id__gt=mark.last_id)
            .order_by("id")
            .values_list(*_MSG_FIELDS)[:batch_size]
        )
        settled = []
        for row in rows:
            if row[6] > now - SETTLE:
                break
            settled.append(row)
        if not settled:
            return 0
        clocks = ConversationClock.objects.in_bulk({r[1] for r in settled})
        new_clocks: dict[int, ConversationClock] = {}
        changed: set[int] = set()
        batch = Batch()
        for (
            _id,
            conv_id,
            direction,
            automatic,
            sent_by,
            at,
            _ingested,
            msg_language,
            sentiment,
            flags,
            text,
            channel_id,
            dept_id,
            conv_language,
            first_due,
            next_due,
        ) in settled:
            dept = str(dept_id) if dept_id else NO_DEPARTMENT
            language = msg_language or conv_language or "und"
            dims = [
                (DimKind.ALL, ""),
                (DimKind.CHANNEL, str(channel_id)),
                (DimKind.DEPARTMENT, dept),
                (DimKind.LANGUAGE, language),
            ]
            clock = clocks.get(conv_id) or new_clocks.get(conv_id)
            if direction == Direction.INBOUND:
                batch.count("inbound", at, dims, hourly=True)
                batch.count(f"sentiment_{sentiment}", at, dims[:3])
                for flag in Flag:
                    if flags & flag:
                        batch.count(f"flag_{flag.name.lower()}", at, dims[:3])
                day = day_start(at).date()
                for word in set(_WORD.findall(text.lower())):
                    if word not in STOPWORDS:
                        batch.words[(day, dept, word)] += 1
                        batch.words[(day, "", word)] += 1  # the total: one row per word and day
                if clock is None:
                    clock = ConversationClock(
                        conversation_id=conv_id, first_inbound_at=at, awaiting_since=at
                    )
                    new_clocks[conv_id] = clock
                    batch.count("conversations", at, dims)
                elif clock.awaiting_since is None:
                    clock.awaiting_since = at
                    if conv_id in clocks:
                        changed.add(conv_id)
                continue
            if automatic:
                continue  # acknowledgements are no response (SLA issue, dashboards)
            agent_dims = dims + ([(DimKind.AGENT, str(sent_by))] if sent_by else [])
            batch.count("responses", at, agent_dims, hourly=True)
            if clock is None or clock.awaiting_since is None:
                continue  # our own post, or a second answer to the same customer message
            if conv_id in clocks:
                changed.add(conv_id)
            waited = (at - clock.awaiting_since).total_seconds()
            if clock.first_response_at is None:
                clock.first_response_at = at
                batch.duration(DurationMetric.FRT_CALENDAR, at, waited, agent_dims)
                business = calendars.business_seconds(dept_id, clock.awaiting_since, at)
                batch.duration(DurationMetric.FRT_BUSINESS, at, business, agent_dims)
                if first_due is not None:
                    batch.count("frt_due", at, agent_dims)
                    if at <= first_due:
                        batch.count("frt_met", at, agent_dims)
            else:
                batch.duration(DurationMetric.NRT_CALENDAR, at, waited, agent_dims)
                if next_due is not None:
                    batch.count("nrt_due", at, agent_dims)
                    if at <= next_due:
                        batch.count("nrt_met", at, agent_dims)
            clock.awaiting_since = None
            clock.responses += 1
        batch.write()
        ConversationClock.objects.bulk_create(new_clocks.values())
        if changed:
            ConversationClock.objects.bulk_update(
                [clocks[c] for c in changed],
                ["first_response_at", "awaiting_since", "responses"],
            )
        mark.last_id = settled[-1][0]
        mark.save(update_fields=["last_id", "updated_at"])
    return len(rows) if len(settled) == len(rows) else 0


def _event_batch(batch_size: int) -> int:
    """Resolution times: any audit event makes the task look whether its conversation closed."""
    with transaction.atomic():
        mark = _watermark(EVENTS)
        events = list(
            ConversationEvent.objects.filter(id__gt=mark.last_id)
            .order_by("id")
            .values_list("id", "conversation_id")[:batch_size]
        )
        if not events:
            return 0
        conv_ids = {c for _, c in events}
        clocks = ConversationClock.objects.filter(
            conversation_id__in=conv_ids, resolved_at=None
        ).in_bulk()
        closed = Conversation.objects.filter(
            pk__in=list(clocks), status="closed", closed_at__isnull=False
        ).values_list(
            "id",
            "closed_at",
            "channel_id",
            "department_id",
            "language",
            "assignee_id",
            "resolution_due_at",
        )
        batch = Batch()
        done = []
        for conv_id, closed_at, channel_id, dept_id, language, assignee, due in closed:
            clock = clocks[conv_id]
            dims = [
                (DimKind.ALL, ""),
                (DimKind.CHANNEL, str(channel_id)),
                (DimKind.DEPARTMENT, str(dept_id) if dept_id else NO_DEPARTMENT),
                (DimKind.LANGUAGE, language or "und"),
            ]
            if assignee:
                dims.append((DimKind.AGENT, str(assignee)))
            seconds = (closed_at - clock.first_inbound_at).total_seconds()
            batch.duration(DurationMetric.RESOLUTION_CALENDAR, closed_at, seconds, dims)
            batch.count("resolved", closed_at, dims)
            if due is not None:
                batch.count("res_due", closed_at, dims)
                if closed_at <= due:
                    batch.count("res_met", closed_at, dims)
            clock.resolved_at = closed_at
            done.append(clock)
        batch.write()
        ConversationClock.objects.bulk_update(done, ["resolved_at"])
        mark.last_id = events[-1][0]
        mark.save(update_fields=["last_id", "updated_at"])
    return len(events)


def snapshot_backlog(*, now: datetime) -> None:
    """Open and overdue conversations now, filed under the current hour (the last run wins)."""
    from django.db.models import Count, Q

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


# --------------------------------------------------------------------------
# Pre-merged windows for the standard periods
# --------------------------------------------------------------------------


def windows_stale(*, now: datetime) -> bool:
    yesterday = day_start(now).date().toordinal() - 1
    return not RollupWatermark.objects.filter(name=WINDOWS, last_id=yesterday).exists()


def build_windows(*, now: datetime) -> bool:
    """Merge the duration bins and daily counters of each standard period's whole days (before
    today) once a day.

    Skips (returns False) when another worker is building them right now.
    """
    from reports.selectors import PERIOD_CHOICES, Period

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
                complete = Period(current.start, day_start_of_date(today), days - 1)
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
                    params = [days, part, yesterday]
                    for gran, lo, hi in pieces:
                        params += [gran, adapt(lo), adapt(hi)]
                    kind_sql = ""
                    if kinds:
                        kind_sql = " AND dim_kind IN (%s, %s)"
                        params += kinds
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
                    cur.execute(
                        "INSERT INTO reports_windowcount (days, part, metric, dim_kind, dim, value)"
                        " SELECT %s, %s, metric, dim_kind, dim, SUM(value)"
                        " FROM reports_countrollup WHERE granularity = %s AND start >= %s"
                        f" AND start < %s{kind_sql} GROUP BY metric, dim_kind, dim",
                        [days, part, Granularity.DAY, adapt(period.start), adapt(period.end)]
                        + (list(kinds) if kinds else []),
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


def day_start_of_date(day) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=local_zone())


def reset_rollups() -> None:
    """Forget every rollup (rebuild_rollups counts history again from the first message)."""
    from reports.models import (
        CountRollup,
        DurationBin,
        KeywordCount,
        WindowBin,
        WindowCount,
        WindowTotal,
    )

    with transaction.atomic():
        for model in (
            CountRollup,
            DurationBin,
            KeywordCount,
            ConversationClock,
            RollupWatermark,
            WindowBin,
            WindowTotal,
            WindowCount,
        ):
            model.objects.all().delete()
