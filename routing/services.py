"""SLA clocks: start, stop, pause, recompute, sweep and escalate.

The clock semantics (docs/sla.md has worked examples):

- A new conversation starts a first-response clock and a resolution clock,
  from the policy that matches it first (SlaPolicy.order).
- The first response is the first public or private reply by a person through
  the app. Internal notes and automatic acknowledgements do not count, and
  forwarding to another team does not stop the clock (it may move it: the new
  team's calendar applies).
- A customer message after we replied starts a next-response clock; a
  customer message on a closed conversation (reopen) starts a next-response
  clock and a new resolution clock, never a new first response.
- While the conversation waits on the customer, its clocks pause; the pause
  ends when the status leaves "waiting" or the customer writes.
- Closing (or no reply needed / hidden) stops every clock.
- A clock copies its target and calendar when it starts: editing a policy or
  calendar applies to new clocks only, and past statistics keep their values.
  A priority or team change recomputes the running clocks with the policy and
  calendar that match now (the clock keeps its start).

Other code calls the small `on_*` hooks below inside its own transaction,
after it has changed the conversation (they write no audit event of their
own: the calling action does). The sweep (`sweep_sla`) is the only place
that sets "at risk" and "overdue", through the partial indexes on
Conversation.sla_warn_at / sla_due_at.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _

from inbox.models import (
    END_STATUSES,
    Channel,
    Conversation,
    ConversationEvent,
    Direction,
    Flag,
    Message,
    Priority,
    SlaState,
    Status,
)
from routing.models import (
    BusinessCalendar,
    Department,
    Membership,
    OnCallShift,
    SlaBreach,
    SlaClock,
    SlaPolicy,
    SlaTarget,
)
from routing.rules import RoutingInput, first_matching_rule
from routing.sla import (
    ALWAYS_OPEN,
    CalendarSpec,
    add_business_time,
    dutch_holiday_names,
    is_open_at,
    open_intervals,
)
from webcare.db import bulk_insert, bulk_update, fetch_instances, update_returning_pks
from webcare.jobs import enqueue

log = logging.getLogger(__name__)

# Flags that make an item urgent enough to wake the on-call person.
URGENT_FLAGS = Flag.THREAT | Flag.PRESS
# A closure longer than this is expanded only this far (it is a typo, or the team is gone).
MAX_CLOSURE_DAYS = 400
NOTIFY_CHUNK = 200


# --- Calendars and policies --------------------------------------------------


def calendar_spec(calendar: BusinessCalendar | None) -> CalendarSpec:
    """The pure CalendarSpec of a calendar; no calendar means 24/7."""
    if calendar is None:
        return CalendarSpec(tz=settings.TIME_ZONE, is_24_7=True, use_dutch_holidays=False)
    windows: dict[int, list[tuple[time, time]]] = defaultdict(list)
    for w in calendar.windows.all():
        windows[w.weekday].append((w.start, w.end))
    closed: set[date] = set()
    for c in calendar.closures.all():
        days = min((c.end_date - c.start_date).days, MAX_CLOSURE_DAYS)
        closed.update(c.start_date + timedelta(days=i) for i in range(days + 1))
    reopened = list(calendar.reopened_holidays.all())
    return CalendarSpec(
        tz=calendar.timezone,
        is_24_7=calendar.is_24_7,
        use_dutch_holidays=calendar.use_dutch_holidays,
        windows={day: tuple(sorted(spans)) for day, spans in windows.items()},
        closed_dates=frozenset(closed),
        reopened_holidays=frozenset(r.holiday for r in reopened if r.holiday),
        reopened_dates=frozenset(r.date for r in reopened if r.date),
    )


# What calendar_spec reads of a calendar (prefetch these with it).
CALENDAR_PARTS = ("windows", "closures", "reopened_holidays")


@dataclass(frozen=True)
class HolidayRow:
    day: date
    names: tuple[str, ...]  # in the language asked for
    closed: bool


def holiday_overview(
    calendar: BusinessCalendar, *, years: Iterable[int], language: str
) -> list[HolidayRow]:
    """The Dutch public holidays of these years and whether the calendar is closed on each
    (the calendar editor shows it: a reopened holiday reads "open")."""
    spec = calendar_spec(calendar) if calendar.pk else CalendarSpec(tz=calendar.timezone)
    return [
        HolidayRow(day=day, names=names, closed=spec.is_closed_day(day))
        for year in years
        for day, names in dutch_holiday_names(year, language).items()
    ]


def active_policies() -> list[SlaPolicy]:
    return list(
        SlaPolicy.objects.filter(is_active=True)
        .select_related("calendar")
        .prefetch_related("channels", *(f"calendar__{part}" for part in CALENDAR_PARTS))
        .order_by("order", "id")
    )


def policy_matches(
    policy: SlaPolicy,
    *,
    channel_kind: str,
    channel_id: int | None,
    priority: int,
    department_id: int | None,
    flags: int,
) -> bool:
    if policy.channel_kinds and channel_kind not in policy.channel_kinds:
        return False
    channel_ids = {c.pk for c in policy.channels.all()}
    if channel_ids and channel_id not in channel_ids:
        return False
    if policy.priorities and priority not in [int(p) for p in policy.priorities]:
        return False
    if policy.department_id and policy.department_id != department_id:
        return False
    return not (policy.flags_any and not flags & policy.flags_any)


def choose_policy(
    conversation: Conversation, policies: Sequence[SlaPolicy] | None = None
) -> SlaPolicy | None:
    """The first active policy (by order) whose conditions all match the conversation."""
    for policy in active_policies() if policies is None else policies:
        if policy_matches(
            policy,
            channel_kind=conversation.channel.kind,
            channel_id=conversation.channel_id,
            priority=conversation.priority,
            department_id=conversation.department_id,
            flags=conversation.flags,
        ):
            return policy
    return None


def effective_calendar(
    policy: SlaPolicy | None, department: Department | None
) -> BusinessCalendar | None:
    """The policy's calendar override, else the team's calendar, else none (24/7)."""
    if policy is not None and policy.calendar_id:
        return policy.calendar
    if department is not None and department.calendar_id:
        return (
            BusinessCalendar.objects.prefetch_related(*CALENDAR_PARTS)
            .filter(pk=department.calendar_id)
            .first()
        )
    return None


def due_times(
    *, policy: SlaPolicy, spec: CalendarSpec, at: datetime
) -> dict[str, tuple[datetime, datetime] | None]:
    """(warn, due) per target for clocks starting at `at`: the editor's tryout uses it too."""
    out: dict[str, tuple[datetime, datetime] | None] = {}
    for kind in SlaTarget.values:
        minutes = policy.target_minutes(kind)
        if not minutes:
            out[kind] = None
            continue
        warn, due = _warn_and_due(at, minutes, policy.warn_percent, spec, [])
        out[kind] = (warn, due)
    return out


# --- Clocks ------------------------------------------------------------------
#
# Everything below works on lists of conversations: the single-conversation
# hooks pass a list of one, the bulk hooks (ingest, bulk triage) a whole batch, so each rule
# is written once and a batch costs a fixed number of queries.

SLA_FIELDS = (
    "first_response_due_at",
    "next_response_due_at",
    "resolution_due_at",
    "sla_warn_at",
    "sla_due_at",
    "sla_state",
    "sla_paused_at",
    "first_response_at",
)
RESPONSE_KINDS = (SlaTarget.FIRST_RESPONSE, SlaTarget.NEXT_RESPONSE)


def _warn_and_due(
    start: datetime,
    minutes: int,
    warn_percent: int,
    spec: CalendarSpec,
    pauses: Sequence[tuple[datetime, datetime]],
    timeline: _Timeline | None = None,
) -> tuple[datetime, datetime]:
    target = timedelta(minutes=minutes)
    warn_target = target * warn_percent / 100
    if spec.is_24_7 and not pauses:
        # Always open: business time is wall time (add_business_time agrees, DST included).
        # In UTC: aware arithmetic in a local zone would add wall time across a DST switch.
        start = start.astimezone(UTC)
        return start + warn_target, start + target
    if timeline is not None and not pauses and start >= timeline.origin:
        return timeline.add(start, warn_target), timeline.add(start, target)
    due = add_business_time(start, target, spec, pauses)
    warn = add_business_time(start, warn_target, spec, pauses)
    return warn, due


