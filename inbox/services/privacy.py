"""Privacy (AVG/GDPR): retention, export and erasure of one contact's data.

What anonymising keeps: the rows, their timestamps, directions, statuses,
SLA fields, language/sentiment/flags and counts, so dashboards and response
times stay right. What it removes: who wrote it (handle, name, avatar,
profile URL, platform id) and what was written (message text, raw payload,
URL, conversation snippet).

The audit log (ConversationEvent) is append-only at the database level and is
left as it is: it records who acted, not what the customer wrote.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from dateutil.relativedelta import relativedelta
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from inbox.models import Channel, Contact, Conversation, ConversationEvent, Message

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
ERASED = ""  # anonymised text fields are emptied, not replaced: nothing to mistake for content


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
        messages = _scrub_messages(
            Message.objects.filter(Q(contact=contact) | Q(conversation__contact=contact))
        )
        Conversation.objects.filter(contact=contact).update(snippet=ERASED)
        _anonymise_contacts([contact.pk], now)
        _audit(contact, conversations, acting_user, "privacy_erasure", messages=messages)
    logger.info("Contact %s erased on request by user %s", contact.pk, acting_user.pk)
    return {"messages": messages, "conversations": len(conversations)}


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
