"""The SLA hooks: what other code calls when something happens to a conversation.

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

Callers run the small `on_*` hooks inside their own transaction, after they changed the
conversation; the hooks write no audit event of their own (the calling action does). Each has
a bulk twin for ingest and bulk triage. The sweep (routing.sla.sweep) is the only place that
sets "at risk" and "overdue".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Max
from django.utils import timezone

from inbox.models import END_STATUSES, Conversation, Direction, Message, Status
from routing.models import SlaClock, SlaTarget
from routing.sla.clocks import (
    SLA_FIELDS,
    Running,
    answered_clock,
    compute_due,
    customer_kinds,
    insert_clocks,
    last_responses,
    load_with_sla_fields,
    opening_kinds,
    resume_clocks,
    running_clocks,
    running_clocks_light,
    save_sla_fields,
    set_sla_fields,
    sla_snapshot,
    start_missing_clocks,
    stop_clocks,
)
from routing.sla.policies import SlaContext
from webcare.db import bulk_update


@contextmanager
def _changing_clocks(
    convs: Sequence[Conversation], at: dict[int, datetime], *, bulk: bool
) -> Iterator[Running]:
    """The running clocks of convs, to change in the block; afterwards the conversations' SLA
    fields follow them (bulk: only the conversations whose fields changed are written)."""
    before = sla_snapshot(convs) if bulk else None
    running = running_clocks(c.pk for c in convs)
    yield running
    save_sla_fields(convs, running, at, before=before)


def on_conversation_opened(conversation: Conversation, at: datetime | None = None) -> None:
    """Call once when a conversation is created (ingest calls on_conversations_opened).

    Starts the first-response and resolution clocks from `at` (the first
    message's time, normally conversation.received_at). A follow-up of an
    answered conversation (conversation.previous with a first response) starts
    a next-response clock instead of a new first response.
    """
    at = at or conversation.received_at or timezone.now()
    _start_clocks([conversation], {conversation.pk: at}, customer_wrote=False)


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
    convs = load_with_sla_fields(conversation_ids)
    at = {c.pk: c.received_at or timezone.now() for c in convs}
    _start_clocks(convs, at, ctx, customer_wrote=False, bulk=True)


def _start_clocks(
    convs: Sequence[Conversation],
    at: dict[int, datetime],
    ctx: SlaContext | None = None,
    *,
    customer_wrote: bool,
    bulk: bool = False,
) -> None:
    """Start the clocks each conversation is missing at `at`: the opening ones for a new
    conversation, or after a customer wrote to an existing one (customer_wrote), first ending
    its pause, a next response and a resolution."""
    ctx = ctx or SlaContext()
    with _changing_clocks(convs, at, bulk=bulk) as running:
        if customer_wrote:
            resume_clocks(convs, running, at)
            wanted = _wanted_after_customer(convs, at)
        else:
            wanted = _wanted_on_opening(convs, at)
        start_missing_clocks(ctx, running, wanted)


# A conversation, the clock kinds it needs, and when they start (start_missing_clocks).
Wanted = tuple[Conversation, list[str], datetime]


def _wanted_on_opening(convs: Sequence[Conversation], at: dict[int, datetime]) -> list[Wanted]:
    return [(c, opening_kinds(c), at[c.pk]) for c in convs]


def _wanted_after_customer(convs: Sequence[Conversation], at: dict[int, datetime]) -> list[Wanted]:
    """After a customer message: next response (unless answered already) and resolution."""
    last = last_responses(at)
    return [(c, customer_kinds(c, at[c.pk], last.get(c.pk)), at[c.pk]) for c in convs]


def on_customer_message(conversation: Conversation, at: datetime | None = None) -> None:
    """Call when an inbound message joins an existing conversation (ingest: on_customer_messages).

    Ends a pause (waiting on customer), starts a next-response clock when we had
    already replied (unless one runs), and on a reopened conversation starts a
    new resolution clock. Calling it twice for the same message is harmless.
    """
    at = at or timezone.now()
    _start_clocks([conversation], {conversation.pk: at}, customer_wrote=True)


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
    convs = [
        c
        for c in load_with_sla_fields(conversation_ids, **filters)
        if c.last_inbound_at is not None
    ]
    if convs:
        at = {c.pk: c.last_inbound_at for c in convs if c.last_inbound_at is not None}
        _start_clocks(convs, at, ctx, customer_wrote=True, bulk=True)


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
    convs = [c for c in load_with_sla_fields(conversation_ids) if c.pk in at]
    if convs:
        _responded(convs, at, bulk=True)


def _responded(
    convs: Sequence[Conversation], at: dict[int, datetime], *, bulk: bool = False
) -> None:
    with _changing_clocks(convs, at, bulk=bulk) as running:
        stop_clocks(_answered(convs, running, at))


def _answered(
    convs: Sequence[Conversation], running: Running, at: dict[int, datetime]
) -> list[tuple[SlaClock, Conversation, datetime]]:
    """Record each conversation's response at its `at`: the response clocks it answers, taken
    out of `running` and marked stopped, as stop_clocks takes them (nothing written yet)."""
    stops = []
    for conv in convs:
        clock = answered_clock(conv, running[conv.pk], at[conv.pk])
        if clock is not None:
            clock.stopped_at = at[conv.pk]
            stops.append((clock, conv, at[conv.pk]))
    return stops


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
    convs = {c.pk: c for c in load_with_sla_fields(ids)}
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
    before = sla_snapshot(convs.values())
    # Only a paused conversation's clocks are recomputed (resume_clocks): the rest load light.
    paused = {pk for pk, conv in convs.items() if conv.sla_paused_at is not None}
    running = running_clocks(paused)
    running.update(running_clocks_light(pk for pk in convs if pk not in paused))
    new: list[SlaClock] = []

    # 1. Opened: clocks from each conversation's first message.
    group = [convs[pk] for pk in opened]
    at = {c.pk: c.received_at or timezone.now() for c in group}
    new += start_missing_clocks(ctx, running, _wanted_on_opening(group, at), save=False)
    set_sla_fields(group, running, at)

    # 2. Customers wrote again (existing conversations): end pauses, next response, resolution.
    group = [convs[pk] for pk in customer if convs[pk].last_inbound_at is not None]
    if group:
        at = {c.pk: c.last_inbound_at for c in group if c.last_inbound_at is not None}
        resume_clocks(group, running, at, ctx)  # writes the few resumed clocks itself
        new += start_missing_clocks(ctx, running, _wanted_after_customer(group, at), save=False)
        set_sla_fields(group, running, at)

    # 3. Our own account answered: stop the response clocks it answers.
    group = [convs[pk] for pk in sorted(responded)]
    stops = _answered(group, running, responded)
    set_sla_fields(group, running, responded)

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
    new = start_missing_clocks(
        ctx, running, [(c, opening_kinds(c), at[c.pk]) for c in conversations], save=False
    )
    set_sla_fields(conversations, running, at)
    group = [by_pk[pk] for pk in sorted(responded) if pk in by_pk]
    stops = _answered(group, running, responded)
    set_sla_fields(group, running, responded)
    return PendingClocks(new, stops)


def save_clocks_of_new(pending: PendingClocks) -> None:
    """Write pending clocks (start_clocks_of_new: after the conversations got their real pks)."""
    for clock in pending.clocks:
        clock.conversation_id = clock.conversation.pk
    insert_clocks(pending.clocks)
    stop_clocks(pending.stops, inserted=frozenset(c.pk for c in pending.clocks))


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
    with _changing_clocks(convs, at, bulk=bulk) as running:
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
                    compute_due(clock, paused=True)
                    paused.append(clock)
            elif old[pk] == Status.WAITING and conv.sla_paused_at is not None:
                resumed.append(conv)
            if old[pk] in END_STATUSES and new not in END_STATUSES:
                reopened.append(conv)
        stop_clocks(stops)
        bulk_update(SlaClock, paused, ["warn_at", "due_at"])
        resume_clocks(resumed, running, at)
        if reopened:
            start_missing_clocks(
                SlaContext(),
                running,
                [(c, customer_kinds(c, at[c.pk]), at[c.pk]) for c in reopened],
            )


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
    with _changing_clocks(convs, at, bulk=bulk) as running:
        ctx = SlaContext()
        ctx.load_team_calendars(convs)
        ended, recomputed, wanting = [], [], []
        for conv in convs:
            clocks = running[conv.pk]
            policy, key = ctx.choose(conv)
            paused = conv.sla_paused_at is not None
            for kind, clock in list(clocks.items()):
                minutes = policy.target_minutes(kind) if policy else None
                if policy is None or not minutes:
                    # No target any more: the clock ends without a verdict (no breach).
                    clock.stopped_at = at[conv.pk]
                    ended.append(clock)
                    del clocks[kind]
                    continue
                clock.policy = policy
                clock.target_minutes = minutes
                clock.warn_percent = policy.warn_percent
                clock.calendar_spec = ctx.spec_json(key)
                compute_due(clock, paused=paused)
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
            start_missing_clocks(ctx, running, wanted)
