"""The bulk SLA hooks ingest calls equal the per-conversation hooks, at a fixed query count."""

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inbox.channels.base import IncomingMessage
from inbox.models import Conversation, Priority, SlaState, Status
from inbox.services.ingest import ingest_messages
from routing.models import BusinessCalendar, SlaBreach, SlaClock, SlaPolicy
from routing.sla import hooks
from routing.sla.arithmetic import Timeline, add_business_time, office_hours
from routing.sla.clocks import SLA_FIELDS, load_with_sla_fields
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db
AMS = ZoneInfo("Europe/Amsterdam")
FRIDAY_1645 = datetime(2026, 3, 13, 16, 45, tzinfo=AMS)
KONINGSDAG_EVE = datetime(2026, 4, 24, 16, 45, tzinfo=AMS)
DST_NIGHT = datetime(2026, 3, 29, 0, 30, tzinfo=AMS)


@pytest.fixture
def policies(team_a, office_calendar, policy):
    """Team A works office hours (the standard policy); urgent items run 24/7 on their own."""
    team_a.calendar = office_calendar
    team_a.save()
    always = BusinessCalendar.objects.create(name="Altijd", is_24_7=True)
    SlaPolicy.objects.create(
        name="Urgent",
        order=1,
        priorities=[Priority.URGENT],
        first_response_minutes=15,
        next_response_minutes=20,
        resolution_minutes=240,
        warn_percent=50,
        calendar=always,
    )
    return policy


def state(conv: Conversation) -> tuple:
    conv.refresh_from_db()
    clocks = sorted(
        (
            (
                c.kind,
                c.started_at,
                c.warn_at,
                c.due_at,
                c.stopped_at,
                c.pauses,
                c.target_minutes,
                c.calendar_spec,
            )
            for c in SlaClock.objects.filter(conversation=conv)
        ),
        key=repr,
    )
    return tuple(getattr(conv, f) for f in SLA_FIELDS), clocks


# Each scenario: conversation attributes, then steps (kind, minutes after received_at).
SCENARIOS = [
    ("office, Friday evening, answered Monday late", {"at": FRIDAY_1645}, [("own", 60 * 64 + 40)]),
    ("office, before Koningsdag", {"at": KONINGSDAG_EVE}, [("customer", 5), ("own", 10)]),
    ("24/7 urgent, DST night", {"at": DST_NIGHT, "priority": Priority.URGENT}, [("own", 90)]),
    ("no team: 24/7 default", {"at": FRIDAY_1645, "team": False}, [("customer", 3)]),
    (
        "reply, customer again, reply late",
        {"at": FRIDAY_1645},
        [("own", 5), ("customer", 60), ("own", 60 * 70)],
    ),
    ("customer writes after our reply", {"at": FRIDAY_1645}, [("own", 5), ("customer", 9)]),
    (
        "paused then customer writes",
        {"at": FRIDAY_1645},
        [("own", 5), ("waiting", 6), ("customer", 60 * 66)],
    ),
    (
        "closed then reopened by the customer",
        {"at": FRIDAY_1645},
        [("own", 5), ("close", 7), ("reopen", 60 * 66), ("customer", 60 * 66)],
    ),
    ("follow-up of an answered conversation", {"at": FRIDAY_1645, "followup": True}, []),
    ("own post, no customer yet", {"at": FRIDAY_1645, "own_post": True}, [("own", 0)]),
]


def make(channel, team, staff, attrs):
    at = attrs["at"]
    kwargs = {"channel": channel, "received_at": at, "priority": attrs.get("priority", 0)}
    if attrs.get("team", True):
        kwargs["department"] = team
    if attrs.get("own_post"):
        kwargs.update(status=Status.ANSWERED, last_inbound_at=None)
    if attrs.get("followup"):
        previous = ConversationFactory(channel=channel, received_at=at - timedelta(days=9))
        hooks.on_conversation_opened(previous)
        hooks.on_agent_reply(previous, at - timedelta(days=8), staff)
        kwargs["previous"] = previous
    return ConversationFactory(**kwargs)


