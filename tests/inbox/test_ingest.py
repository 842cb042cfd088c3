"""ingest_messages: idempotent, threaded, reopening, contacts once per author (PostgreSQL)."""

from datetime import UTC, datetime, timedelta

import pytest

from inbox.channels.base import IncomingMessage
from inbox.models import Contact, Conversation, ConversationEvent, Direction, Message, Status
from inbox.services.ingest import ingest_messages

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def msg(ext, *, author="cust-1", parent="", thread="", minutes=0, own=False, text=None, **kw):
    return IncomingMessage(
        external_id=ext,
        text=text if text is not None else f"Bericht {ext}: mijn cv-ketel is kapot",
        created_at=T0 + timedelta(minutes=minutes),
        author_id=author,
        author_handle=kw.pop("handle", f"h_{author}"),
        author_name=kw.pop("name", f"Name {author}"),
        parent_external_id=parent,
        conversation_external_id=thread,
        is_own=own,
        raw=kw.pop("raw", {"id": ext}),
        **kw,
    )


def close(conv, at):
    Conversation.objects.filter(pk=conv.pk).update(status=Status.CLOSED, closed_at=at)


@pytest.mark.django_db
def test_it_creates_messages_conversations_and_contacts(channel):
    batch = [
        msg("1", minutes=0),
        msg("2", author="cust-2", minutes=1),
        msg("3", author="cust-1", parent="1", minutes=2),
    ]
    result = ingest_messages(channel=channel, messages=batch, cursor={"since_id": "3"})

    assert result.created == 3
    assert result.duplicates == 0
    assert len(result.new_conversation_ids) == 2
    assert Message.objects.count() == 3
    assert Contact.objects.filter(channel=channel).count() == 2
    first = Conversation.objects.get(thread_key="1")
    assert first.message_count == 2
    assert first.status == Status.NEW
    assert first.received_at == T0
    assert first.last_message_at == T0 + timedelta(minutes=2)
    assert first.last_inbound_at == T0 + timedelta(minutes=2)
    assert first.snippet.startswith("Bericht 1")
    assert first.contact.external_id == "cust-1"
    assert sorted(
        Message.objects.filter(conversation=first).values_list("external_id", flat=True)
    ) == ["1", "3"]
    channel.refresh_from_db()
    assert channel.cursor == {"since_id": "3"}
    assert channel.ingest_day_count == 3
    assert ConversationEvent.objects.filter(kind="opened").count() == 2


@pytest.mark.django_db
def test_replaying_a_batch_twice_creates_nothing_new(channel):
    batch = [
        msg(str(i), author=f"c{i % 7}", parent=str(i - 1) if i % 3 else "", minutes=i)
        for i in range(60)
    ]
    first = ingest_messages(channel=channel, messages=batch)
    again = ingest_messages(channel=channel, messages=batch + batch[:10])

    assert first.created == 60
    assert again.created == 0
    assert again.duplicates == 70
    assert again.conversation_ids == []
    assert Message.objects.count() == 60
    assert Conversation.objects.count() == 20
    assert Contact.objects.count() == 7
    assert sum(Conversation.objects.values_list("message_count", flat=True)) == 60
    assert ConversationEvent.objects.count() == 20


@pytest.mark.django_db
def test_a_reply_threads_into_its_parents_conversation_across_batches(channel):
    ingest_messages(channel=channel, messages=[msg("root")])
    # Parent already stored: found through its message.
    ingest_messages(
        channel=channel, messages=[msg("r1", author="cust-9", parent="root", minutes=5)]
    )
    # Grandchild arriving before its parent in the same batch, and a platform thread id.
    ingest_messages(
        channel=channel,
        messages=[
            msg("r3", parent="r2", minutes=9),
            msg("r2", parent="r1", minutes=8),
            msg("other", thread="root", minutes=10),
        ],
    )
    conv = Conversation.objects.get()
    assert conv.message_count == 5
    assert conv.thread_key == "root"
    assert conv.contact.external_id == "cust-1"


@pytest.mark.django_db
def test_an_orphan_reply_and_its_late_parent_share_a_conversation(channel):
    ingest_messages(channel=channel, messages=[msg("child", parent="late-parent", minutes=5)])
    ingest_messages(channel=channel, messages=[msg("late-parent", author="cust-2")])
    assert Conversation.objects.count() == 1
    assert Conversation.objects.get().message_count == 2


