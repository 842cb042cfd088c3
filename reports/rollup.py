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
- a conversation whose first message replies to a message the inbox did not have (an "orphan"
  start: a sample or a new channel begins mid-thread) is marked on its clock when the clock
  starts. Its conversation figures are counted as usual, and every other conversation's are
  counted once more under the metric with the NO_ORPHANS suffix: the figures without orphans.
Figures are filed under the local day (settings.TIME_ZONE) the event happened,
and under the conversation's department at the time they are counted.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import lru_cache

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    Exists,
    Max,
    Min,
    OuterRef,
    Subquery,
    TextField,
    Value,
    When,
)
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
from reports.periods import PERIOD_CHOICES, Period, day_start, hour_start, local_zone, midnight
from routing.models import Department, SlaClock, SlaTarget
from routing.sla.arithmetic import CalendarSpec, business_time_between
from routing.sla.policies import CALENDAR_PARTS, calendar_spec
from webcare.db import bulk_update, fetch_rows, insert_rows

BATCH_SIZE = 5000
# Rows younger than this are left for the next run: an ingest transaction that took a lower id
# may still be open, and counting past it would skip its rows for good.
SETTLE = timedelta(seconds=5)
NO_DEPARTMENT = "0"
MESSAGES = "messages"
EVENTS = "events"
WINDOWS = "windows"  # last_id: the ordinal of the last day merged into WindowBin

# The conversation figures, each also counted without the conversations that started with a reply
# to a message the inbox did not have, under the metric + NO_ORPHANS ("frt_cal" -> "frt_calx";
# a duration metric's column holds 8 characters).
NO_ORPHANS = "x"
SPLIT_METRICS = frozenset(
    [
        *DurationMetric.values,
        "conversations",
        "responses",
        "frt_due",
        "frt_met",
        "nrt_due",
        "nrt_met",
        "resolved",
        "res_due",
        "res_met",
    ]
)
# Conversations whose first message replied to a message the inbox did not have, by the day
# their clock started (like "conversations"): what the filter leaves out.
ORPHAN_CONVERSATIONS = "orphan_conversations"


def metric_without_orphans(metric: str) -> str:
    """The stored name of a figure counted without the orphan-start conversations."""
    return metric + NO_ORPHANS if metric in SPLIT_METRICS else metric


@lru_cache(maxsize=256)
def _stored_names(metric: str, kept: bool) -> tuple[str, ...]:
    """The metrics one count goes to: its own, and when its conversation is kept by the orphan
    filter, the one without orphans (figures of messages have no such twin)."""
    twin = metric_without_orphans(metric)
    return (metric, twin) if kept and twin != metric else (metric,)


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
# Accumulators: everything a batch adds, written with one upsert per table
# --------------------------------------------------------------------------

# Real time-zone offsets, and the instants they change, fall on quarters of an hour: the
# instants of one 15-minute bucket (of UTC time) share their hour, local day and local month.
BUCKET = 900