def run_scenarios(channel, team, staff, *, combined=False):
    """Apply every scenario twice: per conversation with the single hooks, in bulk with the others.

    combined: the bulk side uses on_ingested (ingest's call), with the opening and the first
    step in one call, as when a batch holds a new conversation and our answer to it.
    """
    pairs = [
        (make(channel, team, staff, attrs), make(channel, team, staff, attrs), attrs, steps)
        for _name, attrs, steps in SCENARIOS
    ]
    for single, _bulk, _attrs, _steps in pairs:
        hooks.on_conversation_opened(single, single.received_at)
    opened = [b.pk for _s, b, _a, _st in pairs]
    if not combined:
        hooks.on_conversations_opened(conversation_ids=opened)
        opened = []
    for index in range(max(len(steps) for *_rest, steps in pairs)):
        customer, own = [], {}
        for single, bulk, attrs, steps in pairs:
            if index >= len(steps):
                continue
            kind, minutes = steps[index]
            at = attrs["at"] + timedelta(minutes=minutes)
            if kind == "customer":
                for conv in (single, bulk):
                    Conversation.objects.filter(pk=conv.pk).update(last_inbound_at=at)
                single.refresh_from_db()
                hooks.on_customer_message(single, at)
                customer.append(bulk.pk)
            elif kind == "own":
                single.refresh_from_db()
                hooks.on_agent_reply(single, at, staff)
                own[bulk.pk] = at
            elif kind == "reopen":  # as ingest reopens: the status only, the hook follows
                for conv in (single, bulk):
                    Conversation.objects.filter(pk=conv.pk).update(
                        status=Status.NEW, closed_at=None
                    )
            else:  # status changes have no bulk variant: the same single hook on both
                old, new = {
                    "waiting": (Status.ASSIGNED, Status.WAITING),
                    "close": (Status.ASSIGNED, Status.CLOSED),
                }[kind]
                for conv in (single, bulk):
                    conv.refresh_from_db()
                    conv.status = new
                    conv.save(update_fields=["status"])
                    hooks.on_status_changed(conv, old, new, at)
        if combined:
            hooks.on_ingested(opened=opened, customer=customer, responded=own)
            opened = []
        else:
            hooks.on_customer_messages(conversation_ids=customer)
            hooks.on_own_responses(conversation_ids=list(own), at=own)
    return pairs


@pytest.mark.parametrize("combined", [False, True], ids=["three hooks", "on_ingested"])
def test_bulk_hooks_equal_the_single_hooks(policies, channel, team_a, staff_a, combined):
    pairs = run_scenarios(channel, team_a, staff_a, combined=combined)
    for (name, _attrs, _steps), (single, bulk, *_rest) in zip(SCENARIOS, pairs, strict=True):
        assert state(bulk) == state(single), name
    # The scenarios do exercise the rules (not two equal empty states).
    by_name = {name: pair for (name, *_r), pair in zip(SCENARIOS, pairs, strict=True)}
    conv = by_name["office, Friday evening, answered Monday late"][1]
    assert conv.first_response_at == FRIDAY_1645 + timedelta(minutes=60 * 64 + 40)
    assert SlaClock.objects.get(conversation=conv, kind="first_response").due_at == datetime(
        2026, 3, 16, 9, 15, tzinfo=AMS
    )
    assert conv.sla_breaches.get().overdue_by == timedelta(minutes=10)  # 09:25, due 09:15
    urgent = by_name["24/7 urgent, DST night"][1]
    assert SlaClock.objects.get(conversation=urgent, kind="first_response").due_at == (
        DST_NIGHT + timedelta(minutes=15)
    )
    paused = by_name["paused then customer writes"][1]
    assert paused.sla_paused_at is None and paused.next_response_due_at is not None
    reopened = by_name["closed then reopened by the customer"][1]
    assert reopened.first_response_due_at is None and reopened.next_response_due_at is not None
    followup = by_name["follow-up of an answered conversation"][1]
    assert followup.first_response_due_at is None and followup.next_response_due_at is not None
    own_post = by_name["own post, no customer yet"][1]
    assert own_post.sla_state == SlaState.NONE and own_post.first_response_at is not None
    late = by_name["customer writes after our reply"][1]
    assert late.next_response_due_at is not None


