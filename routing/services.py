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
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox.models import (
    END_STATUSES,
    Conversation,
    ConversationEvent,
    Flag,
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
from routing.sla import ALWAYS_OPEN, CalendarSpec, add_business_time, is_open_at

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
    return CalendarSpec(
        tz=calendar.timezone,
        is_24_7=calendar.is_24_7,
        use_dutch_holidays=calendar.use_dutch_holidays,
        windows={day: tuple(sorted(spans)) for day, spans in windows.items()},
        closed_dates=frozenset(closed),
    )


def active_policies() -> list[SlaPolicy]:
    return list(
        SlaPolicy.objects.filter(is_active=True)
        .select_related("calendar")
        .prefetch_related("channels", "calendar__windows", "calendar__closures")
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
            BusinessCalendar.objects.prefetch_related("windows", "closures")
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


def _warn_and_due(
    start: datetime,
    minutes: int,
    warn_percent: int,
    spec: CalendarSpec,
    pauses: Sequence[tuple[datetime, datetime]],
) -> tuple[datetime, datetime]:
    target = timedelta(minutes=minutes)
    due = add_business_time(start, target, spec, pauses)
    warn = add_business_time(start, target * warn_percent / 100, spec, pauses)
    return warn, due


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


def _running(conversation: Conversation) -> dict[str, SlaClock]:
    # Uses index: slaclock_running_idx
    return {
        c.kind: c
        for c in SlaClock.objects.filter(conversation=conversation, stopped_at__isnull=True)
    }


def _start(
    conversation: Conversation,
    kind: str,
    *,
    policy: SlaPolicy,
    spec: CalendarSpec,
    at: datetime,
) -> SlaClock | None:
    minutes = policy.target_minutes(kind)
    if not minutes:
        return None
    clock = SlaClock(
        conversation=conversation,
        kind=kind,
        policy=policy,
        target_minutes=minutes,
        warn_percent=policy.warn_percent,
        calendar_spec=spec.to_json(),
        started_at=at,
    )
    _compute(clock, paused=conversation.sla_paused_at is not None)
    clock.save()
    return clock


def _stop(clock: SlaClock, *, at: datetime, conversation: Conversation) -> None:
    """Stop a clock; a late stop records (or completes) the breach."""
    clock.stopped_at = at
    clock.save(update_fields=["stopped_at"])
    if clock.due_at is not None and at > clock.due_at:
        breach, created = SlaBreach.objects.get_or_create(
            clock=clock,
            defaults={
                "conversation": conversation,
                "target": clock.kind,
                "due_at": clock.due_at,
                "breached_at": clock.due_at,
                "overdue_by": at - clock.due_at,
                "holder_id": conversation.assignee_id,
                "department_id": conversation.department_id,
            },
        )
        if not created and breach.overdue_by is None:
            breach.overdue_by = at - clock.due_at
            breach.save(update_fields=["overdue_by"])


def _sync(conversation: Conversation, clocks: Iterable[SlaClock], *, at: datetime) -> None:
    """Copy the running clocks' due times onto the conversation (the sweep reads these)."""
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
    fields = {
        "first_response_due_at": _due(by_kind, SlaTarget.FIRST_RESPONSE),
        "next_response_due_at": _due(by_kind, SlaTarget.NEXT_RESPONSE),
        "resolution_due_at": _due(by_kind, SlaTarget.RESOLUTION),
        "sla_warn_at": warn,
        "sla_due_at": due,
        "sla_state": state,
        "sla_paused_at": conversation.sla_paused_at,
        "first_response_at": conversation.first_response_at,
    }
    for name, value in fields.items():
        setattr(conversation, name, value)
    # update(), not save(): the caller may hold other unsaved changes it saves itself.
    Conversation.objects.filter(pk=conversation.pk).update(**fields)


def _due(by_kind: dict[str, SlaClock], kind: str) -> datetime | None:
    clock = by_kind.get(kind)
    return clock.due_at if clock else None


def _context(conversation: Conversation) -> tuple[SlaPolicy | None, CalendarSpec]:
    policy = choose_policy(conversation)
    department = conversation.department if conversation.department_id else None
    return policy, calendar_spec(effective_calendar(policy, department))


def _ensure_clocks(
    conversation: Conversation, running: dict[str, SlaClock], kinds: Sequence[str], *, at: datetime
) -> None:
    missing = [k for k in kinds if k not in running]
    if not missing:
        return
    policy, spec = _context(conversation)
    if policy is None:
        return
    for kind in missing:
        clock = _start(conversation, kind, policy=policy, spec=spec, at=at)
        if clock:
            running[kind] = clock


# --- Hooks other code calls ----------------------------------------------------


def on_conversation_opened(conversation: Conversation, at: datetime | None = None) -> None:
    """Call once when ingest creates a conversation (inside the ingest transaction).

    Starts the first-response and resolution clocks from `at` (the first
    message's time, normally conversation.received_at). A follow-up of an
    answered conversation (conversation.previous with a first response) starts
    a next-response clock instead of a new first response.
    """
    at = at or conversation.received_at or timezone.now()
    running = _running(conversation)
    previous = conversation.previous
    is_followup = previous is not None and previous.first_response_at is not None
    first = SlaTarget.NEXT_RESPONSE if is_followup else SlaTarget.FIRST_RESPONSE
    _ensure_clocks(conversation, running, [first, SlaTarget.RESOLUTION], at=at)
    _sync(conversation, running.values(), at=at)


def on_customer_message(conversation: Conversation, at: datetime | None = None) -> None:
    """Call when ingest adds an inbound message to an existing conversation.

    Ends a pause (waiting on customer), starts a next-response clock when we had
    already replied (unless one runs), and on a reopened conversation starts a
    new resolution clock. Calling it twice for the same message is harmless.
    """
    at = at or timezone.now()
    running = _running(conversation)
    if conversation.sla_paused_at is not None:
        _resume(conversation, running, at=at)
    kinds = [SlaTarget.RESOLUTION]
    if conversation.first_response_at is not None:
        kinds.insert(0, SlaTarget.NEXT_RESPONSE)
    _ensure_clocks(conversation, running, kinds, at=at)
    _sync(conversation, running.values(), at=at)


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
    running = _running(conversation)
    clock = running.pop(SlaTarget.FIRST_RESPONSE, None) or running.pop(
        SlaTarget.NEXT_RESPONSE, None
    )
    if conversation.first_response_at is None:
        conversation.first_response_at = at
    if clock is not None:
        _stop(clock, at=at, conversation=conversation)
    _sync(conversation, running.values(), at=at)


def on_status_changed(
    conversation: Conversation, old: str, new: str, at: datetime | None = None
) -> None:
    """Call after a status change (close, wait on customer, reopen...).

    waiting -> pauses every running clock; leaving waiting -> resumes them;
    an end status (closed, no reply needed, hidden) stops every clock; leaving
    an end status (reopen) starts a next-response and a resolution clock.
    """
    at = at or timezone.now()
    running = _running(conversation)
    if new in END_STATUSES:
        conversation.sla_paused_at = None
        for clock in running.values():
            _stop(clock, at=at, conversation=conversation)
        running = {}
    elif new == Status.WAITING and conversation.sla_paused_at is None:
        conversation.sla_paused_at = at
        for clock in running.values():
            _compute(clock, paused=True)
            clock.save(update_fields=["warn_at", "due_at"])
    elif old == Status.WAITING and conversation.sla_paused_at is not None:
        _resume(conversation, running, at=at)
    if old in END_STATUSES and new not in END_STATUSES:
        kinds = [SlaTarget.RESOLUTION]
        if conversation.first_response_at is not None:
            kinds.insert(0, SlaTarget.NEXT_RESPONSE)
        _ensure_clocks(conversation, running, kinds, at=at)
    _sync(conversation, running.values(), at=at)


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
    running = _running(conversation)
    policy, spec = _context(conversation)
    paused = conversation.sla_paused_at is not None
    for kind, clock in list(running.items()):
        minutes = policy.target_minutes(kind) if policy else None
        if not minutes:
            # No target any more: the clock ends without a verdict (no breach).
            clock.stopped_at = at
            clock.save(update_fields=["stopped_at"])
            del running[kind]
            continue
        clock.policy = policy
        clock.target_minutes = minutes
        clock.warn_percent = policy.warn_percent
        clock.calendar_spec = spec.to_json()
        _compute(clock, paused=paused)
        clock.save()
    if policy is not None and conversation.status not in END_STATUSES:
        if conversation.first_response_at is None and SlaTarget.FIRST_RESPONSE not in running:
            clock = _start(
                conversation,
                SlaTarget.FIRST_RESPONSE,
                policy=policy,
                spec=spec,
                at=conversation.received_at,
            )
            if clock:
                running[clock.kind] = clock
        if (
            SlaTarget.RESOLUTION not in running
            and not SlaClock.objects.filter(
                conversation=conversation, kind=SlaTarget.RESOLUTION
            ).exists()
        ):
            clock = _start(
                conversation,
                SlaTarget.RESOLUTION,
                policy=policy,
                spec=spec,
                at=conversation.received_at,
            )
            if clock:
                running[clock.kind] = clock
    _sync(conversation, running.values(), at=at)


def _resume(conversation: Conversation, running: dict[str, SlaClock], *, at: datetime) -> None:
    paused_at = conversation.sla_paused_at
    conversation.sla_paused_at = None
    if paused_at is None:
        return
    for clock in running.values():
        if at > paused_at:
            clock.pauses = [*clock.pauses, [paused_at.isoformat(), at.isoformat()]]
        _compute(clock, paused=False)
        clock.save(update_fields=["pauses", "warn_at", "due_at"])


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
    table = connection.ops.quote_name(Conversation._meta.db_table)
    with transaction.atomic():
        with connection.cursor() as cur:
            # Uses index: conv_sla_due_idx (sla_due_at WHERE sla_state IN ('ok', 'at_risk')).
            cur.execute(
                f"UPDATE {table} SET sla_state = %s "
                "WHERE sla_state IN (%s, %s) AND sla_due_at <= %s RETURNING id",
                [SlaState.OVERDUE, SlaState.OK, SlaState.AT_RISK, now],
            )
            overdue = [row[0] for row in cur.fetchall()]
            # Uses index: conv_sla_warn_idx (sla_warn_at WHERE sla_state = 'ok').
            cur.execute(
                f"UPDATE {table} SET sla_state = %s "
                "WHERE sla_state = %s AND sla_warn_at <= %s AND sla_due_at > %s RETURNING id",
                [SlaState.AT_RISK, SlaState.OK, now, now],
            )
            at_risk = [row[0] for row in cur.fetchall()]
        breaches = _record_breaches(overdue, now=now) if overdue else 0
        ConversationEvent.objects.bulk_create(
            [ConversationEvent(conversation_id=pk, kind="sla_overdue") for pk in overdue]
            + [ConversationEvent(conversation_id=pk, kind="sla_at_risk") for pk in at_risk]
        )
        if enqueue_notifications:
            from routing.tasks import notify_sla

            for state, ids in ((SlaState.OVERDUE, overdue), (SlaState.AT_RISK, at_risk)):
                for i in range(0, len(ids), NOTIFY_CHUNK):
                    notify_sla.delay_on_commit(ids[i : i + NOTIFY_CHUNK], str(state))
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


def apply_routing(*, conversation_ids: Iterable[int]) -> dict[int, int]:
    """Match each new, not yet forwarded conversation against the active rules.

    Called by ingest after a batch (system actor). A matching rule stores its department as the
    suggestion, forwards automatically when the rule says so, and sets the priority. One event
    per conversation that changed, written in bulk. Returns {conversation_id: rule_id}.
    """
    from inbox.models import Conversation, ConversationEvent, Status
    from routing.models import RoutingRule

    rules = list(RoutingRule.objects.filter(active=True).order_by("order", "id"))
    if not rules:
        return {}
    matched: dict[int, int] = {}
    with transaction.atomic():
        conversations = list(
            Conversation.objects.select_for_update(no_key=True, of=("self",))
            .select_related("contact")
            .filter(pk__in=list(conversation_ids), status=Status.NEW, department__isnull=True)
        )
        events = []
        now = timezone.now()
        for conv in conversations:
            rule = first_matching_rule(rules, routing_input_for(conv))
            if rule is None:
                continue
            updates: dict = {}
            if rule.department_id:
                updates["suggested_department_id"] = rule.department_id
                if rule.auto_forward:
                    updates["department_id"] = rule.department_id
                    updates["status"] = Status.TRIAGED
            if rule.set_priority is not None:
                updates["priority"] = rule.set_priority
            if not updates:
                continue
            Conversation.objects.filter(pk=conv.pk).update(
                **updates, version=F("version") + 1, updated_at=now
            )
            events.append(
                ConversationEvent(
                    conversation_id=conv.pk,
                    actor=None,
                    kind="auto_forwarded" if "department_id" in updates else "routed",
                    data={
                        "rule_id": rule.pk,
                        "rule": rule.name,
                        **{k: v for k, v in updates.items() if k != "status"},
                    },
                )
            )
            matched[conv.pk] = rule.pk
        ConversationEvent.objects.bulk_create(events)
    return matched


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
