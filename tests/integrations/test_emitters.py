"""Each emitter writes its event in the transaction of the change: committed together, or
rolled back together. The real services are driven; a receiver is subscribed to everything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction

from inbox.channels.base import IncomingMessage
from inbox.models import Flag, SlaState
from inbox.services.ingest import ingest_messages
from inbox.services.outbox import deliver_reply
from inbox.services.replies import save_and_submit_reply
from inbox.services.spikes import detect_spikes
from inbox.services.triage import bulk_triage, flag_conversation, forward_conversation
from integrations.models import EventType, WebhookDelivery, WebhookEvent
from routing.sla.sweep import sweep_sla
from tests.factories import ChannelFactory, ConversationFactory, MessageFactory
from tests.integrations.conftest import subscribe

NOW = datetime(2026, 3, 2, 9, 7, tzinfo=UTC)


class Rollback(Exception):
    pass


@pytest.fixture
def listening(admin_user):
    subscription, _secret = subscribe(admin_user, "https://example.org/hook", *EventType.values)
    return subscription


def rolled_back(action) -> None:
    with pytest.raises(Rollback), transaction.atomic():
        action()
        assert WebhookEvent.objects.exists()  # written inside the transaction
        raise Rollback
    assert not WebhookEvent.objects.exists()


def only_event(event_type: str) -> dict:
    event = WebhookEvent.objects.get(type=event_type)
    assert WebhookDelivery.objects.filter(event=event, state="pending").count() == 1
    assert event.payload["id"] == str(event.event_id)
    assert event.payload["type"] == event_type
    return event.payload["data"]


def test_forward(listening, coordinator, team_a):
    conversation = ConversationFactory()

    def forward():
        conversation.refresh_from_db()
        forward_conversation(
            conversation=conversation,
            department=team_a,
            acting_user=coordinator,
            version=conversation.version,
        )

    rolled_back(forward)
    forward()
    data = only_event("conversation.forwarded")
    assert data["conversation_id"] == conversation.pk
    assert (data["department_id"], data["department"]) == (team_a.pk, team_a.name)
    assert data["channel_kind"] == conversation.channel.kind
    assert data["url_path"] == conversation.get_absolute_url()
    assert data["forwarded_by_id"] == coordinator.pk


def test_bulk_forward(listening, coordinator, team_a):
    conversations = ConversationFactory.create_batch(3)
    items = {c.pk: c.version for c in conversations}

    def forward():
        bulk_triage(action="forward", items=items, acting_user=coordinator, department=team_a)

    rolled_back(forward)
    forward()
    events = WebhookEvent.objects.filter(type="conversation.forwarded")
    assert sorted(e.payload["data"]["conversation_id"] for e in events) == sorted(items)


def test_threat_flagged(listening, coordinator):
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation)

    def flag():
        conversation.refresh_from_db()
        flag_conversation(
            conversation=conversation,
            flag=Flag.THREAT,
            acting_user=coordinator,
            version=conversation.version,
        )

    rolled_back(flag)
    flag()
    assert only_event("threat.flagged")["conversation_id"] == conversation.pk


def test_reply_sent(listening, coordinator):
    conversation = ConversationFactory(channel=ChannelFactory(kind="simulator", name="Demo"))
    MessageFactory(conversation=conversation)
    reply = save_and_submit_reply(
        conversation=conversation, text="Dank voor je bericht!", acting_user=coordinator
    )
    assert deliver_reply(reply_id=reply.pk).kind == "sent"
    data = only_event("reply.sent")
    assert (data["conversation_id"], data["reply_id"]) == (conversation.pk, reply.pk)
    assert "text" not in data  # ids, not what was said


def test_reply_sent_rolls_back_with_the_reply(listening, coordinator, monkeypatch):
    """A failure late in _mark_sent's transaction (after the event) leaves no event."""
    from inbox.services import outbox

    conversation = ConversationFactory(channel=ChannelFactory(kind="simulator", name="Demo"))
    MessageFactory(conversation=conversation)
    reply = save_and_submit_reply(
        conversation=conversation, text="Dank voor je bericht!", acting_user=coordinator
    )
    real_emit = outbox.emit_for_conversations

    def emit_then_fail(*args, **kwargs):
        real_emit(*args, **kwargs)
        assert WebhookEvent.objects.exists()
        raise Rollback

    monkeypatch.setattr(outbox, "emit_for_conversations", emit_then_fail)
    with pytest.raises(Rollback):
        deliver_reply(reply_id=reply.pk)
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("warn", "due", "event_type"),
    [
        (timedelta(minutes=-5), timedelta(minutes=10), "sla.at_risk"),
        (timedelta(minutes=-30), timedelta(minutes=-1), "sla.breached"),
    ],
)
def test_sla(listening, warn, due, event_type):
    now = datetime.now(UTC)
    conversation = ConversationFactory(
        sla_state=SlaState.OK, sla_warn_at=now + warn, sla_due_at=now + due
    )
    rolled_back(lambda: sweep_sla(now=now, enqueue_notifications=False))
    sweep_sla(now=now, enqueue_notifications=False)
    assert only_event(event_type)["conversation_id"] == conversation.pk


@time_machine.travel(NOW, tick=False)
def test_spike(listening, channel):
    conversation = ConversationFactory(channel=channel)
    MessageFactory.create_batch(
        40, conversation=conversation, text="Lekkage!", created_at=NOW - timedelta(minutes=3)
    )
    rolled_back(lambda: detect_spikes(now=NOW))
    detect_spikes(now=NOW)
    data = only_event("spike.alert")
    assert (data["channel_id"], data["keyword"], data["count"]) == (channel.pk, "", 40)


def test_mention_received(listening, channel):
    messages = [
        IncomingMessage(
            external_id=f"m{i}",
            text="Lekkage in de badkamer",
            created_at=datetime.now(UTC),
            author_id=f"a{i}",
        )
        for i in range(3)
    ]
    rolled_back(lambda: ingest_messages(channel=channel, messages=messages))
    result = ingest_messages(channel=channel, messages=messages)
    events = WebhookEvent.objects.filter(type="mention.received")
    assert sorted(e.payload["data"]["external_id"] for e in events) == ["m0", "m1", "m2"]
    assert {e.payload["data"]["conversation_id"] for e in events} == set(result.conversation_ids)
    # A replayed batch stores nothing new and emits nothing new.
    ingest_messages(channel=channel, messages=messages)
    assert events.count() == 3


def test_nobody_listening_writes_nothing_and_asks_once(
    coordinator, team_a, channel, django_assert_num_queries
):
    from integrations.services.events import wants

    conversation = ConversationFactory()
    forward_conversation(
        conversation=conversation,
        department=team_a,
        acting_user=coordinator,
        version=conversation.version,
    )
    message = IncomingMessage(
        external_id="x1", text="hallo", created_at=datetime.now(UTC), author_id="a"
    )
    ingest_messages(channel=channel, messages=[message])
    assert not WebhookEvent.objects.exists()
    # The check ingest makes per batch is answered from the process's copy.
    with django_assert_num_queries(0):
        assert not wants(EventType.MENTION_RECEIVED)