def test_bulk_hooks_are_idempotent(policies, channel, team_a, staff_a):
    pairs = run_scenarios(channel, team_a, staff_a)
    before = [state(b) for _s, b, *_r in pairs]
    ids = [b.pk for _s, b, *_r in pairs]
    hooks.on_conversations_opened(conversation_ids=ids)
    hooks.on_customer_messages(conversation_ids=ids)
    hooks.on_conversations_opened(conversation_ids=ids)
    hooks.on_customer_messages(conversation_ids=ids)
    assert [state(b) for _s, b, *_r in pairs] == before


def test_own_responses_read_the_time_of_our_latest_outbound_message(policies, channel, team_a):
    conv = ConversationFactory(channel=channel, department=team_a, received_at=FRIDAY_1645)
    hooks.on_conversations_opened(conversation_ids=[conv.pk])
    from tests.factories import MessageFactory

    reply_at = FRIDAY_1645 + timedelta(minutes=10)
    MessageFactory(conversation=conv, direction="out", created_at=reply_at)
    hooks.on_own_responses(conversation_ids=[conv.pk])
    conv.refresh_from_db()
    assert conv.first_response_at == reply_at
    assert conv.first_response_due_at is None


def _queries(n, channel, team, staff, fn):
    convs = [
        ConversationFactory(
            channel=channel,
            department=team if i % 2 else None,
            priority=Priority.URGENT if i % 3 == 0 else 0,
            received_at=FRIDAY_1645 + timedelta(minutes=i),
        )
        for i in range(n)
    ]
    with CaptureQueriesContext(connection) as ctx:
        fn([c.pk for c in convs])
    return len(ctx)


@pytest.mark.parametrize(
    "hook",
    [
        lambda ids: hooks.on_conversations_opened(conversation_ids=ids),
        lambda ids: (
            hooks.on_conversations_opened(conversation_ids=ids),
            Conversation.objects.filter(pk__in=ids).update(first_response_at=FRIDAY_1645),
            hooks.on_customer_messages(conversation_ids=ids),
        ),
        lambda ids: (
            hooks.on_conversations_opened(conversation_ids=ids),
            hooks.on_own_responses(
                conversation_ids=ids, at=dict.fromkeys(ids, FRIDAY_1645 + timedelta(days=5))
            ),
        ),
        lambda ids: hooks.on_ingested(
            opened=ids, customer=[], responded=dict.fromkeys(ids[::2], FRIDAY_1645)
        ),
    ],
    ids=["opened", "customer", "own", "ingested"],
)
def test_query_count_does_not_grow_with_the_batch(
    policies, channel, team_a, staff_a, hook, django_assert_max_num_queries
):
    # 30, not more: SQLite binds at most 999 parameters a statement, and Django splits a bulk
    # write of more rows there into batches (a statement per ~80 clocks, not per row).
    small = _queries(3, channel, team_a, staff_a, hook)
    big = _queries(30, channel, team_a, staff_a, hook)
    assert big == small
    ids = [
        ConversationFactory(channel=channel, department=team_a, received_at=FRIDAY_1645).pk
        for _ in range(40)
    ]
    with django_assert_max_num_queries(25):
        hook(ids)


