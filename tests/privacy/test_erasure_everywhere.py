"""Erasure empties every text about the contact, wherever it sits (replies, review edits,
notes, contact notes, notifications, platform errors, free-text reasons, audit events),
through the real services that wrote it; statistics stay. A reply not out yet never goes out.

On PostgreSQL: the audit trigger that erasure must pass exists there only.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import models
from django.utils import timezone

from inbox.models import (
    ContactNote,
    Conversation,
    Flag,
    Message,
    Reply,
    ReplyAttempt,
    ReplyState,
    ReplyVersion,
)
from inbox.services import replies as reply_services
from inbox.services.outbox import deliver_reply
from inbox.services.privacy import erase_contact
from inbox.services.team import ActionRefused, hand_back_conversation
from inbox.services.triage import flag_conversation
from routing.models import ReviewPolicy
from tests.factories import ChannelFactory, ContactFactory, ConversationFactory, MessageFactory
from tests.privacy.person import HANDLE, NAME, TEXT

pytestmark = pytest.mark.django_db

PERSONAL = (HANDLE, NAME, "piet", "dorpsstraat", "x-77")


def _texts_in_database() -> list[tuple[str, str, object]]:
    """Every text and JSON value in every table of the project's apps."""
    found = []
    for label in ("inbox", "routing", "reports"):
        for model in apps.get_app_config(label).get_models():
            fields = [
                f.attname
                for f in model._meta.concrete_fields
                if isinstance(f, models.CharField | models.TextField | models.JSONField)
            ]
            if not fields:
                continue
            for row in model.objects.values("pk", *fields):
                for field in fields:
                    value = json.dumps(row[field], ensure_ascii=False).casefold()
                    if any(p.casefold() in value for p in PERSONAL):
                        found.append((model.__name__, field, row[field]))
    return found


@pytest.fixture
def busy_thread(team_a, staff_a, lead_a, coordinator):
    team_a.review_policy = ReviewPolicy.ALWAYS
    team_a.save(update_fields=["review_policy"])
    channel = ChannelFactory(kind="simulator")
    channel.reply_teams.add(team_a)
    contact = ContactFactory(channel=channel, handle=HANDLE, name=NAME, external_id="x-77")
    conv = ConversationFactory(
        channel=channel,
        contact=contact,
        department=team_a,
        status="assigned",
        assignee=staff_a,
        snippet=TEXT,
        received_at=timezone.now() - timedelta(hours=2),
    )
    MessageFactory(conversation=conv, contact=contact, text=TEXT, raw={"author": HANDLE})
    # A reply through review: drafted, sent back with a comment, edited, approved with an edit.
    queued = reply_services.save_draft(
        conversation=conv, text="Beste Piet, we komen morgen.", acting_user=staff_a
    )
    queued = reply_services.submit_reply(reply=queued, acting_user=staff_a)
    queued = reply_services.send_back_reply(
        reply=queued, comment="Noem de Dorpsstraat niet publiek", acting_user=lead_a
    )
    queued = reply_services.save_draft(
        conversation=conv, reply=queued, text="Beste Piet, stuur ons een DM.", acting_user=staff_a
    )
    queued = reply_services.submit_reply(reply=queued, acting_user=staff_a)
    queued = reply_services.approve_reply(
        reply=queued, text="Hoi Piet, stuur ons een DM.", acting_user=lead_a
    )
    assert queued.state == ReplyState.APPROVED and queued.parts
    # A reply that went out earlier, with a failed attempt whose platform error quotes it.
    sent = Reply.objects.create(
        conversation=conv,
        author=staff_a,
        state=ReplyState.SENT,
        text="Dag Piet Jansen",
        parts=["Dag Piet Jansen"],
        posted_ids=["p1"],
        external_id="p1",
        external_url="https://example.test/p1",
        attempt_count=2,
        sent_at=timezone.now(),
        last_error="",
    )
    ReplyAttempt.objects.create(
        reply=sent,
        number=1,
        outcome="failed",
        started_at=timezone.now(),
        error='403 {"detail": "duplicate content: Dag Piet Jansen"}',
    )
    ReplyAttempt.objects.create(reply=sent, number=2, outcome="sent", started_at=timezone.now())
    # A draft of a colleague's that never left.
    reply_services.save_draft(conversation=conv, text="Piet belt morgen terug", acting_user=lead_a)
    # A note mentioning a colleague (the notification quotes it), a contact note, a threat flag
    # (evidence in the event, the snippet in the notification), a free-text hand-back reason.
    reply_services.add_note(
        conversation=conv,
        text=f"@{lead_a.username} Piet woont op de Dorpsstraat",
        acting_user=staff_a,
    )
    ContactNote.objects.create(contact=contact, author=staff_a, text="Piet is huurder sinds 2019")
    conv.refresh_from_db()
    conv = flag_conversation(
        conversation=conv, flag=Flag.THREAT, acting_user=coordinator, version=conv.version
    )
    conv.refresh_from_db()
    hand_back_conversation(
        conversation=conv, reason="Piet Jansen is klant van team B", acting_user=staff_a
    )
    # Someone else's thread: must stay as it is.
    other = ConversationFactory(channel=channel, snippet="Ander verhaal")
    MessageFactory(conversation=other, text="Ander verhaal")
    return contact, conv, queued, sent, other


