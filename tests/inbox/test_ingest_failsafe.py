"""Ingest is fail-safe: a broken SLA policy, routing rule or enrichment step for one message is
logged, counted on the channel's health (and the policy), and the message is stored all the
same, without that step. Runs on both legs (the PostgreSQL set-based writes and the portable
path)."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from inbox.channels.base import IncomingMessage
from inbox.models import Channel, Conversation, Message, SlaState
from inbox.services.ingest import ingest_messages
from routing.models import BusinessCalendar, RoutingRule, SlaClock, SlaPolicy
from routing.rules import apply as rule_apply
from routing.sla import arithmetic, policies
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)  # a Wednesday


def im(ext, minutes=0, *, parent="", author="cust", text=None):
    return IncomingMessage(
        external_id=ext,
        text=text or f"Bericht {ext}: de lift is weer kapot, wanneer komt de monteur?",
        created_at=T0 + timedelta(minutes=minutes),
        author_id=author,
        author_handle=f"h_{author}",
        author_name=f"Naam {author}",
        parent_external_id=parent,
    )


def first_batch(prefix):
    """Three threads, each with a customer follow-up in the same batch: 6 messages."""
    msgs = []
    for i in range(3):
        msgs.append(im(f"{prefix}-m{i}", i, author=f"{prefix}{i}"))
        msgs.append(im(f"{prefix}-c{i}", 10 + i, parent=f"{prefix}-m{i}", author=f"{prefix}{i}"))
    return msgs


def second_batch(prefix):
    """The customers write again in two stored threads, and a new thread opens: 3 messages."""
    return [
        im(f"{prefix}-d0", 60, parent=f"{prefix}-c0", author=f"{prefix}0"),
        im(f"{prefix}-d1", 61, parent=f"{prefix}-c1", author=f"{prefix}1"),
        im(f"{prefix}-n0", 62, author=f"{prefix}9"),
    ]


def stored_once(channel, batches):
    expected = sorted(m.external_id for batch in batches for m in batch)
    stored = Counter(Message.objects.filter(channel=channel).values_list("external_id", flat=True))
    assert sorted(stored) == expected
    assert set(stored.values()) == {1}


@pytest.fixture
def broken_calendar(db):
    """Written around the editor, which refuses it: no opening window, not 24/7."""
    return BusinessCalendar.objects.create(name="Leeg", timezone="Europe/Amsterdam")


@pytest.mark.parametrize("how", ["calendar without opening time", "policy match raises"])
def test_a_broken_policy_on_one_channel_leaves_every_message_of_every_channel_stored_once(
    policy, broken_calendar, monkeypatch, django_capture_on_commit_callbacks, how
):
    a, b, c = (ChannelFactory(name=n) for n in ("A", "B", "C"))
    broken = SlaPolicy.objects.create(
        name="Kapot", order=1, first_response_minutes=30, resolution_minutes=480
    )
    broken.channels.add(a)
    if how == "calendar without opening time":
        broken.calendar = broken_calendar
        broken.save()
    else:
        real = policies.policy_matches

        def policy_matches(policy, **kwargs):
            if kwargs["channel_id"] == a.pk:
                raise RuntimeError("policy exploded")
            return real(policy, **kwargs)

        monkeypatch.setattr(policies, "policy_matches", policy_matches)

    batches = {ch: [first_batch(ch.name), second_batch(ch.name)] for ch in (a, b, c)}
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        for run in range(2):  # the second run replays everything: idempotent
            for ch in (a, b, c):
                for batch in batches[ch]:
                    with django_capture_on_commit_callbacks(execute=True):
                        result = ingest_messages(channel=ch, messages=batch)
                    if run == 0:
                        assert result.created == len(batch)
                    else:
                        assert (result.created, result.duplicates) == (0, len(batch))
                        assert result.problems == 0

    for ch in (a, b, c):
        stored_once(ch, batches[ch])
        assert Conversation.objects.filter(channel=ch).count() == 4
    # Channel A's messages are stored without clocks; B and C have theirs.
    assert not SlaClock.objects.filter(conversation__channel=a).exists()
    assert set(Conversation.objects.filter(channel=a).values_list("sla_state", flat=True)) == {
        SlaState.NONE
    }
    for ch in (b, c):
        assert not Conversation.objects.filter(channel=ch, sla_due_at__isnull=True).exists()
        ch.refresh_from_db()
        assert ch.ingest_problem_count == 0 and ch.last_ingest_problem == ""
    # Every message of A counts once: 6 in new threads, 2 follow-ups, 1 new thread.
    a.refresh_from_db()
    assert a.ingest_problem_count == 9
    assert a.last_ingest_problem_at == T0 + timedelta(hours=2)
    broken.refresh_from_db()
    if how == "calendar without opening time":
        assert "Kapot" in a.last_ingest_problem
        assert "no open business time" in a.last_ingest_problem
        # 3 + 1 new conversations, 2 that the customer wrote again in.
        assert broken.failure_count == 6
        assert "no open business time" in broken.last_failure
        assert broken.last_failure_at == T0 + timedelta(hours=2)
    else:
        assert "policy exploded" in a.last_ingest_problem
        assert broken.failure_count == 0  # no policy was chosen: the channel says it


def test_a_policy_failing_for_one_conversation_costs_only_that_one_its_clock(
    policy, office_calendar, monkeypatch, channel
):
    """The granularity is the conversation, not the batch."""
    policy.calendar = office_calendar
    policy.save()
    real = arithmetic.warn_and_due
    poisoned = T0 + timedelta(minutes=1)

    def warn_and_due(start, *args, **kwargs):
        if start == poisoned:
            raise RuntimeError("one bad clock")
        return real(start, *args, **kwargs)

    monkeypatch.setattr(arithmetic, "warn_and_due", warn_and_due)
    result = ingest_messages(
        channel=channel, messages=[im(f"m{i}", i, author=f"a{i}") for i in range(3)]
    )
    assert result.created == 3 and result.problems == 1
    due = dict(Conversation.objects.values_list("thread_key", "sla_due_at"))
    assert due["m1"] is None
    assert due["m0"] is not None and due["m2"] is not None
    assert SlaClock.objects.filter(conversation__thread_key="m1").count() == 0
    channel.refresh_from_db()
    assert channel.ingest_problem_count == 1
    assert "one bad clock" in channel.last_ingest_problem


@pytest.mark.parametrize("step", ["start_clocks_of_new", "plan_ingested"])
def test_when_the_sla_planning_itself_fails_the_batch_is_stored_without_clocks(
    policy, monkeypatch, channel, step
):
    from inbox.services.ingest import writes

    ingest_messages(channel=channel, messages=[im("m0"), im("m1", 1, author="b")])

    def explode(**kwargs):
        raise RuntimeError("planning exploded")

    monkeypatch.setattr(writes, step, explode)
    later = [im("c0", 30, parent="m0"), im("m2", 31, author="c")]
    result = ingest_messages(channel=channel, messages=later)
    assert result.created == 2 and result.problems == 1
    stored_once(channel, [[im("m0"), im("m1")], later])
    channel.refresh_from_db()
    assert channel.ingest_problem_count == 1
    assert "planning exploded" in channel.last_ingest_problem
    if step == "start_clocks_of_new":  # the new conversation has no clock; the others keep theirs
        assert Conversation.objects.get(thread_key="m2").sla_state == SlaState.NONE
        assert Conversation.objects.get(thread_key="m0").sla_due_at is not None
    else:  # the stored one keeps the clocks it had; the new one got its own
        assert Conversation.objects.get(thread_key="m0").message_count == 2
        assert Conversation.objects.get(thread_key="m2").sla_due_at is not None


def test_enrichment_failing_for_one_message_stores_it_unenriched(monkeypatch, channel):
    from inbox.lib.enrich import analysis

    real = analysis._analyse_text

    def analyse(text):
        if "BOEM" in text:
            raise RuntimeError("enricher choked")
        return real(text)

    monkeypatch.setattr(analysis, "_analyse_text", analyse)
    msgs = [
        im("m0", text="Waarom is mijn huur verhoogd? Ik ben echt boos hierover."),
        im("m1", 1, author="b", text="BOEM BOEM dit bericht breekt de verrijking"),
        im("m2", 2, author="c", text="Hartelijk dank voor de snelle reparatie van de lift!"),
    ]
    result = ingest_messages(channel=channel, messages=msgs)
    assert result.created == 3 and result.problems == 1
    languages = dict(Message.objects.values_list("external_id", "language"))
    assert languages["m1"] == ""
    assert languages["m0"] == "nl" and languages["m2"] == "nl"
    channel.refresh_from_db()
    assert channel.ingest_problem_count == 1
    assert "enricher choked" in channel.last_ingest_problem


def test_a_rule_failing_for_one_conversation_leaves_it_unrouted(monkeypatch, channel, team_a):
    RoutingRule.objects.create(name="Lift", keywords=["lift"], department=team_a)
    real = rule_apply.first_matching_rule

    def first_matching_rule(rules, message):
        if "BOEM" in message.text:
            raise RuntimeError("rule exploded")
        return real(rules, message)

    monkeypatch.setattr(rule_apply, "first_matching_rule", first_matching_rule)
    msgs = [
        im("m0"),
        im("m1", 1, author="b", text="BOEM de lift"),
        im("c1", 2, author="b", parent="m1", text="nog steeds de lift"),
    ]
    result = ingest_messages(channel=channel, messages=msgs)
    assert result.created == 3 and result.problems == 2
    suggested = dict(Conversation.objects.values_list("thread_key", "suggested_department"))
    assert suggested == {"m0": team_a.pk, "m1": None}
    channel.refresh_from_db()
    assert channel.ingest_problem_count == 2
    assert "rule exploded" in channel.last_ingest_problem


def test_a_forward_to_a_team_with_a_broken_calendar_keeps_the_clocks_it_had(
    policy, broken_calendar, channel, team_a
):
    team_a.calendar = broken_calendar
    team_a.save()
    RoutingRule.objects.create(name="Lift", keywords=["lift"], department=team_a, auto_forward=True)
    with time_machine.travel(T0, tick=False):
        result = ingest_messages(channel=channel, messages=[im("m0")])
    assert result.created == 1 and result.problems == 1
    conv = Conversation.objects.get()
    assert conv.department == team_a  # routed...
    assert conv.first_response_due_at == T0 + timedelta(minutes=30)  # ...its 24/7 clock kept
    channel = Channel.objects.get(pk=channel.pk)
    assert "no open business time" in channel.last_ingest_problem


def test_a_broken_calendar_logs_its_traceback_once_per_batch(
    policy, broken_calendar, channel, caplog
):
    """A broken setting fails the same way for every conversation: one traceback, one count."""
    policy.calendar = broken_calendar
    policy.save()
    with caplog.at_level("WARNING"):
        result = ingest_messages(
            channel=channel, messages=[im(f"m{i}", i, author=f"a{i}") for i in range(20)]
        )
    assert result.created == 20 and result.problems == 20
    with_traceback = [r for r in caplog.records if r.exc_info]
    assert len(with_traceback) == 1
    assert "no open business time" in str(with_traceback[0].exc_info[1])
    assert any("failed for 20 conversations" in r.getMessage() for r in caplog.records)


def test_a_broken_team_calendar_costs_only_its_own_forwards_the_recompute(
    policy, broken_calendar, office_calendar, channel, team_a, team_b
):
    """The forwards of a batch are recomputed together; when that fails, one by one: the
    conversation forwarded to the team with office hours still gets them."""
    team_a.calendar = broken_calendar
    team_a.save()
    team_b.calendar = office_calendar
    team_b.save()
    RoutingRule.objects.create(name="Lift", keywords=["lift"], department=team_a, auto_forward=True)
    RoutingRule.objects.create(name="Huur", keywords=["huur"], department=team_b, auto_forward=True)
    evening = datetime(2026, 3, 11, 20, 0, tzinfo=UTC)  # Wednesday 21:00 in Amsterdam
    with time_machine.travel(evening, tick=False):
        result = ingest_messages(
            channel=channel,
            messages=[
                IncomingMessage(
                    external_id=ext,
                    text=text,
                    created_at=evening,
                    author_id=ext,
                    author_handle=ext,
                    author_name=ext,
                )
                for ext, text in (("m0", "de lift is kapot"), ("m1", "mijn huur klopt niet"))
            ],
        )
    assert result.created == 2 and result.problems == 1
    due = {
        c.thread_key: (c.department_id, c.first_response_due_at) for c in Conversation.objects.all()
    }
    # Both forwarded; the lift one keeps its 24/7 clock, the rent one runs in office hours.
    assert due["m0"] == (team_a.pk, evening + timedelta(minutes=30))
    assert due["m1"] == (team_b.pk, datetime(2026, 3, 12, 8, 30, tzinfo=UTC))