def test_no_active_policy_costs_next_to_nothing(channel, django_assert_num_queries):
    ids = [ConversationFactory(channel=channel).pk for _ in range(20)]
    with django_assert_num_queries(1):
        hooks.on_conversations_opened(conversation_ids=ids)
    with django_assert_num_queries(2):  # policies, then only the paused conversations
        hooks.on_customer_messages(conversation_ids=ids)
    assert not SlaClock.objects.exists()


@pytest.mark.parametrize(
    "spec",
    [
        office_hours(),
        office_hours(time(8), time(12)),
        office_hours(tz="America/New_York", use_dutch_holidays=False),
    ],
    ids=["office", "mornings", "new-york"],
)
def test_the_batch_timeline_equals_add_business_time(spec):
    rng = random.Random(7)
    origin = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    starts = sorted(origin + timedelta(minutes=rng.randrange(0, 60 * 24 * 60)) for _ in range(300))
    timeline = Timeline(spec, starts[0])
    for start in starts:
        for minutes in (0, 1, 30, 480, 60 * 24 * 4):
            duration = timedelta(minutes=minutes)
            assert timeline.add(start, duration) == add_business_time(start, duration, spec)
            assert timeline.add(start, duration * 75 / 100) == add_business_time(
                start, duration * 75 / 100, spec
            )


def im(ext, minutes, *, parent="", own=False):
    return IncomingMessage(
        external_id=ext,
        text=f"Bericht {ext}: mijn pakket is niet aangekomen",
        created_at=FRIDAY_1645.astimezone(UTC) + timedelta(minutes=minutes),
        author_id="brand" if own else f"cust-{ext}",
        author_handle="brand" if own else f"cust-{ext}",
        parent_external_id=parent,
        is_own=own,
    )


def test_ingest_starts_the_clocks_and_our_own_reply_stops_the_first_response(
    policies, channel, team_a
):
    channel.own_handles = ["brand"]
    channel.save()
    result = ingest_messages(channel=channel, messages=[im("1", 0), im("2", 1), im("3", 2)])
    assert len(result.new_conversation_ids) == 3
    convs = Conversation.objects.filter(pk__in=result.new_conversation_ids)
    assert all(c.first_response_due_at is not None for c in convs)
    assert all(c.sla_state == SlaState.OK for c in convs)
    first = Conversation.objects.get(thread_key="1")
    # No team yet (the coordinator triages): the standard policy, 24/7 -> 16:45 + 30 min.
    assert first.first_response_due_at == FRIDAY_1645 + timedelta(minutes=30)

    # Our account answers the first one outside the app; in the same batch a
    # new mention and its answer, which stops its clock within the batch.
    ingest_messages(
        channel=channel,
        messages=[
            im("r1", 12, parent="1", own=True),
            im("4", 13),
            im("r4", 20, parent="4", own=True),
        ],
    )
    first.refresh_from_db()
    assert first.first_response_at == FRIDAY_1645 + timedelta(minutes=12)
    assert first.first_response_due_at is None
    assert first.resolution_due_at is not None
    fourth = Conversation.objects.get(thread_key="4")
    assert fourth.first_response_at == FRIDAY_1645 + timedelta(minutes=20)
    assert fourth.first_response_due_at is None
    assert SlaClock.objects.filter(conversation=fourth, kind="first_response").get().stopped_at

    # The customer writes again: a next-response clock from that message.
    ingest_messages(channel=channel, messages=[im("c1", 30, parent="r1")])
    first.refresh_from_db()
    assert first.next_response_due_at == FRIDAY_1645 + timedelta(minutes=30 + 60)
    untouched = Conversation.objects.get(thread_key="2")
    assert untouched.first_response_at is None and untouched.first_response_due_at is not None