class _Timeline:
    """One calendar's open intervals from `origin` on, pulled lazily, with running sums.

    add_business_time walks the calendar day by day for every clock; ingest
    starts thousands of clocks per batch in the same few calendars, so a batch
    walks each calendar once and answers every clock with two bisections. Same
    results as add_business_time without pauses (tests/routing/test_bulk_hooks.py).
    """

    def __init__(self, spec: CalendarSpec, origin: datetime) -> None:
        self.origin = origin
        self._intervals = open_intervals(spec, origin)
        self._los: list[datetime] = []
        self._his: list[datetime] = []
        self._cum: list[timedelta] = [timedelta(0)]  # open time before interval i

    def _pull(self) -> None:
        lo, hi = next(self._intervals)
        self._los.append(lo)
        self._his.append(hi)
        self._cum.append(self._cum[-1] + (hi - lo))

    def add(self, start: datetime, duration: timedelta) -> datetime:
        start = start.astimezone(UTC)
        if duration == timedelta(0):
            return start
        while not self._his or self._his[-1] <= start:
            self._pull()
        first = bisect_right(self._his, start)  # the first interval ending after start
        target = self._cum[first] + (max(self._los[first], start) - self._los[first]) + duration
        while self._cum[-1] < target:
            self._pull()
        # The first interval whose end reaches the target (its end included, as add_business_time).
        k = bisect_left(self._cum, target, lo=first + 1) - 1
        return self._los[k] + (target - self._cum[k])


@dataclass(frozen=True)
class SlaFailure:
    """A conversation whose clocks could not be started or resumed (see SlaContext)."""

    conversation_id: int
    policy_id: int | None
    error: str


class SlaContext:
    """Active policies and calendar specs, loaded once per hook call (cached by calendar id).

    Callers that run several hooks for one batch (ingest) pass one context to all of them.

    isolate_failures: a policy or calendar that fails for a conversation (a calendar with no
    opening time, say) is logged and noted in `failures`, and that conversation goes on
    without the clock; the rest of the batch is unaffected. Ingest asks for this: one broken
    setting must not stop every message of a channel. Without it the error propagates.
    """

    def __init__(self, *, isolate_failures: bool = False) -> None:
        self._specs: dict[int | None, CalendarSpec] = {None: calendar_spec(None)}
        self._json: dict[int | None, dict] = {}
        self._timelines: dict[int | None, _Timeline] = {}
        self._chosen: dict[tuple, tuple[SlaPolicy | None, int | None]] = {}
        # A calendar (key) whose business time failed once fails the same way for every clock.
        self._broken: dict[int | None, Exception] = {}
        self.isolate_failures = isolate_failures
        self.failures: list[SlaFailure] = []

    def failed(self, conversation: Conversation, policy_id: int | None, exc: Exception) -> None:
        """Log and note that a policy failed for one conversation (callers isolate it).

        The traceback is logged once per policy and context: a broken calendar fails the same
        way for every conversation of a batch (the caller logs how many)."""
        if all(f.policy_id != policy_id for f in self.failures):
            log.error(
                "SLA policy %s failed for conversation %s; it goes on without that clock",
                policy_id,
                conversation.pk,
                exc_info=exc,
            )
        self.failures.append(
            SlaFailure(
                conversation_id=conversation.pk,
                policy_id=policy_id,
                error=f"{type(exc).__name__}: {exc}"[:2000],
            )
        )

    @cached_property
    def policies(self) -> list[SlaPolicy]:
        policies = active_policies()
        for policy in policies:
            if policy.calendar_id:
                self._specs[policy.calendar_id] = calendar_spec(policy.calendar)
        return policies

    def load_team_calendars(self, conversations: Iterable[Conversation]) -> None:
        """One query for the calendars of the conversations' teams (department loaded with them)."""
        if not self.policies:
            return
        wanted = {
            c.department.calendar_id
            for c in conversations
            if c.department_id and c.department.calendar_id
        } - self._specs.keys()
        if wanted:
            for cal in BusinessCalendar.objects.filter(pk__in=wanted).prefetch_related(
                *CALENDAR_PARTS
            ):
                self._specs[cal.pk] = calendar_spec(cal)

    def choose(self, conversation: Conversation) -> tuple[SlaPolicy | None, int | None]:
        """The matching policy and the key (calendar id, None = 24/7) of its calendar."""
        # A batch has thousands of conversations but a handful of distinct inputs.
        inputs = (
            conversation.channel.kind,
            conversation.channel_id,
            conversation.priority,
            conversation.department_id,
            conversation.flags,
        )
        if inputs not in self._chosen:
            self._chosen[inputs] = self._choose(conversation)
        return self._chosen[inputs]

    def _choose(self, conversation: Conversation) -> tuple[SlaPolicy | None, int | None]:
        policy = choose_policy(conversation, self.policies)
        if policy is None:
            return None, None
        if policy.calendar_id:
            return policy, policy.calendar_id
        if conversation.department_id:
            return policy, conversation.department.calendar_id
        return policy, None

    def spec(self, key: int | None) -> CalendarSpec:
        if key not in self._specs:
            calendar = BusinessCalendar.objects.prefetch_related(*CALENDAR_PARTS).get(pk=key)
            self._specs[key] = calendar_spec(calendar)
        return self._specs[key]

    def spec_json(self, key: int | None) -> dict:
        if key not in self._json:
            self._json[key] = self.spec(key).to_json()
        return self._json[key]

    def warn_and_due(
        self, key: int | None, start: datetime, minutes: int, warn_percent: int
    ) -> tuple[datetime, datetime]:
        if key in self._broken:
            # A fresh exception: raising the same one again would grow its traceback each time.
            broken = self._broken[key]
            raise type(broken)(*broken.args)
        spec = self.spec(key)
        timeline = self._timelines.get(key)
        if not spec.is_24_7 and (timeline is None or start < timeline.origin):
            timeline = self._timelines[key] = _Timeline(spec, start)
        try:
            return _warn_and_due(start, minutes, warn_percent, spec, [], timeline)
        except ValueError as exc:
            # The timeline's generator is spent: keep the error, not a timeline that says
            # StopIteration to the next clock.
            self._timelines.pop(key, None)
            self._broken[key] = exc
            raise


def _pauses(clock: SlaClock) -> list[tuple[datetime, datetime]]:
    return [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in clock.pauses]


def _compute(clock: SlaClock, *, paused: bool) -> None:
    """Set warn_at/due_at from start, target, calendar snapshot and finished pauses."""
    if paused:
        clock.warn_at = clock.due_at = None
        return
    spec = CalendarSpec.from_json(clock.calendar_spec) if clock.calendar_spec else ALWAYS_OPEN
    clock.warn_at, clock.due_at = _warn_and_due(
        clock.started_at, clock.target_minutes, clock.warn_percent, spec, _pauses(clock)
    )


Running = dict[int, dict[str, SlaClock]]


def _running(conversation_ids: Iterable[int]) -> Running:
    """Running clocks by conversation id and kind (one query)."""
    out: Running = {pk: {} for pk in conversation_ids}
    # Uses index: slaclock_running_idx
    for clock in SlaClock.objects.filter(conversation_id__in=out.keys(), stopped_at__isnull=True):
        out[clock.conversation_id][clock.kind] = clock
    return out


# What the hooks read of a running clock they stop or sync but never recompute (not paused).
_LIGHT_CLOCK_FIELDS = (
    "id",
    "conversation_id",
    "kind",
    "started_at",
    "warn_at",
    "due_at",
    "stopped_at",
)