@pytest.mark.django_db
def test_a_reply_whose_parent_reply_comes_later_is_merged_into_the_thread(channel, policy):
    """root <- r1 <- r2, delivered root, r2, r1 (no platform thread id, as Mastodon)."""
    from routing.models import SlaClock

    ingest_messages(channel=channel, messages=[msg("root", minutes=0)])
    ingest_messages(channel=channel, messages=[msg("r2", author="cust-3", parent="r1", minutes=9)])
    orphan = Conversation.objects.get(thread_key="r1")  # opened, waiting for its parent
    assert SlaClock.objects.filter(conversation=orphan, stopped_at__isnull=True).exists()

    ingest_messages(
        channel=channel, messages=[msg("r1", author="cust-2", parent="root", minutes=5)]
    )

    root = Conversation.objects.get(thread_key="root")
    assert sorted(root.messages.values_list("external_id", flat=True)) == ["r1", "r2", "root"]
    assert root.message_count == 3
    assert root.last_inbound_at == T0 + timedelta(minutes=9)
    orphan.refresh_from_db()
    assert orphan.status == "closed" and orphan.merged_into_id == root.pk
    assert not orphan.messages.exists()
    assert not SlaClock.objects.filter(conversation=orphan, stopped_at__isnull=True).exists()
    event = root.events.get(kind="merged")
    assert event.data == {"by": "ingest", "source_id": orphan.pk, "moved_messages": 1}
    # Replaying the whole thread changes nothing.
    ingest_messages(
        channel=channel, messages=[msg("root"), msg("r1", parent="root"), msg("r2", parent="r1")]
    )
    assert Conversation.objects.filter(status="new").count() == 1


@pytest.mark.django_db
def test_a_customer_writing_again_within_the_window_reopens(channel, settings):
    settings.REOPEN_WINDOW_DAYS = 7
    ingest_messages(channel=channel, messages=[msg("1")])
    conv = Conversation.objects.get()
    close(conv, T0 + timedelta(hours=1))

    result = ingest_messages(channel=channel, messages=[msg("2", parent="1", minutes=60 * 24 * 6)])

    conv.refresh_from_db()
    assert result.reopened_ids == [conv.pk]
    assert conv.status == Status.NEW
    assert conv.closed_at is None
    assert conv.message_count == 2
    assert conv.version == 2
    assert Conversation.objects.count() == 1
    assert ConversationEvent.objects.filter(conversation=conv, kind="reopened").count() == 1


@pytest.mark.django_db
def test_after_the_window_a_new_conversation_links_to_the_old_one(channel, settings):
    settings.REOPEN_WINDOW_DAYS = 7
    ingest_messages(channel=channel, messages=[msg("1")])
    old = Conversation.objects.get()
    close(old, T0 + timedelta(hours=1))

    result = ingest_messages(channel=channel, messages=[msg("2", parent="1", minutes=60 * 24 * 9)])

    old.refresh_from_db()
    assert old.status == Status.CLOSED
    assert old.message_count == 1
    new = Conversation.objects.get(pk=result.new_conversation_ids[0])
    assert new.previous == old
    assert new.status == Status.NEW
    assert new.thread_key == old.thread_key
    assert new.message_count == 1
    # The next reply goes to the open follow-up, not to the closed original.
    ingest_messages(channel=channel, messages=[msg("3", parent="1", minutes=60 * 24 * 10)])
    new.refresh_from_db()
    assert new.message_count == 2


@pytest.mark.django_db
def test_a_hidden_conversation_is_not_reopened(channel):
    ingest_messages(channel=channel, messages=[msg("1")])
    old = Conversation.objects.get()
    Conversation.objects.filter(pk=old.pk).update(status=Status.HIDDEN)
    ingest_messages(channel=channel, messages=[msg("2", parent="1", minutes=5)])
    assert Conversation.objects.filter(previous=old, status=Status.NEW).count() == 1


@pytest.mark.django_db
def test_own_posts_are_stored_as_outbound_and_reopen_nothing(channel):
    ingest_messages(channel=channel, messages=[msg("1")])
    conv = Conversation.objects.get()
    ingest_messages(
        channel=channel,
        messages=[msg("2", author="woonstad", parent="1", own=True, minutes=3)],
    )
    reply = Message.objects.get(external_id="2")
    assert reply.direction == Direction.OUTBOUND
    assert reply.conversation == conv
    assert reply.contact.is_own_account
    conv.refresh_from_db()
    assert conv.message_count == 2
    assert conv.last_inbound_at == T0  # our post is not customer activity
    assert conv.last_message_at == T0 + timedelta(minutes=3)

    close(conv, T0 + timedelta(minutes=10))
    ingest_messages(
        channel=channel,
        messages=[msg("3", author="woonstad", parent="2", own=True, minutes=20)],
    )
    conv.refresh_from_db()
    assert conv.status == Status.CLOSED
    assert Conversation.objects.count() == 1


@pytest.mark.django_db
def test_a_customer_answering_our_own_post_turns_it_into_work(channel):
    ingest_messages(
        channel=channel, messages=[msg("post", author="woonstad", own=True, text="Storing!")]
    )
    conv = Conversation.objects.get()
    assert conv.status == Status.ANSWERED
    assert conv.last_inbound_at is None

    ingest_messages(
        channel=channel,
        messages=[msg("q", author="cust-5", parent="post", minutes=4, text="Wanneer?")],
    )
    conv.refresh_from_db()
    assert conv.status == Status.NEW
    assert conv.contact.external_id == "cust-5"
    assert conv.snippet == "Wanneer?"
    assert conv.received_at == T0 + timedelta(minutes=4)
    assert conv.message_count == 2


