"""The message batch: volume, sentiment, flags, keywords, and the response times (calendar and
business seconds) of each conversation's clock."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from functools import lru_cache

from django.db import transaction
from django.db.models import Case, Exists, Min, OuterRef, Subquery, TextField, Value, When

from inbox.models import Direction, Flag, Message
from reports.models import ConversationClock, DimKind, DurationMetric
from reports.rollup.batch import Batch
from reports.rollup.labels import reconcile
from reports.rollup.metrics import (
    MESSAGES,
    NO_DEPARTMENT,
    ORPHAN_CONVERSATIONS,
    visibility_dims,
    watermark,
)
from routing.models import Department, SlaClock, SlaTarget
from routing.sla.arithmetic import CalendarSpec, business_time_between
from routing.sla.policies import CALENDAR_PARTS, calendar_spec
from webcare.db import fetch_rows, insert_rows

# Rows younger than this are left for the next run: an ingest transaction that took a lower id
# may still be open, and counting past it would skip its rows for good.
SETTLE = timedelta(seconds=5)

CLOCK_COLUMNS = {
    "conversation_id": "bigint",
    "first_inbound_at": "timestamptz",
    "first_response_at": "timestamptz",
    "awaiting_since": "timestamptz",
    "responses": "integer",
    "orphan_start": "boolean",
}


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
    "conversation__is_public",
)
_FLAG_METRICS = [(int(flag), f"flag_{flag.name.lower()}") for flag in Flag if flag.name]


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
def _dims(channel_id: int, dept: str, language: str, public: bool) -> tuple[tuple[str, str], ...]:
    # The first three are what the sentiment and flag counters take (dims[:3]).
    return (
        (DimKind.ALL, ""),
        (DimKind.CHANNEL, str(channel_id)),
        (DimKind.DEPARTMENT, dept),
        (DimKind.LANGUAGE, language),
        *visibility_dims(public, dept),
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


def message_batch(batch_size: int, now: datetime, calendars: Calendars) -> int:
    with transaction.atomic():
        mark = watermark(MESSAGES)
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
        label_convs: set[int] = set()  # started or first answered: their labels count anew
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
            public,
        ) in settled:
            dept = str(dept_id) if dept_id else NO_DEPARTMENT
            dims = _dims(channel_id, dept, msg_language or conv_language or "und", public)
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
                    label_convs.add(conv_id)  # its labels may be counted before its clock
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
                label_convs.add(conv_id)
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
        reconcile(label_convs)
        mark.last_id = settled[-1][0]
        mark.save(update_fields=["last_id", "updated_at"])
    return len(rows) if len(settled) == len(rows) else 0