def _running_light(conversation_ids: Iterable[int]) -> Running:
    """_running with only _LIGHT_CLOCK_FIELDS loaded: ingest reads thousands per batch, and the
    calendar and pauses (JSON) cost more to load than everything else."""
    out: Running = {pk: {} for pk in conversation_ids}
    if not out:
        return out
    # Uses index: slaclock_running_idx
    running = SlaClock.objects.filter(conversation_id__in_array=list(out), stopped_at__isnull=True)
    for clock in fetch_instances(running, _LIGHT_CLOCK_FIELDS):
        out[clock.conversation_id][clock.kind] = clock
    return out


def _new_clock(
    conversation: Conversation,
    kind: str,
    *,
    policy: SlaPolicy,
    ctx: SlaContext,
    key: int | None,
    at: datetime,
) -> SlaClock | None:
    """An unsaved clock, due times computed; None when the policy has no such target."""
    minutes = policy.target_minutes(kind)
    if not minutes:
        return None
    clock = SlaClock(
        conversation=conversation,
        kind=kind,
        policy=policy,
        target_minutes=minutes,
        warn_percent=policy.warn_percent,
        calendar_spec=ctx.spec_json(key),
        started_at=at,
    )
    if conversation.sla_paused_at is None:
        clock.warn_at, clock.due_at = ctx.warn_and_due(key, at, minutes, policy.warn_percent)
    return clock


def _ensure_clocks(
    ctx: SlaContext,
    running: Running,
    wanted: Iterable[tuple[Conversation, Sequence[str], datetime]],
    *,
    save: bool = True,
) -> list[SlaClock]:
    """Start the missing clocks of (conversation, kinds, at) from the policy that matches now.

    Returns the new clocks; with save=False the caller inserts them (on_ingested does, once).
    """
    todo = []
    for conv, kinds, at in wanted:
        missing = [k for k in kinds if k not in running[conv.pk]]
        if missing:
            todo.append((conv, missing, at))
    if not todo:
        return []
    ctx.load_team_calendars(conv for conv, _missing, _at in todo)
    new: list[SlaClock] = []
    # Oldest first, so each calendar's timeline is walked once from the earliest start.
    for conv, missing, at in sorted(todo, key=lambda t: t[2]):
        clocks = running[conv.pk]
        policy = None
        try:
            policy, key = ctx.choose(conv)
            if policy is None:
                continue
            made = [
                _new_clock(conv, kind, policy=policy, ctx=ctx, key=key, at=at) for kind in missing
            ]
        except Exception as exc:
            if not ctx.isolate_failures:
                raise
            ctx.failed(conv, policy.pk if policy else None, exc)  # this one starts no clock
            continue
        for clock in made:
            if clock is not None:
                clocks[clock.kind] = clock
                new.append(clock)
    if save:
        _insert_clocks(new)
    return new


_CLOCK_COLUMNS = (
    "conversation_id",
    "kind",
    "policy_id",
    "target_minutes",
    "warn_percent",
    "calendar_spec",
    "started_at",
    "pauses",
    "warn_at",
    "due_at",
    "stopped_at",
)


def _insert_clocks(clocks: list[SlaClock]) -> None:
    """The clocks, inserted in one statement (webcare.db.bulk_insert), their ids set."""
    if not clocks:
        return
    ids = bulk_insert(
        SlaClock,
        {name: [getattr(c, name) for c in clocks] for name in _CLOCK_COLUMNS},
        now=timezone.now(),
        returning=("id",),
    )
    for clock, (pk,) in zip(clocks, ids, strict=True):
        clock.pk = pk
        clock._state.adding = False


def _stop_clocks(
    stops: Sequence[tuple[SlaClock, Conversation, datetime]],
    *,
    inserted: frozenset[int] = frozenset(),
) -> None:
    """Stop clocks; a late stop records (or completes) the breach.

    inserted: ids of clocks just inserted already stopped (on_ingested): no UPDATE for them.
    """
    if not stops:
        return
    for clock, _conv, at in stops:
        clock.stopped_at = at
    bulk_update(
        SlaClock, [clock for clock, _conv, _at in stops if clock.pk not in inserted], ["stopped_at"]
    )
    late = [(c, conv, at) for c, conv, at in stops if c.due_at is not None and at > c.due_at]
    if not late:
        return
    existing = {b.clock_id: b for b in SlaBreach.objects.filter(clock__in=[c for c, *_ in late])}
    create, complete = [], []
    for clock, conv, at in late:
        breach = existing.get(clock.pk)
        if breach is None:
            create.append(
                SlaBreach(
                    clock=clock,
                    conversation=conv,
                    target=clock.kind,
                    due_at=clock.due_at,
                    breached_at=clock.due_at,
                    overdue_by=at - clock.due_at,
                    holder_id=conv.assignee_id,
                    department_id=conv.department_id,
                )
            )
        elif breach.overdue_by is None:
            breach.overdue_by = at - clock.due_at
            complete.append(breach)
    SlaBreach.objects.bulk_create(create)
    SlaBreach.objects.bulk_update(complete, ["overdue_by"])


def _resume(
    conversations: Iterable[Conversation],
    running: Running,
    at: dict[int, datetime],
    ctx: SlaContext | None = None,
):
    """End the pauses (waiting on customer) of these conversations at their `at`.

    With an isolating ctx, a clock whose calendar snapshot fails stays without due times.
    """
    changed = []
    for conv in conversations:
        paused_at = conv.sla_paused_at
        if paused_at is None:
            continue
        conv.sla_paused_at = None
        for clock in running[conv.pk].values():
            if at[conv.pk] > paused_at:
                span = [
                    paused_at.astimezone(UTC).isoformat(),
                    at[conv.pk].astimezone(UTC).isoformat(),
                ]
                clock.pauses = [*clock.pauses, span]
            try:
                _compute(clock, paused=False)
            except Exception as exc:
                if ctx is None or not ctx.isolate_failures:
                    raise
                clock.warn_at = clock.due_at = None  # resumed, but no due time to show
                ctx.failed(conv, clock.policy_id, exc)
            changed.append(clock)
    if changed:
        SlaClock.objects.bulk_update(changed, ["pauses", "warn_at", "due_at"])


def _sla_fields(conversation: Conversation, clocks: Iterable[SlaClock], at: datetime) -> dict:
    """The conversation's denormalised SLA fields from its running clocks (the sweep reads these)."""
    by_kind = {c.kind: c for c in clocks if c.stopped_at is None}
    dues = [c.due_at for c in by_kind.values() if c.due_at]
    warns = [c.warn_at for c in by_kind.values() if c.warn_at]
    due = min(dues) if dues else None
    warn = min(warns) if warns else None
    old = conversation.sla_state
    if due is None:
        state = SlaState.NONE
    elif at >= due and old == SlaState.OVERDUE:
        state = SlaState.OVERDUE
    elif warn is not None and at >= warn and due > at and old == SlaState.AT_RISK:
        state = SlaState.AT_RISK
    else:
        # Anything past a threshold is left to the sweep, which notifies (once per clock).
        state = SlaState.OK
    return {
        "first_response_due_at": _due(by_kind, SlaTarget.FIRST_RESPONSE),
        "next_response_due_at": _due(by_kind, SlaTarget.NEXT_RESPONSE),
        "resolution_due_at": _due(by_kind, SlaTarget.RESOLUTION),
        "sla_warn_at": warn,
        "sla_due_at": due,
        "sla_state": state,
        "sla_paused_at": conversation.sla_paused_at,
        "first_response_at": conversation.first_response_at,
    }


def _snapshot(conversations: Iterable[Conversation]) -> dict[int, tuple]:
    return {c.pk: tuple(getattr(c, f) for f in SLA_FIELDS) for c in conversations}


