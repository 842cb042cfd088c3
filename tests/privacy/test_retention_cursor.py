"""Retention on a frozen clock: the same scrub as erasure for the conversations it
anonymises, batches from a saved cursor (a run that dies continues; a daily run does not
rescan what is done), a periodic pass from the start, and the nightly beat entry.

On PostgreSQL: the audit trigger that the event scrub must pass exists there only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from inbox.models import (
    Contact,
    ContactNote,
    Conversation,
    ConversationEvent,
    Message,
    Note,
    Notification,
    Reply,
    ReplyState,
    ReplyVersion,
    RetentionCursor,
)
from inbox.services import privacy
from inbox.services import replies as reply_services
from inbox.services.privacy import apply_retention
from tests.factories import ChannelFactory, ContactFactory, ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _thread(channel, contact, when, texts):
    conv = ConversationFactory(
        channel=channel,
        contact=contact,
        received_at=when,
        snippet=texts[0],
        last_message_at=when + timedelta(hours=len(texts) - 1),
        message_count=len(texts),
    )
    for i, text in enumerate(texts):
        MessageFactory(conversation=conv, text=text, created_at=when + timedelta(hours=i))
    return conv


def test_retention_scrubs_replies_notes_notifications_and_events_too(staff_a, lead_a, team_a):
    channel = ChannelFactory(kind="simulator", config={"retention_months": 6})
    channel.reply_teams.add(team_a)
    with time_machine.travel(START, tick=False):
        old = ContactFactory(channel=channel, handle="annabakker", name="Anna Bakker")
        conv = _thread(channel, old, START, ["Anna hier, lekkage in de Kerklaan"])
        Conversation.objects.filter(pk=conv.pk).update(department=team_a, assignee=staff_a)
        conv.refresh_from_db()
        draft = reply_services.save_draft(
            conversation=conv, text="Dag Anna, wat vervelend", acting_user=staff_a
        )
        reply_services.discard_reply(reply=draft, acting_user=staff_a)  # its text in an event
        reply_services.save_draft(conversation=conv, text="Dag Anna Bakker", acting_user=staff_a)
        reply_services.add_note(
            conversation=conv, text=f"@{lead_a.username} Anna van de Kerklaan", acting_user=staff_a
        )
        ContactNote.objects.create(contact=old, text="Anna belt vaak")
    with time_machine.travel(START + timedelta(days=150), tick=False):
        fresh = ContactFactory(channel=channel, handle="kees", name="Kees")
        recent = _thread(channel, fresh, timezone.now(), ["Kees: de lift is kapot"])
    events_before = conv.events.count()

    with time_machine.travel(START + timedelta(days=200), tick=False):
        result = apply_retention(channel=channel, now=timezone.now())

    assert result["conversations"] == 1 and result["contacts"] == 1 and result["replies"] == 1
    for value in (
        list(Reply.objects.filter(conversation=conv).values_list("text", flat=True))
        + list(ReplyVersion.objects.filter(reply__conversation=conv).values_list("text", flat=True))
        + list(Note.objects.filter(conversation=conv).values_list("text", flat=True))
        + list(Notification.objects.filter(conversation=conv).values_list("text", flat=True))
        + list(ContactNote.objects.filter(contact=old).values_list("text", flat=True))
        + [json.dumps(e.data) for e in conv.events.all()]
    ):
        assert "anna" not in value.casefold() and "kerklaan" not in value.casefold(), value
    assert conv.events.count() == events_before  # rows stay, only their data changed
    assert Contact.objects.get(pk=old.pk).handle == ""
    # The recent thread and its contact are untouched.
    assert Message.objects.get(conversation=recent).text == "Kees: de lift is kapot"
    assert Contact.objects.get(pk=fresh.pk).handle == "kees"


@pytest.fixture
def half_year(monkeypatch):
    """A channel with one message a week for 26 weeks, each in its own thread."""
    monkeypatch.setattr(privacy, "BATCH_SIZE", 3)
    channel = ChannelFactory(config={"retention_months": 1})
    with time_machine.travel(START, tick=False):
        contact = ContactFactory(channel=channel)
    convs = [
        _thread(channel, contact, START + timedelta(weeks=w), [f"week {w} tekst"])
        for w in range(26)
    ]
    return channel, convs


def _with_text(channel):
    return set(
        Message.objects.filter(channel=channel).exclude(text="").values_list("text", flat=True)
    )


def test_daily_runs_continue_from_the_cursor_and_do_not_rescan(half_year):
    channel, convs = half_year
    day = START + timedelta(weeks=10, days=-1)  # cutoff: weeks 0-5 are past
    with time_machine.travel(day, tick=False):
        first = apply_retention(channel=channel, now=timezone.now())
    assert first["messages"] == 6 and first["conversations"] == 6 and first["more"] == 0
    assert "week 5 tekst" not in _with_text(channel) and "week 6 tekst" in _with_text(channel)
    cursor = RetentionCursor.objects.get(channel=channel)
    assert cursor.message_created_at == START + timedelta(weeks=5)

    # Plant text behind the cursor, as if anonymised rows had it: a daily run does not look back.
    Message.objects.filter(conversation=convs[0]).update(text="behind the cursor")
    with time_machine.travel(day + timedelta(days=1), tick=False):
        assert not any(apply_retention(channel=channel, now=timezone.now()).values())
    # A week later the cursor moves on by one message, still without looking back.
    with time_machine.travel(day + timedelta(days=7), tick=False):
        assert apply_retention(channel=channel, now=timezone.now())["messages"] == 1
    assert "behind the cursor" in _with_text(channel)
    # The periodic pass from the start catches what sits behind the cursor.
    with time_machine.travel(day + privacy.FULL_PASS + timedelta(days=1), tick=False):
        apply_retention(channel=channel, now=timezone.now())
    assert "behind the cursor" not in _with_text(channel)


def test_a_run_that_dies_half_way_continues_where_it_stopped(half_year, monkeypatch):
    channel, _ = half_year
    real = privacy._scrub_conversations
    calls = {"n": 0}

    def dies_in_the_second_batch(ids, personal):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return real(ids, personal)

    monkeypatch.setattr(privacy, "_scrub_conversations", dies_in_the_second_batch)
    day = START + timedelta(weeks=10, days=-1)
    with time_machine.travel(day, tick=False), pytest.raises(RuntimeError):
        apply_retention(channel=channel, now=timezone.now())
    # The first batch is committed with its cursor; the dying one rolled back whole.
    assert {t for t in _with_text(channel) if t.startswith("week ")} >= {"week 3 tekst"}
    assert "week 2 tekst" not in _with_text(channel)
    cursor = RetentionCursor.objects.get(channel=channel)
    assert cursor.message_created_at == START + timedelta(weeks=2)

    monkeypatch.setattr(privacy, "_scrub_conversations", real)
    with time_machine.travel(day + timedelta(minutes=5), tick=False):
        again = apply_retention(channel=channel, now=timezone.now())
    assert again["messages"] == 3  # weeks 3-5: nothing done twice
    assert _with_text(channel) == {f"week {w} tekst" for w in range(6, 26)}


def test_contacts_without_conversations_are_anonymised_by_age():
    channel = ChannelFactory(config={"retention_months": 3})
    with time_machine.travel(START, tick=False):
        lonely = ContactFactory(channel=channel, handle="eenzaam")
    with time_machine.travel(START + timedelta(days=80), tick=False):
        young = ContactFactory(channel=channel, handle="jong")
    with time_machine.travel(START + timedelta(days=100), tick=False):
        apply_retention(channel=channel, now=timezone.now())
    assert Contact.objects.get(pk=lonely.pk).handle == ""
    assert Contact.objects.get(pk=young.pk).handle == "jong"
    assert RetentionCursor.objects.get(channel=channel).contact_id == lonely.pk
    with time_machine.travel(START + timedelta(days=200), tick=False):
        apply_retention(channel=channel, now=timezone.now())
    assert Contact.objects.get(pk=young.pk).handle == ""


def test_retention_leaves_statistics_alone(half_year):
    channel, convs = half_year
    Reply.objects.create(
        conversation=convs[0],
        author=_user(),
        state=ReplyState.SENT,
        text="x",
        parts=["x"],
        posted_ids=["p"],
        sent_at=START + timedelta(hours=1),
    )
    fields = ("status", "received_at", "last_message_at", "message_count", "sla_state", "flags")
    before = list(Conversation.objects.filter(channel=channel).order_by("pk").values(*fields))
    events = ConversationEvent.objects.count()
    with time_machine.travel(START + timedelta(weeks=30), tick=False):
        apply_retention(channel=channel, now=timezone.now())
    assert list(Conversation.objects.filter(channel=channel).order_by("pk").values(*fields)) == (
        before
    )
    assert Message.objects.filter(channel=channel).count() == 26
    assert ConversationEvent.objects.count() == events
    reply = Reply.objects.get(conversation=convs[0])
    assert reply.state == ReplyState.SENT and reply.sent_at and reply.text == ""


def _user():
    from tests.factories import UserFactory

    return UserFactory()


def test_the_nightly_beat_entry_runs_the_task():
    from celery.schedules import crontab

    from inbox.tasks.privacy import apply_retention_task
    from webcare.celery import app

    entry = app.conf.beat_schedule["apply-retention"]
    assert entry["task"] == apply_retention_task.name
    assert isinstance(entry["schedule"], crontab)
    assert apply_retention_task.acks_late