@pytest.mark.django_db
def test_our_post_and_a_customers_answer_in_one_batch_are_work_too(channel):
    """The same as across two batches: the batch boundary must not decide what needs triage."""
    ingest_messages(
        channel=channel,
        messages=[
            msg("post", author="woonstad", own=True, text="Storing!"),
            msg("q", author="cust-5", parent="post", minutes=4, text="Wanneer?"),
        ],
    )
    conv = Conversation.objects.get()
    assert conv.status == Status.NEW
    assert conv.contact.external_id == "cust-5"
    assert conv.snippet == "Wanneer?"
    assert conv.received_at == T0 + timedelta(minutes=4)


@pytest.mark.django_db
def test_contacts_are_one_per_author_and_keep_their_history(channel):
    batches = [
        [msg("a1", author="u1", name="Old Name"), msg("b1", author="u2")],
        [msg("a2", author="u1", name="New Name", minutes=60)],
    ]
    for batch in batches:
        ingest_messages(channel=channel, messages=batch)
    assert Contact.objects.count() == 2
    contact = Contact.objects.get(external_id="u1")
    assert contact.name == "New Name"
    assert contact.conversations.count() == 2
    assert contact.messages.count() == 2


@pytest.mark.django_db
def test_contact_tags_flag_their_conversations(channel):
    from inbox.models import Flag

    Contact.objects.create(channel=channel, external_id="press-1", tags=["press"], is_fake=True)
    ingest_messages(channel=channel, messages=[msg("1", author="press-1")])
    conv = Conversation.objects.get()
    assert conv.flags & Flag.PRESS
    assert conv.flags & Flag.FAKE_ACCOUNT


@pytest.mark.django_db
def test_bad_input_is_stored_not_rejected(channel):
    long_id = "x" * 400
    ingest_messages(
        channel=channel,
        messages=[
            msg("nul", text="a\x00b", raw={"t": "a\x00b"}),
            msg(long_id, author="", handle=""),
            IncomingMessage(
                external_id="naive", text="", created_at=datetime(2025, 1, 1), author_id="z"
            ),
        ],
    )
    assert Message.objects.get(external_id="nul").text == "ab"
    assert Message.objects.filter(external_id="x" * 255).exists()
    assert Contact.objects.filter(external_id="anonymous").exists()
    assert Message.objects.get(external_id="naive").created_at == datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.django_db
def test_messages_of_another_channel_never_mix(channel):
    from tests.factories import ChannelFactory

    other = ChannelFactory()
    ingest_messages(channel=channel, messages=[msg("1")])
    ingest_messages(channel=other, messages=[msg("1"), msg("2", parent="1")])
    assert Message.objects.filter(channel=other).count() == 2
    assert Conversation.objects.filter(channel=other).count() == 1
    assert Conversation.objects.filter(channel=channel).get().message_count == 1


@pytest.mark.django_db
def test_large_input_is_split_into_batches_and_cursor_saved_once(channel, monkeypatch):
    from inbox.services.ingest import batch

    monkeypatch.setattr(batch, "BATCH_SIZE", 7)
    batch = [
        msg(str(i), author=f"c{i % 4}", parent=str(i - 1) if i % 5 else "", minutes=i)
        for i in range(40)
    ]
    result = ingest_messages(channel=channel, messages=batch, cursor={"page": 2})
    assert result.created == 40
    assert Conversation.objects.count() == 8
    assert sum(Conversation.objects.values_list("message_count", flat=True)) == 40
    channel.refresh_from_db()
    assert channel.cursor == {"page": 2}


@pytest.mark.django_db
def test_new_conversations_go_through_the_routing_rules(channel, team_a):
    from datetime import UTC, datetime

    from inbox.channels.base import IncomingMessage
    from inbox.models import Conversation
    from inbox.services.ingest import ingest_messages
    from routing.models import RoutingRule

    RoutingRule.objects.create(
        name="Lekkages", keywords=["lekkage"], department=team_a, set_priority=3
    )
    stamp = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    ingest_messages(
        channel=channel,
        messages=[
            IncomingMessage(
                external_id="r1", text="Lekkage in de keuken!", created_at=stamp, author_id="a1"
            ),
            IncomingMessage(
                external_id="r2", text="Wanneer is de huur?", created_at=stamp, author_id="a2"
            ),
        ],
    )
    routed = Conversation.objects.get(messages__external_id="r1")
    other = Conversation.objects.get(messages__external_id="r2")
    assert (routed.suggested_department, routed.priority) == (team_a, 3)
    assert other.suggested_department is None
    assert routed.events.filter(kind="routed").count() == 1


@pytest.mark.django_db
def test_a_payload_with_nan_or_infinity_is_stored(channel):
    """Python's JSON parser accepts NaN and -Infinity; jsonb does not (found by tests/fuzz)."""
    weird = {"score": float("-inf"), "nested": [float("nan"), {"x": float("inf")}], "ok": 1.5}
    result = ingest_messages(channel=channel, messages=[msg("1", raw=weird)])
    assert result.created == 1
    raw = Message.objects.get().raw
    assert raw["ok"] == 1.5 and raw["score"] == "-inf" and raw["nested"][1]["x"] == "inf"