def _sync(
    conversations: Sequence[Conversation],
    running: Running,
    at: dict[int, datetime],
    *,
    before: dict[int, tuple] | None = None,
) -> None:
    """Copy the running clocks' due times onto the conversations.

    Writes every conversation, or with `before` (a _snapshot taken when they
    were loaded) only those whose fields changed: one UPDATE either way.
    """
    changed = _sync_in_memory(conversations, running, at, before=before)
    if len(changed) == 1 and before is None:
        # update(), not save(): the caller may hold other unsaved changes it saves itself.
        Conversation.objects.filter(pk=changed[0].pk).update(
            **{f: getattr(changed[0], f) for f in SLA_FIELDS}
        )
    elif changed:
        bulk_update(Conversation, changed, list(SLA_FIELDS))


def _sync_in_memory(
    conversations: Sequence[Conversation],
    running: Running,
    at: dict[int, datetime],
    *,
    before: dict[int, tuple] | None = None,
) -> list[Conversation]:
    """_sync without the write: set the fields, return the conversations that changed."""
    changed = []
    for conv in conversations:
        fields = _sla_fields(conv, running[conv.pk].values(), at[conv.pk])
        for name, value in fields.items():
            setattr(conv, name, value)
        if before is None or before[conv.pk] != tuple(fields.values()):
            changed.append(conv)
    return changed


def _due(by_kind: dict[str, SlaClock], kind: str) -> datetime | None:
    clock = by_kind.get(kind)
    return clock.due_at if clock else None


# What the policy choice and the clock rules read of a conversation, by column (the binary read
# of fetch_with_sla_fields) and with the related rows' fields (with_sla_fields' join).
_SLA_READ_ATTNAMES = (
    "id",
    "channel_id",
    "department_id",
    "previous_id",
    "status",
    "priority",
    "flags",
    "assignee_id",
    "received_at",
    "last_inbound_at",
    *SLA_FIELDS,
)
SLA_READ_FIELDS = (
    *_SLA_READ_ATTNAMES,
    "channel__kind",
    "department__calendar_id",
    "previous__first_response_at",
)


def with_sla_fields(queryset, *extra: str):
    """queryset loading what the SLA rules read (plus `extra` fields), related rows joined."""
    return queryset.select_related("channel", "department", "previous").only(
        *SLA_READ_FIELDS, *extra
    )


def fetch_with_sla_fields(queryset, *extra: str) -> list[Conversation]:
    """with_sla_fields() for the hot paths (ingest): the conversations of queryset read with
    webcare.db.fetch_instances (binary on PostgreSQL), their channel, team and previous
    conversation attached from one small query each instead of a join per row (a join would
    also put the nullable sides under the queryset's FOR UPDATE)."""
    convs = fetch_instances(queryset, (*_SLA_READ_ATTNAMES, *extra))
    channels = Channel.objects.only("id", "kind").in_bulk({c.channel_id for c in convs})
    departments = Department.objects.only("id", "calendar_id").in_bulk(
        {c.department_id for c in convs if c.department_id}
    )
    previous = Conversation.objects.only("id", "first_response_at").in_bulk(
        {c.previous_id for c in convs if c.previous_id}
    )
    for conv in convs:
        conv.channel = channels[conv.channel_id]
        if conv.department_id:
            conv.department = departments[conv.department_id]
        if conv.previous_id:
            conv.previous = previous[conv.previous_id]
    return convs


def _load(conversation_ids: Iterable[int], **filters) -> list[Conversation]:
    """The conversations with what the policy choice and the clock rules read (one query)."""
    return list(
        with_sla_fields(Conversation.objects.filter(pk__in=list(conversation_ids), **filters))
    )


# --- The rules, one conversation at a time (pure decisions) --------------------


def _opening_kinds(conversation: Conversation) -> list[str]:
    """The clocks a new conversation needs.

    A follow-up of an answered conversation starts with a next response; one
    already answered never gets a second first response (so calling twice is
    harmless); our own post without a customer message needs none.
    """
    if conversation.last_inbound_at is None or conversation.status in END_STATUSES:
        return []
    kinds = [SlaTarget.RESOLUTION]
    if conversation.first_response_at is None:
        previous = conversation.previous if conversation.previous_id else None
        is_followup = previous is not None and previous.first_response_at is not None
        kinds.insert(0, SlaTarget.NEXT_RESPONSE if is_followup else SlaTarget.FIRST_RESPONSE)
    return kinds


def _customer_kinds(
    conversation: Conversation, at: datetime, last_response: datetime | None = None
) -> list[str]:
    """After a customer message: a resolution clock, and a next response once we had replied.

    A message older than our latest response (a response clock stopped after
    it) was answered already: no next response, so calling twice is harmless.
    """
    kinds = [SlaTarget.RESOLUTION]
    answered = conversation.first_response_at
    if answered is not None and at > answered and (last_response is None or at > last_response):
        kinds.insert(0, SlaTarget.NEXT_RESPONSE)
    return kinds


def _last_responses(conversation_ids: Iterable[int]) -> dict[int, datetime]:
    """When each conversation's latest first/next-response clock stopped (one query)."""
    return dict(
        SlaClock.objects.filter(
            conversation_id__in_array=list(conversation_ids),
            kind__in=RESPONSE_KINDS,
            stopped_at__isnull=False,
        )
        .values("conversation_id")
        .annotate(last=Max("stopped_at"))
        .values_list("conversation_id", "last")
    )


def _answered_clock(conversation: Conversation, clocks: dict[str, SlaClock], at: datetime):
    """Record a response at `at`: the first-response (else next-response) clock it stops, if any.

    A clock that started after the response (the customer wrote again) is not
    answered by it; a post before the first customer message is no response.
    """
    clock = None
    for kind in RESPONSE_KINDS:
        candidate = clocks.get(kind)
        if candidate is not None and candidate.started_at <= at:
            clock = clocks.pop(kind)
            break
    if conversation.first_response_at is None and (
        conversation.received_at is None or at >= conversation.received_at
    ):
        conversation.first_response_at = at
    return clock


# --- Hooks other code calls ----------------------------------------------------


def on_conversation_opened(conversation: Conversation, at: datetime | None = None) -> None:
    """Call once when a conversation is created (ingest calls on_conversations_opened).

    Starts the first-response and resolution clocks from `at` (the first
    message's time, normally conversation.received_at). A follow-up of an
    answered conversation (conversation.previous with a first response) starts
    a next-response clock instead of a new first response.
    """
    at = at or conversation.received_at or timezone.now()
    _opened([conversation], {conversation.pk: at})


def on_conversations_opened(*, conversation_ids: Sequence[int]) -> None:
    """Bulk on_conversation_opened for ingest: clocks start at each conversation's received_at.

    Inside the batch's transaction. A fixed number of queries whatever the
    batch size; one query when no policy is active.
    """
    if not conversation_ids:
        return
    ctx = SlaContext()
    if not ctx.policies:
        return  # nothing can start; a new conversation has no clock to sync
    convs = _load(conversation_ids)
    _opened(convs, {c.pk: c.received_at or timezone.now() for c in convs}, ctx, bulk=True)


def _opened(
    convs: Sequence[Conversation],
    at: dict[int, datetime],
    ctx: SlaContext | None = None,
    *,
    bulk: bool = False,
) -> None:
    before = _snapshot(convs) if bulk else None
    ctx = ctx or SlaContext()
    running = _running(at)
    _ensure_clocks(ctx, running, [(c, _opening_kinds(c), at[c.pk]) for c in convs])
    _sync(convs, running, at, before=before)


def on_customer_message(conversation: Conversation, at: datetime | None = None) -> None:
    """Call when an inbound message joins an existing conversation (ingest: on_customer_messages).

    Ends a pause (waiting on customer), starts a next-response clock when we had
    already replied (unless one runs), and on a reopened conversation starts a
    new resolution clock. Calling it twice for the same message is harmless.
    """
    at = at or timezone.now()
    _customer_wrote([conversation], {conversation.pk: at})


