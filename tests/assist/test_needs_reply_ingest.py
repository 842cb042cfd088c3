"""Ingest stores each conversation's "needs a reply" score and reasons from its latest customer
message (PostgreSQL and SQLite legs: the UPDATE differs per database)."""

from __future__ import annotations

import pytest

from inbox.models import Conversation
from inbox.services.ingest import ingest_messages
from tests.inbox.test_ingest import msg


@pytest.mark.django_db
def test_a_new_conversation_gets_its_score_and_reasons(channel):
    ingest_messages(
        channel=channel, messages=[msg("q1", text="Wanneer komt de monteur? Graag snel aub")]
    )
    conv = Conversation.objects.get()
    assert conv.needs_reply is not None and conv.needs_reply >= 60
    assert "question" in conv.needs_reply_reasons.split(",")


@pytest.mark.django_db
def test_the_latest_customer_message_sets_the_score(channel):
    ingest_messages(
        channel=channel, messages=[msg("q1", text="Wanneer komt de monteur? Graag snel aub")]
    )
    asked = Conversation.objects.get().needs_reply
    ingest_messages(
        channel=channel, messages=[msg("t1", parent="q1", minutes=5, text="Top, gelukt. Bedankt!")]
    )
    conv = Conversation.objects.get()
    assert conv.message_count == 2
    assert conv.needs_reply is not None and conv.needs_reply < 50 < asked
    assert "thanks" in conv.needs_reply_reasons.split(",")
    # An older message arriving late does not overwrite the newer one's hint.
    ingest_messages(
        channel=channel, messages=[msg("late", parent="q1", minutes=1, text="Hoe lang nog?")]
    )
    conv.refresh_from_db()
    assert conv.needs_reply < 50 and conv.message_count == 3


@pytest.mark.django_db
def test_our_own_post_leaves_the_score_alone(channel):
    ingest_messages(channel=channel, messages=[msg("q1", text="Wanneer komt de monteur?")])
    before = Conversation.objects.get().needs_reply
    ingest_messages(
        channel=channel, messages=[msg("o1", parent="q1", minutes=3, own=True, text="Morgen!")]
    )
    conv = Conversation.objects.get()
    assert conv.message_count == 2 and conv.needs_reply == before


@pytest.mark.django_db
def test_a_failing_scorer_stores_the_message_unscored(channel, monkeypatch):
    from inbox.services.ingest import enrichment

    def broken(*args, **kwargs):
        raise RuntimeError("model file damaged")

    monkeypatch.setattr(enrichment, "needs_reply", broken)
    ingest_messages(channel=channel, messages=[msg("q1", text="Wanneer komt de monteur?")])
    conv = Conversation.objects.get()
    assert conv.needs_reply is None and conv.language  # the rest of enrichment still ran
    channel.refresh_from_db()
    assert channel.ingest_problem_count == 1
    assert "model file damaged" in channel.last_ingest_problem
