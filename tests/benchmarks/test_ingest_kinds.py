"""bench/kinds.py: the ingest benchmark's mix really is each platform's shape, parsed by its
connector, and ingest stores it as such (private chats per customer, comment threads)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench.kinds import KINDS
from inbox.channels.base import IncomingMessage
from inbox.models import Channel, Conversation
from inbox.services.ingest import ingest_messages

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
CUSTOMER = IncomingMessage(
    external_id="3-1001",
    text="Mijn rekening klopt niet",
    created_at=AT,
    author_id="jan",
    author_handle="jan",
)
FOLLOW_UP = IncomingMessage(
    external_id="3-1002",
    text="Nog steeds geen antwoord",
    created_at=AT.replace(minute=5),
    author_id="jan",
    author_handle="jan",
    parent_external_id="3-1001",
)
OURS = IncomingMessage(
    external_id="3-1003",
    text="Sorry Jan, we kijken mee",
    created_at=AT.replace(minute=9),
    author_id="brand",
    author_handle="brand",
    parent_external_id="3-1002",
    is_own=True,
)
CHATS = {"whatsapp": "wa:", "messenger": "fbm:", "instagram_direct": "igd:", "x_dm": "dm:"}
COMMENTS = ("linkedin", "youtube")


def _shaped(kind: str) -> list[IncomingMessage]:
    spec = KINDS[kind]
    out = [spec.convert(spec.config(), m, 3) for m in (CUSTOMER, FOLLOW_UP, OURS)]
    return [m for m in out if m is not None]


def test_every_new_kind_is_in_the_mix():
    assert set(KINDS) == set(CHATS) | set(COMMENTS)


@pytest.mark.parametrize("kind", sorted(CHATS))
def test_a_chat_is_private_and_one_conversation_per_customer(kind):
    messages = _shaped(kind)
    assert len(messages) == 2  # our own message has no echo in the base data's shape
    assert all(not m.is_public and not m.is_own for m in messages)
    keys = {m.conversation_external_id for m in messages}
    assert len(keys) == 1 and keys.pop().startswith(CHATS[kind])


@pytest.mark.parametrize("kind", COMMENTS)
def test_comments_are_public_and_ours_are_marked(kind):
    first, follow_up, ours = _shaped(kind)
    assert first.is_public and not first.is_own and ours.is_own
    assert follow_up.parent_external_id == first.external_id


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_ingest_stores_the_shape(kind):
    spec = KINDS[kind]
    channel = Channel.objects.create(kind=spec.channel_kind, name=kind, config=spec.settings)
    messages = _shaped(kind)
    assert ingest_messages(channel=channel, messages=messages).created == len(messages)
    conversations = list(Conversation.objects.filter(channel=channel))
    assert len(conversations) == 1
    assert conversations[0].is_public == (kind in COMMENTS)