def on_customer_messages(*, conversation_ids: Sequence[int]) -> None:
    """Bulk on_customer_message for ingest, at each conversation's last_inbound_at.

    Inside the batch's transaction, after the conversations were updated (a
    reopen already set the status). With no active policy only paused
    conversations are loaded: their pause still ends.
    """
    if not conversation_ids:
        return
    ctx = SlaContext()
    filters = {} if ctx.policies else {"sla_paused_at__isnull": False}
    convs = [c for c in _load(conversation_ids, **filters) if c.last_inbound_at is not None]
    if convs:
        _customer_wrote(convs, {c.pk: c.last_inbound_at for c in convs}, ctx, bulk=True)


def _customer_wrote(
    convs: Sequence[Conversation],
    at: dict[int, datetime],
    ctx: SlaContext | None = None,
    *,
    bulk: bool = False,
) -> None:
    before = _snapshot(convs) if bulk else None
    ctx = ctx or SlaContext()
    running = _running(at)
    _resume(convs, running, at)
    last = _last_responses(at)
    _ensure_clocks(
        ctx, running, [(c, _customer_kinds(c, at[c.pk], last.get(c.pk)), at[c.pk]) for c in convs]
    )
    _sync(convs, running, at, before=before)


def on_agent_reply(
    conversation: Conversation,
    at: datetime | None = None,
    user=None,
    automatic: bool = False,
    internal: bool = False,
) -> None:
    """Call when a reply is sent (public or private message), after it was accepted.

    Stops the first-response clock (and records conversation.first_response_at),
    or else the running next-response clock. Automatic acknowledgements
    (automatic=True), internal notes (internal=True) and replies without a
    person (user=None) do not count and change nothing.
    """
    if automatic or internal or user is None:
        return
    at = at or timezone.now()
    _responded([conversation], {conversation.pk: at})


def on_own_responses(
    *, conversation_ids: Sequence[int], at: dict[int, datetime] | None = None
) -> None:
    """Bulk on_agent_reply for ingest: our own account answered outside the app.

    That counts as a response by a person of the organisation. `at` maps
    conversation id -> time of our latest outbound message; without it the
    times are read from the messages (one more query).
    """
    if not conversation_ids:
        return
    if at is None:
        at = dict(
            Message.objects.filter(
                conversation_id__in=list(conversation_ids), direction=Direction.OUTBOUND
            )
            .values("conversation_id")
            .annotate(last=Max("created_at"))
            .values_list("conversation_id", "last")
        )
    convs = [c for c in _load(conversation_ids) if c.pk in at]
    if convs:
        _responded(convs, at, bulk=True)


def _responded(
    convs: Sequence[Conversation], at: dict[int, datetime], *, bulk: bool = False
) -> None:
    before = _snapshot(convs) if bulk else None
    running = _running([c.pk for c in convs])
    stops = []
    for conv in convs:
        clock = _answered_clock(conv, running[conv.pk], at[conv.pk])
        if clock is not None:
            stops.append((clock, conv, at[conv.pk]))
    _stop_clocks(stops)
    _sync(convs, running, at, before=before)


def on_ingested(
    *, opened: Sequence[int], customer: Sequence[int], responded: dict[int, datetime]
) -> None:
    """The three bulk hooks for one ingest batch in one go, with the same result as
    on_conversations_opened(opened), on_customer_messages(customer) and
    on_own_responses(responded) called in that order.

    Why: a batch mostly opens conversations that our own account answers in the same batch.
    Called one by one, the hooks load those conversations three times, insert clocks, read them
    back, stop them, and write each conversation twice. Here the conversations and their
    running clocks are loaded once, the rules run in memory in the same order (plan_ingested),
    clocks started and answered within the batch are inserted already stopped, and every
    changed conversation is written once.
    """
    ctx = SlaContext()
    if not ctx.policies:
        # No clock can start: only pauses end and responses are recorded (cheap paths).
        on_customer_messages(conversation_ids=customer)
        on_own_responses(conversation_ids=sorted(responded), at=responded)
        return
    ids = set(opened) | set(customer) | set(responded)
    if not ids:
        return
    convs = {c.pk: c for c in _load(ids)}
    plan = plan_ingested(
        conversations=convs, opened=opened, customer=customer, responded=responded, ctx=ctx
    )
    save_clocks_of_new(plan)
    bulk_update(Conversation, plan.changed, list(SLA_FIELDS))


@dataclass
class PendingClocks:
    """Clocks decided in memory, not written yet (see plan_ingested, start_clocks_of_new)."""

    clocks: list[SlaClock]
    stops: list[tuple[SlaClock, Conversation, datetime]]
    # Conversations whose SLA_FIELDS changed (set on the objects; the caller writes them).
    changed: list[Conversation] = field(default_factory=list)


def plan_ingested(
    *,
    conversations: dict[int, Conversation],
    opened: Sequence[int],
    customer: Sequence[int],
    responded: dict[int, datetime],
    ctx: SlaContext | None = None,
) -> PendingClocks:
    """on_ingested without its writes, for ingest, which writes the conversations itself.

    conversations: pk -> conversation loaded with with_sla_fields() (and locked), already
    showing what this batch changes (status after a reopen, last_inbound_at, flags,
    received_at); it must hold every pk of opened, customer and responded. Reads the running
    clocks and the last responses (two queries); sets the SLA fields on the objects. Write the
    returned clocks with save_clocks_of_new and the `changed` conversations' SLA_FIELDS.
    """
    ctx = ctx or SlaContext()
    if not ctx.policies:
        # As on_ingested's cheap paths: nothing opens, of the customers only pauses end.
        opened = []
        customer = [pk for pk in customer if conversations[pk].sla_paused_at is not None]
    ids = set(opened) | set(customer) | set(responded)
    if not ids:
        return PendingClocks([], [])
    convs = {pk: conversations[pk] for pk in ids}
    before = _snapshot(convs.values())
    # Only a paused conversation's clocks are recomputed (_resume): the rest load light.
    paused = {pk for pk, conv in convs.items() if conv.sla_paused_at is not None}
    running = _running(paused)
    running.update(_running_light(pk for pk in convs if pk not in paused))
    new: list[SlaClock] = []

    # 1. Opened: clocks from each conversation's first message.
    group = [convs[pk] for pk in opened]
    at = {c.pk: c.received_at or timezone.now() for c in group}
    new += _ensure_clocks(
        ctx, running, [(c, _opening_kinds(c), at[c.pk]) for c in group], save=False
    )
    _sync_in_memory(group, running, at)

    # 2. Customers wrote again (existing conversations): end pauses, next response, resolution.
    group = [convs[pk] for pk in customer if convs[pk].last_inbound_at is not None]
    if group:
        at = {c.pk: c.last_inbound_at for c in group}
        _resume(group, running, at, ctx)  # writes the few resumed clocks itself
        last = _last_responses(at)
        new += _ensure_clocks(
            ctx,
            running,
            [(c, _customer_kinds(c, at[c.pk], last.get(c.pk)), at[c.pk]) for c in group],
            save=False,
        )
        _sync_in_memory(group, running, at)

    # 3. Our own account answered: stop the response clocks it answers.
    group = [convs[pk] for pk in sorted(responded)]
    stops = []
    for conv in group:
        clock = _answered_clock(conv, running[conv.pk], responded[conv.pk])
        if clock is not None:
            clock.stopped_at = responded[conv.pk]
            stops.append((clock, conv, responded[conv.pk]))
    _sync_in_memory(group, running, responded)

    changed = [
        conv
        for conv in convs.values()
        if before[conv.pk] != tuple(getattr(conv, f) for f in SLA_FIELDS)
    ]
    return PendingClocks(new, stops, changed)


