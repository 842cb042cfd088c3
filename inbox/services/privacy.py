"""Privacy (AVG/GDPR): retention, export and erasure of one contact's data.

What anonymising keeps: the rows, their timestamps, directions, statuses,
SLA fields, language/sentiment/flags and counts, so dashboards and response
times stay right. What it removes: who wrote it (handle, name, avatar,
profile URL, platform id) and what was written (message text, raw payload,
URL, conversation snippet).

Around a conversation the texts are not only in its messages: replies and their
versions (drafts, review edits, comments), notes, notifications quoting the
snippet or a note, platform error texts, a free-text status reason, contact
notes. Erasure and retention empty all of them through one function
(_scrub_conversations), so the two cannot drift apart.

The audit log (ConversationEvent) is append-only at the database level. Its rows
record who did what, but their data can carry personal data too (a note, a
reviewer's comment, a discarded reply, the threat evidence's author and text).
Erasure and retention scrub those values in the events of the conversations they
anonymise, through the one narrow UPDATE the trigger allows (inbox's initial migration): only
the data column, only while this service says so. Kind, actor and time stay, and
so does the audit event of the erasure itself.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from assist.models import ConversationVector
from inbox.models import (
    Channel,
    Contact,
    ContactNote,
    Conversation,
    ConversationEvent,
    HouseRule,
    Message,
    NoReplyReason,
    Note,
    Notification,
    Reply,
    ReplyAttempt,
    ReplyState,
    ReplyVersion,
    RetentionCursor,
)
from webcare.db import audit_scrub

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
ERASED = ""  # anonymised text fields are emptied, not replaced: nothing to mistake for content
# Keys of ConversationEvent.data holding free text or who wrote it: emptied on erasure
# whatever they say (a comment can name the customer without quoting anything stored).
EVENT_TEXT_KEYS = frozenset(
    {"text", "note", "comment", "reason", "error", "url"}
    | {"author_handle", "author_name", "author_profile_url"}
)
# How often the retention walk starts over from the beginning (see apply_retention).
FULL_PASS = timedelta(days=30)
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
    # What the team wrote about the person goes with them.
    ContactNote.objects.filter(contact_id__in=ids).exclude(text=ERASED).update(text=ERASED)
    return count


def _scrub_messages(queryset) -> int:
    return queryset.update(text=ERASED, raw={}, url=ERASED)


def _has_content() -> Q:
    return ~Q(text=ERASED) | ~Q(raw={}) | ~Q(url=ERASED)


def _kept_reasons() -> set[str]:
    """status_reason values that are configured labels, not free text: statistics, kept."""
    return (
        set(NoReplyReason.objects.values_list("label", flat=True))
        | set(HouseRule.objects.values_list("title", flat=True))
        | {"auto-close"}
    )


def _scrub_conversations(conversation_ids: list[int], personal: set[str]) -> dict[str, int]:
    """Empty every text in and about these conversations, inside the caller's transaction.

    Shared by erasure and retention. Messages are the callers' (erasure takes the
    contact's messages elsewhere too, retention goes by age). What stays: rows,
    states, timestamps, counts, SLA fields, platform ids, so statistics are unchanged.
    """
    if not conversation_ids:
        return {"conversations": 0, "replies": 0, "events": 0}
    conversations = Conversation.objects.filter(pk__in=conversation_ids)
    changed = conversations.exclude(snippet=ERASED).update(snippet=ERASED)
    # Suggestions (assist): the vector was made from the customer's words and goes with them.
    # Without its row the conversation is never suggested; the index file drops the id at its
    # next rebuild.
    ConversationVector.objects.filter(conversation_id__in=conversation_ids).delete()
    # A hand-back or close reason can be free text naming the customer; a configured label cannot.
    conversations.exclude(status_reason=ERASED).exclude(status_reason__in=_kept_reasons()).update(
        status_reason=ERASED
    )
    Note.objects.filter(conversation_id__in=conversation_ids).exclude(text=ERASED).update(
        text=ERASED
    )
    replies = Reply.objects.filter(conversation_id__in=conversation_ids)
    # A reply not out yet never goes out to an erased person: it fails, without text to retry.
    replies.exclude(state=ReplyState.SENT).update(state=ReplyState.FAILED, lease_until=None)
    reply_count = replies.filter(
        ~Q(text=ERASED) | ~Q(review_comment=ERASED) | ~Q(parts=[]) | ~Q(last_error=ERASED)
    ).update(text=ERASED, review_comment=ERASED, parts=[], last_error=ERASED)
    ReplyVersion.objects.filter(reply__conversation_id__in=conversation_ids).filter(
        ~Q(text=ERASED) | ~Q(comment=ERASED)
    ).update(text=ERASED, comment=ERASED)
    # A platform's error message can quote the post it refused.
    ReplyAttempt.objects.filter(reply__conversation_id__in=conversation_ids).exclude(
        error=ERASED
    ).update(error=ERASED)
    # Notifications quote snippets, notes and review comments: their text goes, the link stays.
    Notification.objects.filter(conversation_id__in=conversation_ids).exclude(text=ERASED).update(
        text=ERASED
    )
    events = _scrub_events(conversation_ids, personal)
    return {"conversations": changed, "replies": reply_count, "events": events}


def _cursor_after(created_at: datetime | None, pk: int) -> Q:
    if created_at is None:
        return Q()
    return Q(created_at__gt=created_at) | Q(created_at=created_at, id__gt=pk)


def _retention_message_batch(channel: Channel, cutoff: datetime, done: dict[str, int]) -> bool:
    """One batch of the message walk, in one transaction with the cursor; False when done."""
    with transaction.atomic():
        # Locking the cursor serialises two runs on one channel: neither redoes the other's batch.
        cursor = RetentionCursor.objects.select_for_update().get(channel=channel)
        # Uses index: msg_channel_created_idx (channel, created_at), from the cursor on.
        rows = list(
            Message.objects.filter(channel=channel, created_at__lt=cutoff)
            .filter(_cursor_after(cursor.message_created_at, cursor.message_id))
            .order_by("created_at", "id")
            .values_list("id", "created_at", "conversation_id")[:BATCH_SIZE]
        )
        if not rows:
            return False
        ids = [row[0] for row in rows]
        # A conversation is past the retention once no message of it is newer than the cutoff.
        later = Message.objects.filter(conversation=OuterRef("pk"), created_at__gte=cutoff)
        finished = list(
            Conversation.objects.filter(pk__in={row[2] for row in rows})
            .exclude(Exists(later))
            .values_list("pk", "contact_id")
        )
        finished_ids = [pk for pk, _ in finished]
        contact_ids = sorted({contact_id for _, contact_id in finished})
        personal = _personal_strings(
            Contact.objects.filter(pk__in=contact_ids), finished_ids, everything_they_wrote=False
        )
        done["messages"] += _scrub_messages(
            Message.objects.filter(id__in=ids).filter(_has_content())
        )
        for key, value in _scrub_conversations(finished_ids, personal).items():
            done[key] += value
        # Their contacts go too, unless they wrote recently in another conversation.
        recent = Conversation.objects.filter(contact=OuterRef("pk"), last_message_at__gte=cutoff)
        idle = list(
            Contact.objects.filter(pk__in=contact_ids, anonymised_at__isnull=True)
            .exclude(Exists(recent))
            .values_list("pk", flat=True)
        )
        done["contacts"] += _anonymise_contacts(idle, timezone.now())
        cursor.message_created_at, cursor.message_id = rows[-1][1], rows[-1][0]
        cursor.save(update_fields=["message_created_at", "message_id", "updated_at"])
    return True


def _retention_contact_batch(channel: Channel, cutoff: datetime, done: dict[str, int]) -> bool:
    """Contacts without any conversation, walked by id (ids grow with created_at)."""
    with transaction.atomic():
        cursor = RetentionCursor.objects.select_for_update().get(channel=channel)
        rows = list(
            Contact.objects.filter(channel=channel, id__gt=cursor.contact_id)
            .order_by("id")
            .values_list("id", "created_at")[:BATCH_SIZE]
        )
        # Stop at the first contact younger than the cutoff; the next run goes on from there.
        old = []
        for pk, created_at in rows:
            if created_at >= cutoff:
                break
            old.append(pk)
        if not old:
            return False
        has_conversation = Conversation.objects.filter(contact=OuterRef("pk"))
        lonely = list(
            Contact.objects.filter(pk__in=old, anonymised_at__isnull=True)
            .exclude(Exists(has_conversation))
            .values_list("pk", flat=True)
        )
        done["contacts"] += _anonymise_contacts(lonely, timezone.now())
        cursor.contact_id = old[-1]
        cursor.save(update_fields=["contact_id", "updated_at"])
    return len(old) == len(rows)


def apply_retention(*, channel: Channel, now: datetime, max_batches: int = 100) -> dict[str, int]:
    """Anonymise what is older than the channel's retention, in batches; idempotent.

    Walks the channel's messages in (created_at, id) order from a saved cursor
    (RetentionCursor), each batch its own short transaction that also moves the
    cursor: a run that dies half-way continues where it stopped, and a daily run
    reads only what aged past the cutoff since the last one. Messages past the
    cutoff are emptied; a conversation whose messages all are gets the same scrub
    as an erasure (snippet, notes, replies, notifications, audit events), and its
    contact is anonymised unless they wrote recently. Every FULL_PASS_DAYS the walk
    starts over once, to catch messages that arrived with a platform time already
    behind the cursor. Returns counts and whether work is left ("more": 1).
    """
    months = retention_months(channel)
    done = {"messages": 0, "conversations": 0, "contacts": 0, "replies": 0, "events": 0}
    done["more"] = 0
    if months is None:
        return done
    cutoff = now - relativedelta(months=months)
    cursor, _ = RetentionCursor.objects.get_or_create(channel=channel)
    if cursor.pass_started_at is None or cursor.pass_started_at <= now - FULL_PASS:
        RetentionCursor.objects.filter(pk=cursor.pk).update(
            message_created_at=None, message_id=0, contact_id=0, pass_started_at=now
        )
    batches = 0  # batches that found work; finding none is one cheap index probe
    for step in (_retention_message_batch, _retention_contact_batch):
        while step(channel, cutoff, done):
            batches += 1
            if batches >= max_batches:
                done["more"] = 1
                return done
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

    Replies, review edits, notes, notifications and audit events of their
    conversations are emptied too, because they quote and name the customer; a
    reply not sent yet will not be sent. Rows, states and timestamps stay, so
    statistics are unchanged.
    """
    _require_admin(acting_user)
    now = timezone.now()
    with transaction.atomic():
        conversations = list(Conversation.objects.filter(contact=contact).select_for_update())
        conversation_ids = [c.pk for c in conversations]
        personal = _personal_strings(Contact.objects.filter(pk=contact.pk), conversation_ids)
        messages = _scrub_messages(
            Message.objects.filter(Q(contact=contact) | Q(conversation__contact=contact))
        )
        scrubbed = _scrub_conversations(conversation_ids, personal)
        _anonymise_contacts([contact.pk], now)
        _audit(
            contact,
            conversations,
            acting_user,
            "privacy_erasure",
            messages=messages,
            replies=scrubbed["replies"],
            events=scrubbed["events"],
        )
    logger.info("Contact %s erased on request by user %s", contact.pk, acting_user.pk)
    return {"messages": messages, "conversations": len(conversations)}


def _personal_strings(
    contacts, conversation_ids: list[int], *, everything_they_wrote: bool = True
) -> set[str]:
    """What identifies the people or was written in their threads, casefolded.

    Retention passes everything_they_wrote=False: the texts of these conversations
    only, not every message the contacts ever wrote (their newer ones stay anyway).
    """
    values: list[str] = []
    for row in contacts.values_list("handle", "name", "external_id", "profile_url"):
        values += row
    values += ContactNote.objects.filter(contact__in=contacts).values_list("text", flat=True)
    written = Q(conversation_id__in=conversation_ids)
    if everything_they_wrote:
        written |= Q(contact__in=contacts)
    values += Message.objects.filter(written).values_list("text", flat=True)
    values += Note.objects.filter(conversation_id__in=conversation_ids).values_list(
        "text", flat=True
    )
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
    with audit_scrub():
        events = ConversationEvent.objects.filter(conversation_id__in=conversation_ids).exclude(
            kind__in=("privacy_export", "privacy_erasure")
        )
        for pk, data in events.values_list("pk", "data").iterator(chunk_size=1000):
            clean = _scrubbed(data, personal)
            if clean != data:
                changed += ConversationEvent.objects.filter(pk=pk).update(data=clean)
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