def test_erasure_empties_every_text_about_the_contact(busy_thread, admin_user):
    contact, conv, queued, sent, other = busy_thread
    assert {model for model, _, _ in _texts_in_database()} >= {
        "Reply",
        "ReplyVersion",
        "ReplyAttempt",
        "Note",
        "ContactNote",
        "Notification",
        "Conversation",
        "ConversationEvent",
        "Message",
        "Contact",
    }  # the fixture really put the person everywhere
    conv.refresh_from_db()
    before = {
        "conversation": (
            conv.status,
            conv.message_count,
            conv.received_at,
            conv.flags,
            conv.priority,
            conv.sla_state,
            conv.first_response_due_at,
        ),
        "replies": Reply.objects.filter(conversation=conv).count(),
        "versions": ReplyVersion.objects.filter(reply__conversation=conv).count(),
        "attempts": ReplyAttempt.objects.filter(reply=sent).count(),
        "events": conv.events.count(),
        "notifications": conv.notifications.count(),
    }

    erase_contact(contact=contact, acting_user=admin_user)

    assert _texts_in_database() == []
    conv.refresh_from_db()
    after = {
        "conversation": (
            conv.status,
            conv.message_count,
            conv.received_at,
            conv.flags,
            conv.priority,
            conv.sla_state,
            conv.first_response_due_at,
        ),
        "replies": Reply.objects.filter(conversation=conv).count(),
        "versions": ReplyVersion.objects.filter(reply__conversation=conv).count(),
        "attempts": ReplyAttempt.objects.filter(reply=sent).count(),
        "events": conv.events.count() - 1,  # plus the erasure's own event
        "notifications": conv.notifications.count(),
    }
    assert after == before
    sent.refresh_from_db()
    assert sent.state == ReplyState.SENT and sent.attempt_count == 2 and sent.sent_at
    assert sent.posted_ids == ["p1"]  # platform ids stay, as for messages
    assert Message.objects.get(conversation=other).text == "Ander verhaal"
    assert Conversation.objects.get(pk=other.pk).snippet == "Ander verhaal"


def test_a_reply_not_sent_yet_never_goes_out_after_erasure(busy_thread, admin_user, coordinator):
    contact, conv, queued, _, _ = busy_thread
    erase_contact(contact=contact, acting_user=admin_user)
    queued.refresh_from_db()
    assert queued.state == ReplyState.FAILED and queued.parts == [] and queued.text == ""
    # The queued task still runs (it was enqueued before): nothing is posted.
    outbound = Message.objects.filter(conversation=conv, direction="out").count()
    assert deliver_reply(reply_id=queued.pk).kind in ("skipped", "failed")
    with pytest.raises(ActionRefused):
        reply_services.retry_reply(reply=queued, acting_user=coordinator)
    queued.refresh_from_db()
    assert queued.state == ReplyState.FAILED
    assert Message.objects.filter(conversation=conv, direction="out").count() == outbound
    # Even one forced back into the queue (a race with a retry) is refused by the outbox.
    Reply.objects.filter(pk=queued.pk).update(state=ReplyState.APPROVED)
    assert deliver_reply(reply_id=queued.pk).kind == "failed"
    assert Reply.objects.get(pk=queued.pk).state == ReplyState.FAILED
    assert Message.objects.filter(conversation=conv, direction="out").count() == outbound