def start_clocks_of_new(
    *,
    conversations: Sequence[Conversation],
    responded: dict[int, datetime],
    ctx: SlaContext | None = None,
) -> PendingClocks:
    """on_conversations_opened then on_own_responses for conversations ingest is ABOUT to insert.

    Why: a conversation row is expensive to update right after its insert (every index,
    the full-text ones included, gets a second entry), and the hooks would write the SLA
    fields of nearly every new conversation. Here they are computed first, ingest inserts
    the rows with them, and save_clocks_of_new writes the clocks once the rows have ids.

    conversations: unsaved, each with a temporary (negative) pk, its channel set, and the
    fields the rules read (status, priority, department, flags, received_at,
    last_inbound_at, previous_id). responded: temporary pk -> time of our latest own
    message in the batch. The SLA fields are set on the objects in place.
    """
    if not conversations:
        return PendingClocks([], [])
    ctx = ctx or SlaContext()
    by_pk = {c.pk: c for c in conversations}
    previous_ids = {c.previous_id for c in conversations if c.previous_id}
    if previous_ids:
        previous = Conversation.objects.only("id", "first_response_at").in_bulk(previous_ids)
        for conv in conversations:
            if conv.previous_id in previous:
                conv.previous = previous[conv.previous_id]
    running: Running = {pk: {} for pk in by_pk}
    at = {c.pk: c.received_at or timezone.now() for c in conversations}
    new = _ensure_clocks(
        ctx, running, [(c, _opening_kinds(c), at[c.pk]) for c in conversations], save=False
    )
    _sync_in_memory(conversations, running, at)
    group = [by_pk[pk] for pk in sorted(responded) if pk in by_pk]
    stops = []
    for conv in group:
        clock = _answered_clock(conv, running[conv.pk], responded[conv.pk])
        if clock is not None:
            clock.stopped_at = responded[conv.pk]
            stops.append((clock, conv, responded[conv.pk]))
    _sync_in_memory(group, running, responded)
    return PendingClocks(new, stops)


def save_clocks_of_new(pending: PendingClocks) -> None:
    """Write pending clocks (start_clocks_of_new: after the conversations got their real pks)."""
    for clock in pending.clocks:
        clock.conversation_id = clock.conversation.pk
    _insert_clocks(pending.clocks)
    _stop_clocks(pending.stops, inserted=frozenset(c.pk for c in pending.clocks))


def on_status_changed(
    conversation: Conversation, old: str, new: str, at: datetime | None = None
) -> None:
    """Call after a status change (close, wait on customer, reopen...).

    waiting -> pauses every running clock; leaving waiting -> resumes them;
    an end status (closed, no reply needed, hidden) stops every clock; leaving
    an end status (reopen) starts a next-response and a resolution clock.
    """
    at = at or timezone.now()
    _statuses_changed([conversation], {conversation.pk: old}, new, {conversation.pk: at})


def on_statuses_changed(
    *,
    conversations: Sequence[Conversation],
    old: dict[int, str],
    new: str,
    at: datetime | None = None,
) -> None:
    """Bulk on_status_changed (bulk triage): the same rules, a fixed number of queries.

    conversations: loaded with with_sla_fields() (and locked), already in status `new`;
    old: conversation id -> status before the change. Inside the caller's transaction.
    """
    if not conversations:
        return
    at = at or timezone.now()
    _statuses_changed(
        conversations, old, new, dict.fromkeys((c.pk for c in conversations), at), bulk=True
    )


def _statuses_changed(
    convs: Sequence[Conversation],
    old: dict[int, str],
    new: str,
    at: dict[int, datetime],
    *,
    bulk: bool = False,
) -> None:
    # Only a change into or out of an end status or "waiting" touches the clocks (new -> triaged
    # -> assigned does not): the others are left as they are, at no cost.
    convs = [
        c
        for c in convs
        if new in END_STATUSES
        or new == Status.WAITING
        or old[c.pk] == Status.WAITING
        or old[c.pk] in END_STATUSES
    ]
    if not convs:
        return
    before = _snapshot(convs) if bulk else None
    running = _running(c.pk for c in convs)
    stops, paused, resumed, reopened = [], [], [], []
    for conv in convs:
        pk = conv.pk
        if new in END_STATUSES:
            conv.sla_paused_at = None
            stops += [(clock, conv, at[pk]) for clock in running[pk].values()]
            running[pk] = {}
        elif new == Status.WAITING and conv.sla_paused_at is None:
            conv.sla_paused_at = at[pk]
            for clock in running[pk].values():
                _compute(clock, paused=True)
                paused.append(clock)
        elif old[pk] == Status.WAITING and conv.sla_paused_at is not None:
            resumed.append(conv)
        if old[pk] in END_STATUSES and new not in END_STATUSES:
            reopened.append(conv)
    _stop_clocks(stops)
    bulk_update(SlaClock, paused, ["warn_at", "due_at"])
    _resume(resumed, running, at)
    if reopened:
        _ensure_clocks(
            SlaContext(), running, [(c, _customer_kinds(c, at[c.pk]), at[c.pk]) for c in reopened]
        )
    _sync(convs, running, at, before=before)


def on_priority_or_department_changed(
    conversation: Conversation, at: datetime | None = None
) -> None:
    """Call after the priority, flags or team (forward) of a conversation changed.

    Re-chooses the policy and calendar and recomputes every running clock from
    its own start (a forward never restarts or stops a clock). A target the new
    policy lacks stops its clock; a clock the new policy adds starts from the
    moment it would have started (received_at, or now for a next response).
    """
    at = at or timezone.now()
    _recomputed([conversation], {conversation.pk: at})


def on_priorities_or_departments_changed(
    *, conversations: Sequence[Conversation], at: datetime | None = None
) -> None:
    """Bulk on_priority_or_department_changed (bulk forward, flag, priority): a fixed number
    of queries whatever the batch size.

    conversations: loaded with with_sla_fields() (and locked), already showing the new
    priority, flags or team (with its calendar_id). Inside the caller's transaction.
    """
    if not conversations:
        return
    at = at or timezone.now()
    _recomputed(conversations, dict.fromkeys((c.pk for c in conversations), at), bulk=True)


# What a recompute changes on a running clock.
_RECOMPUTED_CLOCK_FIELDS = [
    "policy",
    "target_minutes",
    "warn_percent",
    "calendar_spec",
    "warn_at",
    "due_at",
]


def _recomputed(
    convs: Sequence[Conversation], at: dict[int, datetime], *, bulk: bool = False
) -> None:
    before = _snapshot(convs) if bulk else None
    running = _running(at)
    ctx = SlaContext()
    ctx.load_team_calendars(convs)
    ended, recomputed, wanting = [], [], []
    for conv in convs:
        clocks = running[conv.pk]
        policy, key = ctx.choose(conv)
        paused = conv.sla_paused_at is not None
        for kind, clock in list(clocks.items()):
            minutes = policy.target_minutes(kind) if policy else None
            if not minutes:
                # No target any more: the clock ends without a verdict (no breach).
                clock.stopped_at = at[conv.pk]
                ended.append(clock)
                del clocks[kind]
                continue
            clock.policy = policy
            clock.target_minutes = minutes
            clock.warn_percent = policy.warn_percent
            clock.calendar_spec = ctx.spec_json(key)
            _compute(clock, paused=paused)
            recomputed.append(clock)
        if policy is not None and conv.status not in END_STATUSES:
            wanting.append(conv)
    bulk_update(SlaClock, ended, ["stopped_at"])
    bulk_update(SlaClock, recomputed, _RECOMPUTED_CLOCK_FIELDS)
    if wanting:
        # A resolution clock that ever ran (stopped or not) is not started again.
        had_resolution = set(
            SlaClock.objects.filter(
                conversation_id__in=[c.pk for c in wanting], kind=SlaTarget.RESOLUTION
            )
            .values_list("conversation_id", flat=True)
            .distinct()
        )
        wanted = []
        for conv in wanting:
            kinds = []
            if conv.first_response_at is None:
                kinds.append(SlaTarget.FIRST_RESPONSE)
            if conv.pk not in had_resolution:
                kinds.append(SlaTarget.RESOLUTION)
            wanted.append((conv, kinds, conv.received_at))
        _ensure_clocks(ctx, running, wanted)
    _sync(convs, running, at, before=before)


# --- The sweep -----------------------------------------------------------------