def test_ingest_of_new_conversations_equals_the_hooks_after_the_insert(policies, channel, team_a):
    """start_clocks_of_new (before the INSERT) gives what the hooks give on the stored rows."""
    channel.own_handles = ["brand"]
    channel.save()
    messages = []
    for i in range(12):
        minutes = 97 * i  # across evenings and the weekend
        messages.append(im(f"m{i}", minutes))
        if i % 3:
            # Answered in the same batch, some late (a breach), one before the customer wrote.
            messages.append(im(f"r{i}", minutes + (5, 200, -1)[i % 3], parent=f"m{i}", own=True))
    messages.append(im("own-post", 3, own=True))
    result = ingest_messages(channel=channel, messages=messages)
    ids = result.new_conversation_ids
    assert len(ids) == 13
    by_ingest = {pk: state(Conversation.objects.get(pk=pk)) for pk in ids}
    assert any(c.stopped_at for c in SlaClock.objects.filter(conversation_id__in=ids))
    assert SlaBreach.objects.filter(conversation_id__in=ids).exists()

    SlaBreach.objects.filter(conversation_id__in=ids).delete()
    SlaClock.objects.filter(conversation_id__in=ids).delete()
    blank = Conversation()
    Conversation.objects.filter(pk__in=ids).update(**{f: getattr(blank, f) for f in SLA_FIELDS})
    hooks.on_conversations_opened(conversation_ids=ids)
    hooks.on_own_responses(conversation_ids=ids)
    assert {pk: state(Conversation.objects.get(pk=pk)) for pk in ids} == by_ingest


def test_ingest_into_stored_conversations_equals_on_ingested_after_the_update(
    policies, team_a, staff_a, monkeypatch
):
    """Ingest decides the SLA of stored conversations in memory and writes them in its own
    UPDATE (plan_ingested); that equals updating first and running on_ingested on the rows."""
    from inbox.services.ingest import writes
    from tests.factories import ChannelFactory

    def history(channel):
        ingest_messages(
            channel=channel,
            messages=[im(f"m{i}", 10 * i) for i in range(6)]
            + [im("r0", 5, parent="m0", own=True), im("r2", 25, parent="m2", own=True)],
        )
        by_key = {c.thread_key: c for c in Conversation.objects.filter(channel=channel)}
        waiting = by_key["m2"]  # answered, then waiting on the customer: clocks paused
        hooks.on_status_changed(waiting, Status.ASSIGNED, Status.WAITING, FRIDAY_1645)
        Conversation.objects.filter(pk=waiting.pk).update(status=Status.WAITING)
        closed = by_key["m3"]  # closed, the customer writes within the reopen window
        closed.status, closed.closed_at = Status.CLOSED, FRIDAY_1645 + timedelta(minutes=40)
        closed.save(update_fields=["status", "closed_at"])
        hooks.on_status_changed(closed, Status.NEW, Status.CLOSED, closed.closed_at)
        team = by_key["m4"]  # forwarded to a team with office hours
        Conversation.objects.filter(pk=team.pk).update(department=team_a, status=Status.TRIAGED)
        team.refresh_from_db()
        hooks.on_priority_or_department_changed(team, at=FRIDAY_1645 + timedelta(minutes=45))
        return [
            im("c0", 60 * 66, parent="r0"),  # a next response, after the weekend
            im("c1", 61, parent="m1"),
            im("c2", 60 * 67, parent="r2"),  # ends the pause
            im("c3", 60 * 68, parent="m3"),  # reopens
            im("c4", 50, parent="m4"),
            im("r5", 60 * 70, parent="m5", own=True),  # late: a breach
            im("r1", 62, parent="c1", own=True),
        ]

    def channel_with_history():
        channel = ChannelFactory(own_handles=["brand"])
        return channel, history(channel)

    in_ingest, later = channel_with_history()
    ingest_messages(channel=in_ingest, messages=later)

    reference, later = channel_with_history()
    monkeypatch.setattr(writes, "plan_ingested", lambda **kwargs: hooks.PendingClocks([], []))
    ingest_messages(channel=reference, messages=later)
    convs = {c.thread_key: c.pk for c in Conversation.objects.filter(channel=reference)}
    key_of = {"c0": "m0", "c1": "m1", "c2": "m2", "c3": "m3", "c4": "m4", "r5": "m5", "r1": "m1"}
    customer = sorted({convs[key_of[m.external_id]] for m in later if not m.is_own})
    responded = {convs[key_of[m.external_id]]: m.created_at for m in later if m.is_own}
    hooks.on_ingested(opened=[], customer=customer, responded=responded)

    compared = 0
    for conv in Conversation.objects.filter(channel=in_ingest):
        other = Conversation.objects.get(channel=reference, thread_key=conv.thread_key)
        ours, theirs = state(conv), state(other)
        assert ours == theirs, conv.thread_key
        compared += 1
    assert compared == 6
    # The scenarios do exercise the rules: a pause ended, a reopen, a breach, a next response.
    assert SlaBreach.objects.filter(conversation__channel=in_ingest).exists()
    reopened = Conversation.objects.get(channel=in_ingest, thread_key="m3")
    assert reopened.status == Status.NEW and reopened.resolution_due_at is not None
    paused = Conversation.objects.get(channel=in_ingest, thread_key="m2")
    assert paused.sla_paused_at is None and paused.next_response_due_at is not None


