"""Privacy (AVG/GDPR): retention, export and erasure of one contact's data.

What anonymising keeps: the rows, their timestamps, directions, statuses,
SLA fields, language/sentiment/flags and counts, so dashboards and response
times stay right. What it removes: who wrote it (handle, name, avatar,
profile URL, platform id) and what was written (message text, raw payload,
URL, conversation snippet).

The audit log (ConversationEvent) is append-only at the database level. Its rows
record who did what, but their data can carry personal data too (a note, a
reviewer's comment, a discarded reply, the threat evidence's author and text). An
erasure scrubs those values in the events of the contact's conversations, through
the one narrow UPDATE the trigger allows (migration 0011): only the data column,
only while this service says so. Kind, actor and time stay, and so does the audit
event of the erasure itself.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from dateutil.relativedelta import relativedelta
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from inbox.models import (
    Channel,
    Contact,
    Conversation,
    ConversationEvent,
    Message,
    Reply,
    ReplyVersion,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
ERASED = ""  # anonymised text fields are emptied, not replaced: nothing to mistake for content
# Keys of ConversationEvent.data holding free text or who wrote it: emptied on erasure
# whatever they say (a comment can name the customer without quoting anything stored).
EVENT_TEXT_KEYS = frozenset(
    {"text", "note", "comment", "reason", "error", "url"}
    | {"author_handle", "author_name", "author_profile_url"}
)
# Shorter strings (an initial, a one-letter handle) would match inside any word.
MIN_PERSONAL_LENGTH = 2


def retention_months(channel: Channel) -> int | None:
    """The channel's retention in months (Channel.config["retention_months"]), or None: keep."""
    value = (channel.config or {}).get("retention_months")
    if value in (None, "", 0, "0"):
        return None
    try:
        months = int(value)
    except (TypeError, ValueError):
        logger.warning("Channel %s has an invalid retention_months setting", channel.pk)
        return None
    return months if months > 0 else None


def _require_admin(user) -> None:
    if not (user and user.is_authenticated and user.is_admin_role):
        raise PermissionDenied


def _anonymise_contacts(ids: list[int], now: datetime) -> int:
    # external_id stays unique per channel; if the person writes again they become a new contact.
    count = 0
    for pk in ids:
        count += Contact.objects.filter(pk=pk, anonymised_at__isnull=True).update(
            external_id=f"erased-{pk}",
            handle=ERASED,
            name=ERASED,
            avatar_url=ERASED,
            profile_url=ERASED,
            tags=[],
            anonymised_at=now,
        )
    return count


def _scrub_messages(queryset) -> int:
    return queryset.update(text=ERASED, raw={}, url=ERASED)


def _has_content() -> Q:
    return ~Q(text=ERASED) | ~Q(raw={}) | ~Q(url=ERASED)


def apply_retention(*, channel: Channel, now: datetime, max_batches: int = 100) -> dict[str, int]:
    """Anonymise what is older than the channel's retention, in batches; idempotent.

    Each batch is its own short transaction (no long locks on a busy table) and
    touches only rows that still carry personal data, so a second run finds
    nothing to do. Returns counts and whether work is left ("more": 1).
    """
    months = retention_months(channel)
    done = {"messages": 0, "conversations": 0, "contacts": 0, "more": 0}
    if months is None:
        return done
    cutoff = now - relativedelta(months=months)
    for _ in range(max_batches):
        # Uses index: msg_channel_created_idx (channel, created_at) for the range.
        ids = list(
            Message.objects.filter(channel=channel, created_at__lt=cutoff)
            .filter(_has_content())
            .order_by("created_at")
            .values_list("id", flat=True)[:BATCH_SIZE]
        )
        if not ids:
            break
        with transaction.atomic():
            done["messages"] += _scrub_messages(Message.objects.filter(id__in=ids))
    else:
        done["more"] = 1
        return done
    # Conversations whose last message is past the cutoff lose their snippet.
    while True:
        ids = list(
            Conversation.objects.filter(channel=channel, last_message_at__lt=cutoff)
            .exclude(snippet=ERASED)
            .values_list("id", flat=True)[:BATCH_SIZE]
        )
        if not ids:
            break
        done["conversations"] += Conversation.objects.filter(id__in=ids).update(snippet=ERASED)
    # Contacts with no conversation newer than the cutoff.
    while True:
        recent = Conversation.objects.filter(contact=OuterRef("pk"), last_message_at__gte=cutoff)
        ids = list(
            Contact.objects.filter(channel=channel, anonymised_at__isnull=True)
            .exclude(Exists(recent))
            .values_list("id", flat=True)[:BATCH_SIZE]
        )
        if not ids:
            break
        with transaction.atomic():
            done["contacts"] += _anonymise_contacts(ids, now)
    if any(done.values()):
        logger.info(
            "Retention on channel %s: %s messages, %s conversations, %s contacts anonymised",
            channel.pk,
            done["messages"],
            done["conversations"],
            done["contacts"],
        )
    return done


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_contact_data(*, contact: Contact, acting_user) -> dict[str, Any]:
    """Everything stored about one contact, for a subject access request (JSON-ready)."""
    _require_admin(acting_user)
    conversations = list(Conversation.objects.filter(contact=contact).order_by("received_at", "id"))
    messages = (
        Message.objects.filter(Q(contact=contact) | Q(conversation__contact=contact))
        .order_by("created_at", "id")
        .distinct()
    )
    data = {
        "exported_at": timezone.now().isoformat(),
        "contact": {
            "id": contact.pk,
            "channel": contact.channel.name,
            "channel_kind": contact.channel.kind,
            "platform_id": contact.external_id,
            "handle": contact.handle,
            "name": contact.name,
            "avatar_url": contact.avatar_url,
            "profile_url": contact.profile_url,
            "tags": contact.tags,
            "blocked": contact.is_blocked,
            "fake_account": contact.is_fake,
            "first_seen": _iso(contact.created_at),
            "anonymised_at": _iso(contact.anonymised_at),
        },
        "conversations": [
            {
                "id": c.pk,
                "status": c.status,
                "received_at": _iso(c.received_at),
                "last_message_at": _iso(c.last_message_at),
                "closed_at": _iso(c.closed_at),
            }
            for c in conversations
        ],
        "messages": [
            {
                "id": m.pk,
                "conversation": m.conversation_id,
                "direction": m.direction,
                "written_by_contact": m.contact_id == contact.pk,
                "created_at": _iso(m.created_at),
                "text": m.text,
                "url": m.url,
                "public": m.is_public,
            }
            for m in messages.iterator(chunk_size=1000)
        ],
    }
    _audit(contact, conversations, acting_user, "privacy_export")
    return data