@dataclass
class SweepResult:
    at_risk: list[int]
    overdue: list[int]
    breaches: int

    @property
    def changed(self) -> int:
        return len(self.at_risk) + len(self.overdue)


def sweep_sla(*, now: datetime | None = None, enqueue_notifications: bool = True) -> SweepResult:
    """Mark conversations at risk / overdue whose thresholds passed; record breaches.

    Two conditional UPDATEs, each served by a partial index, touch only rows
    that crossed a threshold since the last sweep: running it twice changes
    nothing the second time, and its cost grows with what changed, not with
    what is open. Notifications go out from a task after commit.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # Uses index: conv_sla_due_idx (sla_due_at WHERE sla_state IN ('ok', 'at_risk')).
        overdue = update_returning_pks(
            Conversation.objects.filter(
                sla_state__in=[SlaState.OK, SlaState.AT_RISK], sla_due_at__lte=now
            ),
            sla_state=SlaState.OVERDUE,
        )
        # Uses index: conv_sla_warn_idx (sla_warn_at WHERE sla_state = 'ok').
        at_risk = update_returning_pks(
            Conversation.objects.filter(
                sla_state=SlaState.OK, sla_warn_at__lte=now, sla_due_at__gt=now
            ),
            sla_state=SlaState.AT_RISK,
        )
        breaches = _record_breaches(overdue, now=now) if overdue else 0
        ConversationEvent.objects.bulk_create(
            [ConversationEvent(conversation_id=pk, kind="sla_overdue") for pk in overdue]
            + [ConversationEvent(conversation_id=pk, kind="sla_at_risk") for pk in at_risk]
        )
        if enqueue_notifications:
            for state, ids in ((SlaState.OVERDUE, overdue), (SlaState.AT_RISK, at_risk)):
                for i in range(0, len(ids), NOTIFY_CHUNK):
                    enqueue("routing.notify_sla", ids[i : i + NOTIFY_CHUNK], str(state))
    return SweepResult(at_risk=at_risk, overdue=overdue, breaches=breaches)


def _record_breaches(conversation_ids: list[int], *, now: datetime) -> int:
    rows = SlaClock.objects.filter(
        conversation_id__in=conversation_ids, stopped_at__isnull=True, due_at__lte=now
    ).values_list(
        "id",
        "conversation_id",
        "kind",
        "due_at",
        "conversation__assignee_id",
        "conversation__department_id",
    )
    breaches = [
        SlaBreach(
            clock_id=clock_id,
            conversation_id=conv_id,
            target=kind,
            due_at=due_at,
            breached_at=due_at,
            holder_id=holder_id,
            department_id=dept_id,
        )
        for clock_id, conv_id, kind, due_at, holder_id, dept_id in rows
    ]
    # ignore_conflicts: the clock's breach may exist already (a second sweep, a late stop).
    SlaBreach.objects.bulk_create(breaches, ignore_conflicts=True)
    return len(breaches)


def record_policy_failures(failures: Sequence[SlaFailure], *, at: datetime) -> None:
    """Count on each policy the conversations it failed for, with the latest error, for the SLA
    settings page. Ingest calls it after its batch committed (a short UPDATE per policy, so
    ingest of other channels never waits on a policy row)."""
    by_policy: dict[int, list[SlaFailure]] = defaultdict(list)
    for failure in failures:
        if failure.policy_id is not None:
            by_policy[failure.policy_id].append(failure)
    for policy_id, items in sorted(by_policy.items()):
        SlaPolicy.objects.filter(pk=policy_id).update(
            failure_count=F("failure_count") + len(items),
            last_failure=items[-1].error,
            last_failure_at=at,
        )


# --- Escalation ------------------------------------------------------------------


def is_urgent(conversation: Conversation) -> bool:
    return bool(conversation.flags & URGENT_FLAGS) or conversation.priority >= Priority.URGENT


def oncall_users(department: Department, at: datetime, shifts: Iterable[OnCallShift] | None = None):
    """Who is on call for a team at this moment (wall times in the team calendar's zone)."""
    tz = ZoneInfo(department.calendar.timezone if department.calendar_id else settings.TIME_ZONE)
    local = at.astimezone(tz)
    today, now_t = local.date(), local.time()
    users = []
    for shift in department.oncall_shifts.all() if shifts is None else shifts:
        if shift.start < shift.end:
            day = today if shift.start <= now_t < shift.end else None
        elif now_t >= shift.start:
            day = today
        elif now_t < shift.end:
            day = today - timedelta(days=1)  # started yesterday evening
        else:
            day = None
        if day is None:
            continue
        if shift.weekdays and day.weekday() not in [int(d) for d in shift.weekdays]:
            continue
        if shift.start_date and day < shift.start_date:
            continue
        if shift.end_date and day > shift.end_date:
            continue
        users.append(shift.user)
    return users


def _recipients(
    conversation: Conversation,
    state: str,
    *,
    members: dict[int, list[Membership]],
    coordinators: list,
    now: datetime,
) -> list:
    users = []
    if conversation.assignee_id:
        users.append(conversation.assignee)
    dept = conversation.department
    if dept is None:
        # The shared inbox's team is the coordinators.
        users.extend(coordinators)
        return users
    team = members.get(dept.pk, [])
    if state == SlaState.AT_RISK:
        users.extend(m.user for m in team)
    else:
        users.extend(m.user for m in team)
        users.extend(coordinators)
    if is_urgent(conversation):
        spec = calendar_spec(dept.calendar) if dept.calendar_id else None
        if spec is not None and not is_open_at(spec, now):
            users.extend(oncall_users(dept, now))
    return users


def notify_sla_state(
    *, conversation_ids: Sequence[int], state: str, now: datetime | None = None
) -> int:
    """Notify about conversations the sweep marked at risk or overdue; returns notifications made.

    At risk: the assignee and the team. Overdue: also the coordinators (and so
    the team lead, who is in the team). Urgent items while the team's calendar
    is closed: also the on-call person of the moment. One notification per
    user per clock and state (dedupe_key), so a re-run sends nothing twice.
    An optional webhook (settings.SLA_WEBHOOK_URL) gets a Slack/Teams-style
    {"text": ...} after commit.
    """
    from inbox.services.notifications import notify_users
    from webcare.accounts.models import Role, User

    now = now or timezone.now()
    convs = list(
        Conversation.objects.filter(pk__in=conversation_ids, sla_state=state)
        .select_related("assignee", "department", "department__calendar")
        .prefetch_related(
            "department__calendar__windows",
            "department__calendar__closures",
            "department__calendar__reopened_holidays",
            "department__oncall_shifts__user",
        )
    )
    if not convs:
        return 0
    field = "due_at" if state == SlaState.OVERDUE else "warn_at"
    clocks: dict[int, list[SlaClock]] = defaultdict(list)
    for clock in SlaClock.objects.filter(
        conversation_id__in=[c.pk for c in convs],
        stopped_at__isnull=True,
        **{f"{field}__lte": now},
    ):
        clocks[clock.conversation_id].append(clock)
    members: dict[int, list[Membership]] = defaultdict(list)
    for m in Membership.objects.filter(
        department_id__in={c.department_id for c in convs if c.department_id}
    ).select_related("user"):
        members[m.department_id].append(m)
    coordinators = list(User.objects.filter(role=Role.COORDINATOR, is_active=True))
    labels = dict(SlaTarget.choices)
    made = 0
    lines = []
    with transaction.atomic():
        for conv in convs:
            recipients = _recipients(
                conv, state, members=members, coordinators=coordinators, now=now
            )
            for clock in clocks.get(conv.pk, []):
                params = {"target": labels[clock.kind], "id": conv.pk, "snippet": conv.snippet[:60]}
                if state == SlaState.OVERDUE:
                    text = _("Overdue: %(target)s for #%(id)s (%(snippet)s)") % params
                else:
                    text = _("At risk: %(target)s for #%(id)s (%(snippet)s)") % params
                created = notify_users(
                    users=recipients,
                    kind=f"sla_{state}",
                    text=text,
                    url=conv.get_absolute_url(),
                    conversation=conv,
                    dedupe_key=f"sla-{state}:{conv.pk}:{clock.kind}:{clock.pk}",
                )
                if created:
                    made += len(created)
                    lines.append(text)
        url = getattr(settings, "SLA_WEBHOOK_URL", "")
        if url and lines:
            body = {"text": "\n".join(lines)}
            transaction.on_commit(lambda: post_webhook(url, body))
    return made


def post_webhook(url: str, body: dict) -> bool:
    """POST a Slack/Teams-compatible JSON message; failures are logged, never raised."""
    import requests

    try:
        response = requests.post(url, json=body, timeout=5)
        response.raise_for_status()
    except requests.RequestException:
        log.warning("SLA webhook to %s failed", url, exc_info=True)
        return False
    return True


# --- Routing rules: apply the ordered rules to freshly ingested conversations ------------


def routing_input_for(conversation) -> RoutingInput:
    return RoutingInput(
        text=conversation.snippet,
        channel_id=conversation.channel_id,
        language=conversation.language,
        sentiment=conversation.sentiment,
        flags=conversation.flags,
        contact_tags=tuple(conversation.contact.tags or ()),
    )


def apply_routing(
    *,
    conversation_ids: Iterable[int],
    on_error: Callable[[int, Exception], None] | None = None,
) -> dict[int, int]:
    """Match each new, not yet forwarded conversation against the active rules.

    Called by ingest after a batch (system actor). A matching rule stores its department as the
    suggestion, forwards automatically when the rule says so, and sets the priority. One event
    per conversation that changed, written in bulk. Returns {conversation_id: rule_id}.

    A rule that fails for a conversation (bad data written around the rule form), or an SLA
    recompute that fails after its forward, is logged and handed to on_error(conversation id,
    error); that conversation stays as it was (unrouted, or routed with its clocks as they
    were) and the others are routed. Without on_error the error propagates.
    """
    from inbox.models import Conversation, ConversationEvent, Status
    from routing.models import RoutingRule

    rules = list(RoutingRule.objects.filter(active=True).order_by("order", "id"))
    if not rules:
        return {}
    matched: dict[int, int] = {}
    failed = 0
    with transaction.atomic():
        conversations = list(
            Conversation.objects.select_for_update(no_key=True, of=("self",))
            .select_related("contact")
            .filter(pk__in=list(conversation_ids), status=Status.NEW, department__isnull=True)
        )
        events = []
        reclock: list[int] = []
        now = timezone.now()
        by_rule: dict[int, list[int]] = defaultdict(list)
        for conv in conversations:
            try:
                rule = first_matching_rule(rules, routing_input_for(conv))
            except Exception as exc:
                if on_error is None:
                    raise
                # The traceback once per call: one broken rule fails for the whole batch.
                log.error(
                    "routing rules failed for conversation %s",
                    conv.pk,
                    exc_info=exc if not failed else None,
                )
                failed += 1
                on_error(conv.pk, exc)
                continue
            if rule is not None:
                by_rule[rule.pk].append(conv.pk)
        for rule in rules:
            ids = by_rule.get(rule.pk)
            updates: dict = {}
            if rule.department_id:
                updates["suggested_department_id"] = rule.department_id
                if rule.auto_forward:
                    updates["department_id"] = rule.department_id
                    updates["status"] = Status.TRIAGED
            if rule.set_priority is not None:
                updates["priority"] = rule.set_priority
            if not ids or not updates:
                continue
            # One UPDATE per rule that matched: its actions are the same for every row.
            Conversation.objects.filter(pk__in=ids).update(
                **updates, version=F("version") + 1, updated_at=now
            )
            data = {
                "rule_id": rule.pk,
                "rule": rule.name,
                **{k: v for k, v in updates.items() if k != "status"},
            }
            kind = "auto_forwarded" if "department_id" in updates else "routed"
            events += [
                ConversationEvent(conversation_id=pk, actor=None, kind=kind, data=data)
                for pk in ids
            ]
            matched.update(dict.fromkeys(ids, rule.pk))
            if "priority" in updates or "department_id" in updates:
                reclock += ids
        ConversationEvent.objects.bulk_create(events)
        # A new priority or team can mean another SLA policy or calendar for the running clocks:
        # recomputed together (one policy and calendar load for the batch, not one per row).
        reclocked = list(with_sla_fields(Conversation.objects.filter(pk__in=reclock)))
        if on_error is None:
            on_priorities_or_departments_changed(conversations=reclocked, at=now)
        elif reclocked:
            _reclock_isolated(reclocked, at=now, on_error=on_error)
    return matched


def _reclock_isolated(
    conversations: list[Conversation], *, at: datetime, on_error: Callable[[int, Exception], None]
) -> None:
    """on_priorities_or_departments_changed in a savepoint; if it fails, again one conversation
    at a time (each in its own savepoint), so only those that fail keep the clocks they had."""
    try:
        with transaction.atomic():
            on_priorities_or_departments_changed(conversations=conversations, at=at)
        return
    except Exception as exc:
        log.error(
            "SLA recompute after routing failed for %s conversations; one by one now",
            len(conversations),
            exc_info=exc,
        )
    # Loaded again: the failed attempt may have changed the objects in memory.
    for conversation in with_sla_fields(
        Conversation.objects.filter(pk__in=[c.pk for c in conversations])
    ):
        try:
            with transaction.atomic():
                on_priorities_or_departments_changed(conversations=[conversation], at=at)
        except Exception as exc:
            log.error(
                "SLA recompute after routing failed for conversation %s: %s", conversation.pk, exc
            )
            on_error(conversation.pk, exc)


def _check_rule_editor(user) -> None:
    from django.core.exceptions import PermissionDenied

    if not user.is_coordinator:
        raise PermissionDenied


def save_routing_rule(*, rule, acting_user):
    """Create or update a rule; a new rule goes to the end of the order."""
    from django.db.models import Max

    from routing.models import RoutingRule

    _check_rule_editor(acting_user)
    if rule.pk is None:
        top = RoutingRule.objects.aggregate(m=Max("order"))["m"]
        rule.order = 0 if top is None else top + 1
    rule.save()
    return rule


def move_routing_rule(*, rule, direction: int, acting_user) -> None:
    """Swap a rule with its neighbour (direction -1 up, +1 down) and renumber densely."""
    from routing.models import RoutingRule

    _check_rule_editor(acting_user)
    with transaction.atomic():
        rules = list(RoutingRule.objects.select_for_update().order_by("order", "id"))
        index = next(i for i, r in enumerate(rules) if r.pk == rule.pk)
        other = index + direction
        if 0 <= other < len(rules):
            rules[index], rules[other] = rules[other], rules[index]
        for order, r in enumerate(rules):
            if r.order != order:
                RoutingRule.objects.filter(pk=r.pk).update(order=order)


def delete_routing_rule(*, rule, acting_user) -> None:
    _check_rule_editor(acting_user)
    rule.delete()


def try_rule(rule, *, limit: int = 1000) -> tuple[int, int, list]:
    """What the rule would have matched among the last `limit` inbound messages (nothing saved).

    Returns (examined, matched, first 50 matching messages).
    """
    from inbox.models import Direction, Message
    from routing.rules import RoutingInput, rule_matches

    messages = list(
        Message.objects.filter(direction=Direction.INBOUND)
        .select_related("contact", "conversation")
        .order_by("-id")[:limit]
    )
    hits = []
    for m in messages:
        probe = RoutingInput(
            text=m.text,
            channel_id=m.channel_id,
            language=m.language or m.conversation.language,
            sentiment=m.sentiment,
            flags=m.flags | m.conversation.flags,
            contact_tags=tuple((m.contact.tags if m.contact else None) or ()),
        )
        if rule_matches(rule, probe):
            hits.append(m)
    return len(messages), len(hits), hits[:50]