# --- The bulk hooks of bulk triage: status changes, team/priority recomputes --------------------

EARLY = FRIDAY_1645 + timedelta(minutes=10)  # before any due time
LATE = FRIDAY_1645 + timedelta(minutes=60 * 66)  # Monday 10:45: past the first response due

# (name, conversation attributes, steps before the change, status before, status after).
# A step ("own", m) is our reply m minutes after received_at; ("status", m, old, new) a status
# change by the single hook. Both twins get the steps; the change itself is single vs bulk.
STATUS_SCENARIOS = [
    ("hide a new item", {}, [], Status.NEW, Status.HIDDEN),
    ("no reply needed", {}, [], Status.NEW, Status.NO_REPLY_NEEDED),
    ("hide an urgent 24/7 item", {"priority": Priority.URGENT}, [], Status.NEW, Status.HIDDEN),
    ("hide, no team: 24/7", {"team": False}, [], Status.NEW, Status.HIDDEN),
    ("close after a reply", {}, [("own", 5)], Status.ANSWERED, Status.CLOSED),
    ("wait on the customer", {}, [("own", 5)], Status.ANSWERED, Status.WAITING),
    (
        "assign a waiting item",
        {},
        [("own", 5), ("status", 6, Status.ANSWERED, Status.WAITING)],
        Status.WAITING,
        Status.ASSIGNED,
    ),
    ("unhide", {}, [("status", 3, Status.NEW, Status.HIDDEN)], Status.HIDDEN, Status.NEW),
    (
        "reopen an answered, closed item",
        {},
        [("own", 5), ("status", 7, Status.ANSWERED, Status.CLOSED)],
        Status.CLOSED,
        Status.TRIAGED,
    ),
    ("forward a new item: the clocks run on", {}, [], Status.NEW, Status.TRIAGED),
]


def _pre_steps(convs, steps, received_at, staff):
    for step in steps:
        at = received_at + timedelta(minutes=step[1])
        for conv in convs:
            conv.refresh_from_db()
            if step[0] == "own":
                hooks.on_agent_reply(conv, at, staff)
            else:
                conv.status = step[3]
                conv.save(update_fields=["status"])
                hooks.on_status_changed(conv, step[2], step[3], at)


def _twins(channel, team, staff, attrs, steps):
    pair = [make(channel, team, staff, {"at": FRIDAY_1645, **attrs}) for _ in range(2)]
    hooks.on_conversations_opened(conversation_ids=[c.pk for c in pair])
    _pre_steps(pair, steps, FRIDAY_1645, staff)
    return pair


