"""SLA clocks: the building blocks the hooks (routing.sla.hooks) are made of.

A clock (SlaClock) runs per conversation and target (first response, next response,
resolution). It copies its target and calendar when it starts, so editing a policy or a
calendar applies to new clocks only. Everything here works on lists of conversations: the
single-conversation hooks pass a list of one, the bulk hooks (ingest, bulk triage) a whole batch,
so each rule is written once and a batch costs a fixed number of queries.

The conversation carries a copy of its running clocks' due times (SLA_FIELDS), which the sweep
and the inbox read through partial indexes; save_sla_fields keeps that copy in step.
Other apps call the hooks, not these.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from django.db.models import Max
from django.utils import timezone

from inbox.models import END_STATUSES, Channel, Conversation, SlaState
from routing.models import Department, SlaBreach, SlaClock, SlaPolicy, SlaTarget
from routing.sla.arithmetic import ALWAYS_OPEN, CalendarSpec, warn_and_due
from routing.sla.policies import SlaContext
from webcare.db import bulk_insert, bulk_update, fetch_instances

# The conversation's copy of its running clocks (save_sla_fields writes it; the sweep reads it).
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


def _pauses(clock: SlaClock) -> list[tuple[datetime, datetime]]:
    return [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in clock.pauses]


def compute_due(clock: SlaClock, *, paused: bool) -> None:
    """Set warn_at/due_at from start, target, calendar snapshot and finished pauses."""
    if paused:
        clock.warn_at = clock.due_at = None
        return
    spec = CalendarSpec.from_json(clock.calendar_spec) if clock.calendar_spec else ALWAYS_OPEN
    clock.warn_at, clock.due_at = warn_and_due(
        clock.started_at, clock.target_minutes, clock.warn_percent, spec, _pauses(clock)
    )


Running = dict[int, dict[str, SlaClock]]


def running_clocks(conversation_ids: Iterable[int]) -> Running:
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


def running_clocks_light(conversation_ids: Iterable[int]) -> Running:
    """running_clocks with only _LIGHT_CLOCK_FIELDS loaded: ingest reads thousands per batch,
    and the calendar and pauses (JSON) cost more to load than everything else."""
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


def start_missing_clocks(
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
        insert_clocks(new)
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


def insert_clocks(clocks: list[SlaClock]) -> None:
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


def stop_clocks(
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
    late = [
        (c, conv, at, c.due_at) for c, conv, at in stops if c.due_at is not None and at > c.due_at
    ]
    if not late:
        return
    existing = {b.clock_id: b for b in SlaBreach.objects.filter(clock__in=[c for c, *_ in late])}
    create, complete = [], []
    for clock, conv, at, due_at in late:
        breach = existing.get(clock.pk)
        if breach is None:
            create.append(
                SlaBreach(
                    clock=clock,
                    conversation=conv,
                    target=clock.kind,
                    due_at=due_at,
                    breached_at=due_at,
                    overdue_by=at - due_at,
                    holder_id=conv.assignee_id,
                    department_id=conv.department_id,
                )
            )
        elif breach.overdue_by is None:
            breach.overdue_by = at - due_at
            complete.append(breach)
    SlaBreach.objects.bulk_create(create)
    SlaBreach.objects.bulk_update(complete, ["overdue_by"])


def resume_clocks(
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
                compute_due(clock, paused=False)
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


def sla_snapshot(conversations: Iterable[Conversation]) -> dict[int, tuple]:
    """The SLA fields of each conversation as loaded, for save_sla_fields(before=...)."""
    return {c.pk: tuple(getattr(c, f) for f in SLA_FIELDS) for c in conversations}


def save_sla_fields(
    conversations: Sequence[Conversation],
    running: Running,
    at: dict[int, datetime],
    *,
    before: dict[int, tuple] | None = None,
) -> None:
    """Copy the running clocks' due times onto the conversations.

    Writes every conversation, or with `before` (a sla_snapshot taken when they
    were loaded) only those whose fields changed: one UPDATE either way.
    """
    changed = set_sla_fields(conversations, running, at, before=before)
    if len(changed) == 1 and before is None:
        # update(), not save(): the caller may hold other unsaved changes it saves itself.
        Conversation.objects.filter(pk=changed[0].pk).update(
            **{f: getattr(changed[0], f) for f in SLA_FIELDS}
        )
    elif changed:
        bulk_update(Conversation, changed, list(SLA_FIELDS))


def set_sla_fields(
    conversations: Sequence[Conversation],
    running: Running,
    at: dict[int, datetime],
    *,
    before: dict[int, tuple] | None = None,
) -> list[Conversation]:
    """save_sla_fields without the write: set the fields, return the conversations that changed."""
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


def load_with_sla_fields(conversation_ids: Iterable[int], **filters) -> list[Conversation]:
    """The conversations with what the policy choice and the clock rules read (one query)."""
    return list(
        with_sla_fields(Conversation.objects.filter(pk__in=list(conversation_ids), **filters))
    )


# --- The rules, one conversation at a time (pure decisions) --------------------


def opening_kinds(conversation: Conversation) -> list[str]:
    """The clocks a new conversation needs.

    A follow-up of an answered conversation starts with a next response; one
    already answered never gets a second first response (so calling twice is
    harmless); our own post without a customer message needs none.
    """
    if conversation.last_inbound_at is None or conversation.status in END_STATUSES:
        return []
    kinds: list[str] = [SlaTarget.RESOLUTION]
    if conversation.first_response_at is None:
        previous = conversation.previous if conversation.previous_id else None
        is_followup = previous is not None and previous.first_response_at is not None
        kinds.insert(0, SlaTarget.NEXT_RESPONSE if is_followup else SlaTarget.FIRST_RESPONSE)
    return kinds


def customer_kinds(
    conversation: Conversation, at: datetime, last_response: datetime | None = None
) -> list[str]:
    """After a customer message: a resolution clock, and a next response once we had replied.

    A message older than our latest response (a response clock stopped after
    it) was answered already: no next response, so calling twice is harmless.
    """
    kinds: list[str] = [SlaTarget.RESOLUTION]
    answered = conversation.first_response_at
    if answered is not None and at > answered and (last_response is None or at > last_response):
        kinds.insert(0, SlaTarget.NEXT_RESPONSE)
    return kinds


def last_responses(conversation_ids: Iterable[int]) -> dict[int, datetime]:
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


def answered_clock(conversation: Conversation, clocks: dict[str, SlaClock], at: datetime):
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
