"""Erasure scrubs the personal data in the audit log of the contact's conversations, through
the audit trigger's one narrow UPDATE path (inbox's initial migration carries it, for
PostgreSQL and for SQLite); every other change stays refused.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from inbox.models import ConversationEvent
from inbox.services import replies as reply_services
from inbox.services.privacy import erase_contact
from tests.factories import ChannelFactory, ContactFactory, ConversationFactory, MessageFactory
from tests.privacy.person import HANDLE, NAME, TEXT
from webcare.db import audit_scrub

pytestmark = pytest.mark.django_db

REPLY = "Beste Piet, we sturen morgen een monteur naar de Dorpsstraat."


@pytest.fixture
def erased_thread(team_a, staff_a, coordinator):
    channel = ChannelFactory()
    contact = ContactFactory(channel=channel, handle=HANDLE, name=NAME, external_id="x-77")
    conv = ConversationFactory(
        channel=channel,
        contact=contact,
        department=team_a,
        status="assigned",
        assignee=staff_a,
        snippet=TEXT,
        received_at=timezone.now() - timedelta(hours=1),
    )
    MessageFactory(conversation=conv, contact=contact, text=TEXT)
    # A real service writes an event carrying a reply text: a discarded draft.
    draft = reply_services.save_draft(conversation=conv, text=REPLY, acting_user=staff_a)
    reply_services.discard_reply(reply=draft, acting_user=staff_a)
    # The shapes other services write (triage evidence snapshot, hand-back, review).
    shapes = [
        (
            "threat_evidence",
            {
                "messages": [
                    {
                        "external_id": "1",
                        "author_handle": HANDLE,
                        "author_name": NAME,
                        "text": TEXT,
                        "direction": "in",
                    }
                ]
            },
        ),
        ("handed_back", {"department": team_a.pk, "reason": "Piet belt zelf terug"}),
        ("reply_sent_back", {"reply": 1, "comment": "Noem Piet niet bij naam"}),
        (
            "forwarded",
            {"department_id": team_a.pk, "department": team_a.name, "note": f"zie @{HANDLE}"},
        ),
        ("priority_changed", {"priority": 2, "from": 1}),
        ("split", {"new_conversation_id": 5, "summary": f"gesplitst voor {NAME.upper()}"}),
    ]
    for kind, data in shapes:
        ConversationEvent.objects.create(conversation=conv, actor=coordinator, kind=kind, data=data)
    # Another customer's conversation quoting this handle: not this contact's audit trail.
    other = ConversationFactory(channel=channel)
    ConversationEvent.objects.create(
        conversation=other, actor=coordinator, kind="forwarded", data={"department": HANDLE}
    )
    return contact, conv, other


def test_erasure_scrubs_the_events_of_the_contacts_conversations(erased_thread, admin_user):
    contact, conv, other = erased_thread
    before = {e.pk: (e.kind, e.actor_id, e.created_at) for e in conv.events.all()}

    erase_contact(contact=contact, acting_user=admin_user)

    events = list(conv.events.order_by("pk"))
    for event in events:
        dumped = json.dumps(event.data, ensure_ascii=False).casefold()
        for personal in (HANDLE, NAME, "piet", TEXT, REPLY, "dorpsstraat", "x-77"):
            assert personal.casefold() not in dumped, (event.kind, event.data)
    # Who did what and when stays; only the data changed. Nothing was deleted.
    after = {e.pk: (e.kind, e.actor_id, e.created_at) for e in events}
    assert {pk: after[pk] for pk in before} == before
    # Data that was never personal is kept as it was.
    priority = next(e for e in events if e.kind == "priority_changed")
    assert priority.data == {"priority": 2, "from": 1}
    evidence = next(e for e in events if e.kind == "threat_evidence")
    assert evidence.data["messages"][0]["external_id"] == "1"
    # The erasure is audited, with what it did.
    erasure = ConversationEvent.objects.get(kind="privacy_erasure")
    assert erasure.actor == admin_user and erasure.conversation_id == conv.pk
    assert erasure.data["contact"] == contact.pk and erasure.data["events"] == 6
    # Another contact's audit trail is not touched.
    assert other.events.get().data == {"department": HANDLE}


def test_the_audit_log_stays_append_only_outside_erasure(erased_thread, admin_user):
    contact, conv, _ = erased_thread
    erase_contact(contact=contact, acting_user=admin_user)
    event = conv.events.exclude(kind="privacy_erasure").first()
    erasure = ConversationEvent.objects.get(kind="privacy_erasure")

    def refused(sql: str, params: list, *, scrub: bool = False) -> None:
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            audit_scrub() if scrub else nullcontext(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, params)

    # Ordinary changes, as before: refused.
    refused("UPDATE inbox_conversationevent SET data = '{}' WHERE id = %s", [event.pk])
    refused("DELETE FROM inbox_conversationevent WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        ConversationEvent.objects.filter(pk=event.pk).update(kind="tampered")
    # Even while scrubbing: only data, never a delete, never the privacy records.
    sql = "UPDATE inbox_conversationevent SET kind = 'tampered' WHERE id = %s"
    refused(sql, [event.pk], scrub=True)
    sql = "UPDATE inbox_conversationevent SET actor_id = NULL WHERE id = %s"
    refused(sql, [event.pk], scrub=True)
    sql = "UPDATE inbox_conversationevent SET created_at = %s WHERE id = %s"
    refused(sql, [connection.ops.adapt_datetimefield_value(timezone.now()), event.pk], scrub=True)
    refused("DELETE FROM inbox_conversationevent WHERE id = %s", [event.pk], scrub=True)
    sql = "UPDATE inbox_conversationevent SET data = '{}' WHERE id = %s"
    refused(sql, [erasure.pk], scrub=True)
    # The setting is local to the erasure's transaction: it does not leak into the next.
    refused("UPDATE inbox_conversationevent SET data = '{}' WHERE id = %s", [event.pk])
    assert ConversationEvent.objects.get(pk=erasure.pk).data["contact"] == contact.pk