@pytest.mark.parametrize("at", [EARLY, LATE], ids=["early", "late"])
def test_bulk_status_hook_equals_the_single_hook(policies, channel, team_a, staff_a, at):
    pairs = [
        (_twins(channel, team_a, staff_a, attrs, steps), old, new)
        for _name, attrs, steps, old, new in STATUS_SCENARIOS
    ]
    for (single, _bulk), old, new in pairs:
        single.refresh_from_db()
        single.status = new
        single.save(update_fields=["status"])
        hooks.on_status_changed(single, old, new, at)
    for new in {new for *_r, new in pairs}:
        group = {bulk.pk: old for (_s, bulk), old, n in pairs if n == new}
        Conversation.objects.filter(pk__in=group).update(status=new)
        hooks.on_statuses_changed(
            conversations=load_with_sla_fields(group), old=group, new=new, at=at
        )
    for (name, *_r), ((single, bulk), _old, _new) in zip(STATUS_SCENARIOS, pairs, strict=True):
        assert state(bulk) == state(single), name
    # The scenarios exercise the rules.
    by_name = {name: p[0][1] for (name, *_r), p in zip(STATUS_SCENARIOS, pairs, strict=True)}
    hidden = by_name["hide a new item"]
    assert hidden.sla_due_at is None
    assert not SlaClock.objects.filter(conversation=hidden, stopped_at__isnull=True).exists()
    assert SlaBreach.objects.filter(conversation=hidden).exists() == (at == LATE)
    assert by_name["wait on the customer"].sla_paused_at == at
    assert by_name["assign a waiting item"].sla_paused_at is None
    assert by_name["unhide"].resolution_due_at is not None
    reopened = by_name["reopen an answered, closed item"]
    assert reopened.next_response_due_at is not None and reopened.first_response_due_at is None


# (name, conversation attributes, steps before, the change: field -> value).
RECOMPUTE_SCENARIOS = [
    ("forward to the office team", {"team": False}, [], {"department": "a"}),
    ("forward to a team without first response", {}, [], {"department": "b"}),
    ("forward to a 24/7 team", {}, [], {"department": "c"}),
    ("urgent", {}, [], {"priority": Priority.URGENT}),
    ("back from urgent", {"priority": Priority.URGENT}, [], {"priority": 0}),
    (
        "urgent while waiting",
        {},
        [("own", 5), ("status", 6, Status.ANSWERED, Status.WAITING)],
        {"priority": Priority.URGENT},
    ),
    ("urgent after the first response", {}, [("own", 5)], {"priority": Priority.URGENT}),
    (
        "urgent, closed",
        {},
        [("status", 7, Status.NEW, Status.CLOSED)],
        {"priority": Priority.URGENT},
    ),
]


