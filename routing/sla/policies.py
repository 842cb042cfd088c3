"""Which SLA policy and business calendar a conversation falls under, and the context the clock
hooks share.

A team's calendar (or a policy's override) decides when its clocks run; calendar_spec turns the
models into the CalendarSpec the pure arithmetic (routing.sla.arithmetic) reads.

The first active policy (by SlaPolicy.order) whose conditions all match wins. SlaContext loads
the active policies and the calendar specs once per hook call and remembers the choice per
distinct input, so a batch of thousands of conversations costs a handful of queries.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import F
from django.utils.functional import cached_property

from inbox.models import Conversation
from routing.models import BusinessCalendar, Department, SlaPolicy, SlaTarget
from routing.sla import arithmetic
from routing.sla.arithmetic import CalendarSpec, Timeline, dutch_holiday_names

log = logging.getLogger(__name__)

# A closure longer than this is expanded only this far (it is a typo, or the team is gone).
MAX_CLOSURE_DAYS = 400

# What calendar_spec reads of a calendar (prefetch these with it).
CALENDAR_PARTS = ("windows", "closures", "reopened_holidays")


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


def first_matching_policy(
    policies: Iterable[SlaPolicy],
    *,
    channel_kind: str,
    channel_id: int | None,
    priority: int,
    department_id: int | None,
    flags: int,
) -> SlaPolicy | None:
    """The first of `policies` (in order) whose conditions all match (the editor's tryout asks
    this without a conversation)."""
    for policy in policies:
        if policy_matches(
            policy,
            channel_kind=channel_kind,
            channel_id=channel_id,
            priority=priority,
            department_id=department_id,
            flags=flags,
        ):
            return policy
    return None


def choose_policy(
    conversation: Conversation, policies: Sequence[SlaPolicy] | None = None
) -> SlaPolicy | None:
    """The first active policy (by order) whose conditions all match the conversation."""
    return first_matching_policy(
        active_policies() if policies is None else policies,
        channel_kind=conversation.channel.kind,
        channel_id=conversation.channel_id,
        priority=conversation.priority,
        department_id=conversation.department_id,
        flags=conversation.flags,
    )


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
        out[kind] = arithmetic.warn_and_due(at, minutes, policy.warn_percent, spec, [])
    return out


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
        self._timelines: dict[int | None, Timeline] = {}
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
            if c.department is not None and c.department.calendar_id
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
        if conversation.department is not None:
            return policy, conversation.department.calendar_id
        return policy, None

    def spec(self, key: int | None) -> CalendarSpec:
        if key not in self._specs:  # None (24/7) is there from the start
            assert key is not None
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
            timeline = self._timelines[key] = Timeline(spec, start)
        try:
            return arithmetic.warn_and_due(start, minutes, warn_percent, spec, [], timeline)
        except ValueError as exc:
            # The timeline's generator is spent: keep the error, not a timeline that says
            # StopIteration to the next clock.
            self._timelines.pop(key, None)
            self._broken[key] = exc
            raise


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