class Batch:
    """Counters, duration bins and keywords of one batch.

    Counts are kept per (metric, period starts, dimensions) and spread over the single
    dimensions only on write: a batch has far fewer of those keys than messages.
    """

    def __init__(self) -> None:
        self._zone = local_zone()
        self._starts: dict[int, tuple[datetime, datetime, datetime]] = {}
        # Plain dicts with get(): a Counter calls __missing__ (Python) for every new key.
        self._counts: dict[tuple, int] = {}
        self._bins: dict[tuple, int] = {}
        self._words: defaultdict[tuple[date, str], Counter[str]] = defaultdict(Counter)

    def starts(self, at: datetime) -> tuple[datetime, datetime, datetime]:
        """The hour, local day and local month at falls in.

        Memoised per bucket (astimezone and replace cost more than the rest of a count), for
        UTC times only (what the database gives): the hour of another offset starts elsewhere.
        """
        if at.utcoffset():
            return self._starts_of(at)
        bucket = int(at.timestamp() // BUCKET)
        starts = self._starts.get(bucket)
        if starts is None:
            starts = self._starts_of(at)
            if self._uniform(bucket):
                self._starts[bucket] = starts
        return starts

    def _starts_of(self, at: datetime) -> tuple[datetime, datetime, datetime]:
        day = at.astimezone(self._zone).replace(hour=0, minute=0, second=0, microsecond=0)
        return hour_start(at), day, day.replace(day=1)

    def _uniform(self, bucket: int) -> bool:
        """Whether the local zone keeps one quarter-hour offset all through the bucket (not so
        in old local mean times): only then may the bucket share its starts."""
        first, last = (
            datetime.fromtimestamp(t, self._zone).utcoffset()
            for t in (bucket * BUCKET, (bucket + 1) * BUCKET - 1)
        )
        return first == last and first.total_seconds() % BUCKET == 0

    def count(
        self,
        metric: str,
        at: datetime,
        dims: Iterable[tuple[str, str]],
        *,
        hourly=False,
        orphan: bool | None = None,
    ):
        """orphan: for a conversation figure, whether its conversation is an orphan start (when
        False, it is also counted without orphans); None for a figure of messages."""
        key = (metric, self.starts(at), tuple(dims), hourly, orphan is False)
        self._counts[key] = self._counts.get(key, 0) + 1

    def duration(
        self,
        metric: str,
        at: datetime,
        seconds: float,
        dims: Iterable[tuple[str, str]],
        *,
        orphan: bool | None = None,
    ):
        """orphan: as for count()."""
        b = sketch.bin_of(max(seconds, 0.0))
        key = (metric, self.starts(at), tuple(dims), b, orphan is False)
        self._bins[key] = self._bins.get(key, 0) + 1

    def keywords(self, at: datetime, dept: str, text: str) -> None:
        """The keywords of an inbound message, under its department (the total is summed on
        write)."""
        words = set(_WORD.findall(text.lower()))
        words.difference_update(STOPWORDS)
        self._words[(self.starts(at)[1].date(), dept)].update(words)

    def _rows(self) -> tuple[dict[tuple, int], dict[tuple, int], dict[tuple, int]]:
        """What to add per table (counts, bins, keywords), keyed like its unique constraint."""
        counts: dict[tuple, int] = {}
        get = counts.get
        for (metric, (hour, day, _month), dims, hourly, kept), n in self._counts.items():
            for name in _stored_names(metric, kept):
                for kind, dim in dims:
                    key = (Granularity.DAY, day, name, kind, dim)
                    counts[key] = get(key, 0) + n
                    if hourly and name == metric:  # no hourly figure is read without orphans
                        key = (Granularity.HOUR, hour, name, kind, dim)
                        counts[key] = get(key, 0) + n
        bins: dict[tuple, int] = {}
        get = bins.get
        for (metric, (_hour, day, month), dims, b, kept), n in self._bins.items():
            for name in _stored_names(metric, kept):
                for kind, dim in dims:
                    key = (Granularity.DAY, day, name, kind, dim, b)
                    bins[key] = get(key, 0) + n
                    key = (Granularity.MONTH, month, name, kind, dim, b)
                    bins[key] = get(key, 0) + n
        words: dict[tuple, int] = {}
        get = words.get
        for (day, dept), counter in self._words.items():
            for word, n in counter.items():
                words[(day, dept, word)] = n
                key = (day, "", word)  # the total: one row per word and day
                words[key] = get(key, 0) + n
        return counts, bins, words

    def write(self) -> None:
        counts, bins, words = self._rows()
        today = day_start(timezone.now())
        if any(g == Granularity.DAY and start < today for g, start, *_rest in (*bins, *counts)):
            # A late message changed a day the pre-merged windows already hold.
            RollupWatermark.objects.filter(name=WINDOWS).update(last_id=0)
        insert_rows(
            "reports_countrollup",
            COUNT_COLUMNS,
            [(*key, n) for key, n in counts.items()],
            "ON CONFLICT (dim_kind, granularity, metric, start, dim)"
            " DO UPDATE SET value = reports_countrollup.value + excluded.value",
        )
        insert_rows(
            "reports_durationbin",
            BIN_COLUMNS,
            [(*key, n) for key, n in bins.items()],
            "ON CONFLICT (dim_kind, granularity, start, metric, dim, bin)"
            " DO UPDATE SET count = reports_durationbin.count + excluded.count",
        )
        insert_rows(
            "reports_keywordcount",
            WORD_COLUMNS,
            [(*key, n) for key, n in words.items()],
            "ON CONFLICT (day, dim, word)"
            " DO UPDATE SET count = reports_keywordcount.count + excluded.count",
        )


# Column -> PostgreSQL type, for _insert's scratch tables.
COUNT_COLUMNS = {
    "granularity": "text",
    "start": "timestamptz",
    "metric": "text",
    "dim_kind": "text",
    "dim": "text",
    "value": "bigint",
}
BIN_COLUMNS = {
    "granularity": "text",
    "start": "timestamptz",
    "metric": "text",
    "dim_kind": "text",
    "dim": "text",
    "bin": "integer",
    "count": "bigint",
}
WORD_COLUMNS = {"day": "date", "dim": "text", "word": "text", "count": "bigint"}
CLOCK_COLUMNS = {
    "conversation_id": "bigint",
    "first_inbound_at": "timestamptz",
    "first_response_at": "timestamptz",
    "awaiting_since": "timestamptz",
    "responses": "integer",
    "orphan_start": "boolean",
}


# --------------------------------------------------------------------------
# Business time
# --------------------------------------------------------------------------


class Calendars:
    """The business calendar of each department, loaded once per run (none: 24/7)."""

    def __init__(self) -> None:
        self._specs: dict[int | None, CalendarSpec | None] = {}

    def business_seconds(self, department_id: int | None, a: datetime, b: datetime) -> float:
        if department_id not in self._specs:
            self._specs[department_id] = self._load(department_id)
        spec = self._specs[department_id]
        if spec is None:
            return (b - a).total_seconds()
        return business_time_between(a, b, spec).total_seconds()

    @staticmethod
    def _load(department_id: int | None) -> CalendarSpec | None:
        if department_id is None:
            return None
        dept = (
            Department.objects.filter(pk=department_id)
            .select_related("calendar")
            .prefetch_related(*(f"calendar__{part}" for part in CALENDAR_PARTS))
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
    "inbound_text",
    "conversation__channel_id",
    "conversation__department_id",
    "conversation__language",
)
_FLAG_METRICS = [(int(flag), f"flag_{flag.name.lower()}") for flag in Flag]


class _Clock:
    """A ConversationClock as the message batch reads and changes it (a model instance costs)."""

    __slots__ = (
        "first_inbound_at",
        "first_response_at",
        "awaiting_since",
        "responses",
        "orphan_start",
    )

    def __init__(self, first_inbound_at, first_response_at, awaiting_since, responses, orphan):
        self.first_inbound_at = first_inbound_at
        self.first_response_at = first_response_at
        self.awaiting_since = awaiting_since
        self.responses = responses
        self.orphan_start = orphan


@lru_cache(maxsize=4096)
def _dims(channel_id: int, dept: str, language: str) -> tuple[tuple[str, str], ...]:
    return (
        (DimKind.ALL, ""),
        (DimKind.CHANNEL, str(channel_id)),
        (DimKind.DEPARTMENT, dept),
        (DimKind.LANGUAGE, language),
    )


@lru_cache(maxsize=4096)
def _agent_dims(dims: tuple, sent_by: int | None) -> tuple[tuple[str, str], ...]:
    return (*dims, (DimKind.AGENT, str(sent_by))) if sent_by else dims


def _message_rows(after: int, batch_size: int) -> list[tuple]:
    return fetch_rows(
        Message.objects.filter(id__gt=after)
        .order_by("id")
        # Outbound texts are never looked at: they stay in the database.
        .annotate(
            inbound_text=Case(
                When(direction="in", then="text"), default=Value(""), output_field=TextField()
            )
        )
        .values_list(*_MSG_FIELDS)[:batch_size]
    )


def _clocks(conv_ids: set[int]) -> dict[int, _Clock]:
    fields = ["conversation_id", *_Clock.__slots__]
    rows = fetch_rows(
        ConversationClock.objects.filter(conversation_id__in_array=list(conv_ids)).values_list(
            *fields
        )
    )
    return {conv_id: _Clock(*values) for conv_id, *values in rows}


def _response_deadlines(conv_ids: set[int]) -> dict[int, list[tuple[datetime, datetime | None]]]:
    """Per conversation, its first- and next-response clocks as (started_at, due_at), oldest
    first: the deadline each wait for us had.

    Read from the clocks, which keep their due time when a response stops them; the
    conversation's own due fields show only running clocks, so by the time a response is
    counted they are empty (and "SLA met" was never counted). Uses index: the conversation
    foreign key's.
    """
    deadlines: dict[int, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    if conv_ids:
        clocks = SlaClock.objects.filter(
            conversation_id__in_array=list(conv_ids),
            kind__in=[SlaTarget.FIRST_RESPONSE, SlaTarget.NEXT_RESPONSE],
        ).order_by("conversation_id", "started_at")
        for conv_id, started, due in fetch_rows(
            clocks.values_list("conversation_id", "started_at", "due_at")
        ):
            deadlines[conv_id].append((started, due))
    return deadlines


def _deadline(
    clocks: list[tuple[datetime, datetime | None]], waiting_since: datetime, answered: datetime
) -> datetime | None:
    """The due time of the clock that this wait started (the first one started from the
    customer's message on, up to the answer), or None when the wait had no target."""
    for started, due in clocks:
        if waiting_since <= started <= answered:
            return due
    return None


def _orphan_starts(conv_ids: set[int]) -> set[int]:
    """Those of conv_ids whose first message replies to a message the inbox did not have.

    The first message is the conversation's lowest id, customer's or ours. It is an orphan start
    when it names a parent and no message of its channel with that external id was stored before
    it. "Before it" keeps the decision fixed: a parent that arrives later may join the
    conversation, but the clock still started at the reply, and a rebuild decides the same.
    One query: msg_conversation_idx for the first messages, the unique (channel, external_id)
    key for their parents.
    """
    if not conv_ids:
        return set()
    firsts = (
        Message.objects.filter(conversation_id__in_array=list(conv_ids))
        .values("conversation_id")
        .annotate(first=Min("id"))
        .values("first")
    )
    parent_stored = Message.objects.filter(
        channel_id=OuterRef("channel_id"),
        external_id=OuterRef("parent_external_id"),
        id__lt=OuterRef("id"),
    )
    return set(
        Message.objects.filter(id__in=Subquery(firsts))
        .exclude(parent_external_id="")
        .exclude(Exists(parent_stored))
        .values_list("conversation_id", flat=True)
    )


def _message_batch(batch_size: int, now: datetime, calendars: Calendars) -> int:
    with transaction.atomic():
        mark = _watermark(MESSAGES)
        rows = _message_rows(mark.last_id, batch_size)
        settled = []
        for row in rows:
            if row[6] > now - SETTLE:
                break
            settled.append(row)
        if not settled:
            return 0
        clocks = _clocks({row[1] for row in settled})
        orphans = _orphan_starts({row[1] for row in settled} - clocks.keys())
        deadlines = _response_deadlines(
            {row[1] for row in settled if row[2] == Direction.OUTBOUND and not row[3]}
        )
        changed: set[int] = set()  # new clocks and changed ones
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
        ) in settled:
            dept = str(dept_id) if dept_id else NO_DEPARTMENT
            dims = _dims(channel_id, dept, msg_language or conv_language or "und")
            clock = clocks.get(conv_id)
            if direction == Direction.INBOUND:
                batch.count("inbound", at, dims, hourly=True)
                batch.count(f"sentiment_{sentiment}", at, dims[:3])
                if flags:
                    for flag, metric in _FLAG_METRICS:
                        if flags & flag:
                            batch.count(metric, at, dims[:3])
                batch.keywords(at, dept, text)
                if clock is None:
                    orphan = conv_id in orphans
                    clocks[conv_id] = _Clock(at, None, at, 0, orphan)
                    changed.add(conv_id)
                    batch.count("conversations", at, dims, orphan=orphan)
                    if orphan:
                        batch.count(ORPHAN_CONVERSATIONS, at, dims)
                elif clock.awaiting_since is None:
                    clock.awaiting_since = at
                    changed.add(conv_id)
                continue
            if automatic:
                continue  # acknowledgements are no response (SLA issue, dashboards)
            if clock is None:
                continue  # our own post before any customer message: no reply to anyone
            agent_dims = _agent_dims(dims, sent_by)
            orphan = clock.orphan_start
            batch.count("responses", at, agent_dims, hourly=True, orphan=orphan)
            if clock.awaiting_since is None:
                continue  # a second answer to the same customer message
            changed.add(conv_id)
            waited = (at - clock.awaiting_since).total_seconds()
            due = _deadline(deadlines.get(conv_id, []), clock.awaiting_since, at)
            if clock.first_response_at is None:
                clock.first_response_at = at
                batch.duration(DurationMetric.FRT_CALENDAR, at, waited, agent_dims, orphan=orphan)
                business = calendars.business_seconds(dept_id, clock.awaiting_since, at)
                batch.duration(DurationMetric.FRT_BUSINESS, at, business, agent_dims, orphan=orphan)
                if due is not None:
                    batch.count("frt_due", at, agent_dims, orphan=orphan)
                    if at <= due:
                        batch.count("frt_met", at, agent_dims, orphan=orphan)
            else:
                batch.duration(DurationMetric.NRT_CALENDAR, at, waited, agent_dims, orphan=orphan)
                if due is not None:
                    batch.count("nrt_due", at, agent_dims, orphan=orphan)
                    if at <= due:
                        batch.count("nrt_met", at, agent_dims, orphan=orphan)
            clock.awaiting_since = None
            clock.responses += 1
        batch.write()
        insert_rows(
            "reports_conversationclock",
            CLOCK_COLUMNS,
            [
                (
                    c,
                    k.first_inbound_at,
                    k.first_response_at,
                    k.awaiting_since,
                    k.responses,
                    k.orphan_start,
                )
                for c in changed
                for k in (clocks[c],)
            ],
            # first_inbound_at, orphan_start and resolved_at of a known clock stay as they are.
            "ON CONFLICT (conversation_id) DO UPDATE SET"
            " first_response_at = excluded.first_response_at,"
            " awaiting_since = excluded.awaiting_since, responses = excluded.responses",
        )
        mark.last_id = settled[-1][0]
        mark.save(update_fields=["last_id", "updated_at"])
    return len(rows) if len(settled) == len(rows) else 0


def _event_batch(batch_size: int) -> int:
    """Resolution times: any audit event makes the task look whether its conversation closed."""
    with transaction.atomic():
        mark = _watermark(EVENTS)
        got = (
            ConversationEvent.objects.filter(id__gt=mark.last_id)
            .order_by("id")[:batch_size]
            .aggregate(last=Max("id"), n=Count("id"))
        )
        if not got["n"]:
            return 0
        # Only the few conversations that closed come back, with what the figures need.
        in_batch = ConversationEvent.objects.filter(id__gt=mark.last_id, id__lte=got["last"])
        # The resolution clock keeps its due time when the close stops it (the conversation's
        # field is emptied then).
        resolution_due = SlaClock.objects.filter(
            conversation_id=OuterRef("conversation_id"), kind=SlaTarget.RESOLUTION
        ).order_by("-started_at")
        closed = (
            ConversationClock.objects.filter(
                conversation_id__in=in_batch.values("conversation_id"),
                resolved_at=None,
                conversation__status="closed",
                conversation__closed_at__isnull=False,
            )
            .annotate(resolution_due=Subquery(resolution_due.values("due_at")[:1]))
            .values_list(
                "conversation_id",
                "first_inbound_at",
                "orphan_start",
                "conversation__closed_at",
                "conversation__channel_id",
                "conversation__department_id",
                "conversation__language",
                "conversation__assignee_id",
                "resolution_due",
            )
        )
        batch = Batch()
        done = []
        for (
            conv_id,
            first_inbound,
            orphan,
            closed_at,
            channel_id,
            dept_id,
            language,
            assignee,
            due,
        ) in closed:
            dims = [
                (DimKind.ALL, ""),
                (DimKind.CHANNEL, str(channel_id)),
                (DimKind.DEPARTMENT, str(dept_id) if dept_id else NO_DEPARTMENT),
                (DimKind.LANGUAGE, language or "und"),
            ]
            if assignee:
                dims.append((DimKind.AGENT, str(assignee)))
            seconds = (closed_at - first_inbound).total_seconds()
            batch.duration(
                DurationMetric.RESOLUTION_CALENDAR, closed_at, seconds, dims, orphan=orphan
            )
            batch.count("resolved", closed_at, dims, orphan=orphan)
            if due is not None:
                batch.count("res_due", closed_at, dims, orphan=orphan)
                if closed_at <= due:
                    batch.count("res_met", closed_at, dims, orphan=orphan)
            done.append((conv_id, closed_at))
        batch.write()
        _set_resolved(done)
        mark.last_id = got["last"]
        mark.save(update_fields=["last_id", "updated_at"])
    return got["n"]


def _set_resolved(done: list[tuple[int, datetime]]) -> None:
    """resolved_at = the close time read above (not read again: it is what was counted)."""
    if not done:
        return
    bulk_update(
        ConversationClock,
        [ConversationClock(conversation_id=c, resolved_at=at) for c, at in done],
        ["resolved_at"],
    )


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