@pytest.mark.parametrize("at", [EARLY, LATE], ids=["early", "late"])
def test_bulk_recompute_hook_equals_the_single_hook(policies, channel, team_a, team_b, staff_a, at):
    # Team B's own policy has no first-response target; team C has no calendar (24/7).
    SlaPolicy.objects.create(
        name="Alleen oplossing", order=50, department=team_b, resolution_minutes=600
    )
    from tests.factories import DepartmentFactory

    teams = {"a": team_a, "b": team_b, "c": DepartmentFactory(name="Altijd", slug="altijd")}
    pairs = [
        (_twins(channel, team_a, staff_a, attrs, steps), change)
        for _name, attrs, steps, change in RECOMPUTE_SCENARIOS
    ]

    def values(change):
        return {
            ("department_id" if k == "department" else k): (teams[v].pk if k == "department" else v)
            for k, v in change.items()
        }

    for (single, _bulk), change in pairs:
        Conversation.objects.filter(pk=single.pk).update(**values(change))
        single.refresh_from_db()
        hooks.on_priority_or_department_changed(single, at=at)
    for (_single, bulk), change in pairs:
        Conversation.objects.filter(pk=bulk.pk).update(**values(change))
    hooks.on_priorities_or_departments_changed(
        conversations=load_with_sla_fields(b.pk for (_s, b), _c in pairs), at=at
    )
    for (name, *_r), ((single, bulk), _c) in zip(RECOMPUTE_SCENARIOS, pairs, strict=True):
        assert state(bulk) == state(single), name
    by_name = {name: p[0][1] for (name, *_r), p in zip(RECOMPUTE_SCENARIOS, pairs, strict=True)}
    assert by_name["forward to the office team"].first_response_due_at == datetime(
        2026, 3, 16, 9, 15, tzinfo=AMS
    )
    no_first = by_name["forward to a team without first response"]
    assert no_first.first_response_due_at is None and no_first.resolution_due_at is not None
    assert not SlaBreach.objects.filter(conversation=no_first).exists()  # ended, no verdict
    assert by_name["forward to a 24/7 team"].first_response_due_at == FRIDAY_1645 + timedelta(
        minutes=30
    )
    assert by_name["urgent"].first_response_due_at == FRIDAY_1645 + timedelta(minutes=15)
    assert by_name["back from urgent"].first_response_due_at == datetime(
        2026, 3, 16, 9, 15, tzinfo=AMS
    )
    assert by_name["urgent while waiting"].sla_due_at is None  # paused: recomputed, still paused
    after_first = by_name["urgent after the first response"]
    assert after_first.first_response_due_at is None
    assert after_first.resolution_due_at == FRIDAY_1645 + timedelta(hours=4)
    assert by_name["urgent, closed"].sla_due_at is None


def _status_queries(n, channel, team, staff, steps, old, new, at) -> int:
    convs = [make(channel, team, staff, {"at": FRIDAY_1645}) for _ in range(n)]
    hooks.on_conversations_opened(conversation_ids=[c.pk for c in convs])
    _pre_steps(convs, steps, FRIDAY_1645, staff)
    ids = [c.pk for c in convs]
    Conversation.objects.filter(pk__in=ids).update(status=new)
    loaded = load_with_sla_fields(ids)
    with CaptureQueriesContext(connection) as ctx:
        hooks.on_statuses_changed(conversations=loaded, old=dict.fromkeys(ids, old), new=new, at=at)
    return len(ctx)


@pytest.mark.parametrize(
    ("steps", "old", "new"),
    [
        ([], Status.NEW, Status.HIDDEN),
        ([("own", 5)], Status.ANSWERED, Status.WAITING),
        (
            [("own", 5), ("status", 6, Status.ANSWERED, Status.WAITING)],
            Status.WAITING,
            Status.ASSIGNED,
        ),
        ([("own", 5), ("status", 7, Status.ANSWERED, Status.CLOSED)], Status.CLOSED, Status.NEW),
    ],
    ids=["stop", "pause", "resume", "reopen"],
)
def test_bulk_status_hook_query_count_does_not_grow(
    policies, channel, team_a, staff_a, steps, old, new
):
    small = _status_queries(3, channel, team_a, staff_a, steps, old, new, LATE)
    big = _status_queries(40, channel, team_a, staff_a, steps, old, new, LATE)
    assert big == small
    assert small <= 12


@pytest.mark.parametrize(
    "change", [{"priority": Priority.URGENT}, {"department_id": None}], ids=["priority", "team"]
)
def test_bulk_recompute_hook_query_count_does_not_grow(policies, channel, team_a, staff_a, change):
    def queries(n):
        convs = [
            make(channel, team_a, staff_a, {"at": FRIDAY_1645, "team": i % 2 == 0})
            for i in range(n)
        ]
        ids = [c.pk for c in convs]
        hooks.on_conversations_opened(conversation_ids=ids)
        Conversation.objects.filter(pk__in=ids).update(**change)
        loaded = load_with_sla_fields(ids)
        with CaptureQueriesContext(connection) as ctx:
            hooks.on_priorities_or_departments_changed(conversations=loaded, at=LATE)
        return len(ctx)

    small, big = queries(3), queries(40)
    assert big == small
    assert small <= 14