def erase_contact(*, contact: Contact, acting_user) -> dict[str, int]:
    """Erase one contact's personal data on request: the person, and the texts of their threads.

    Replies in their conversations are emptied too, because replies quote and name
    the customer. Rows and timestamps stay, so statistics are unchanged.
    """
    _require_admin(acting_user)
    now = timezone.now()
    with transaction.atomic():
        conversations = list(Conversation.objects.filter(contact=contact).select_for_update())
        personal = _personal_strings(contact, [c.pk for c in conversations])
        messages = _scrub_messages(
            Message.objects.filter(Q(contact=contact) | Q(conversation__contact=contact))
        )
        Conversation.objects.filter(contact=contact).update(snippet=ERASED)
        events = _scrub_events([c.pk for c in conversations], personal)
        _anonymise_contacts([contact.pk], now)
        _audit(
            contact, conversations, acting_user, "privacy_erasure", messages=messages, events=events
        )
    logger.info("Contact %s erased on request by user %s", contact.pk, acting_user.pk)
    return {"messages": messages, "conversations": len(conversations)}


def _personal_strings(contact: Contact, conversation_ids: list[int]) -> set[str]:
    """What identifies the person or was written in their threads, casefolded."""
    values = [contact.handle, contact.name, contact.external_id, contact.profile_url]
    values += Message.objects.filter(
        Q(contact=contact) | Q(conversation_id__in=conversation_ids)
    ).values_list("text", flat=True)
    values += Reply.objects.filter(conversation_id__in=conversation_ids).values_list(
        "text", flat=True
    )
    values += ReplyVersion.objects.filter(reply__conversation_id__in=conversation_ids).values_list(
        "text", flat=True
    )
    return {v.casefold() for v in values if v and len(v.strip()) >= MIN_PERSONAL_LENGTH}


def _scrubbed(value: Any, personal: set[str]) -> Any:
    """value with every free-text key emptied and every string naming the person emptied."""
    if isinstance(value, dict):
        return {
            key: ERASED
            if key in EVENT_TEXT_KEYS and isinstance(item, str)
            else _scrubbed(item, personal)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrubbed(item, personal) for item in value]
    if isinstance(value, str):
        folded = value.casefold()
        if any(p in folded for p in personal):
            return ERASED
    return value


def _scrub_events(conversation_ids: list[int], personal: set[str]) -> int:
    """Empty the personal data in the events of these conversations (inside the caller's
    transaction). The trigger allows this UPDATE only while webcare.audit_scrub is on."""
    changed = 0
    on_postgres = connection.vendor == "postgresql"
    if on_postgres:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('webcare.audit_scrub', 'on', true)")
    try:
        events = ConversationEvent.objects.filter(conversation_id__in=conversation_ids).exclude(
            kind__in=("privacy_export", "privacy_erasure")
        )
        for pk, data in events.values_list("pk", "data").iterator(chunk_size=1000):
            clean = _scrubbed(data, personal)
            if clean != data:
                changed += ConversationEvent.objects.filter(pk=pk).update(data=clean)
    finally:
        if on_postgres:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('webcare.audit_scrub', 'off', true)")
    return changed


def _audit(contact: Contact, conversations: list[Conversation], user, kind: str, **extra) -> None:
    """One audit event per action, on the contact's latest conversation (events hang off one)."""
    if not conversations:
        logger.info("%s of contact %s by user %s (no conversation)", kind, contact.pk, user.pk)
        return
    latest = max(conversations, key=lambda c: (c.received_at, c.pk))
    ConversationEvent.objects.create(
        conversation=latest,
        actor=user,
        kind=kind,
        data={"contact": contact.pk, "conversations": len(conversations), **extra},
    )
