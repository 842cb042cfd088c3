"""The outbox: post an approved reply to its platform exactly once.

The protocol, for each post of a reply (a split reply is a thread of posts):

1. Claim the reply with a conditional UPDATE (approved/unknown, or sending with an
   expired lease -> sending with a fresh lease). Only one worker wins; a duplicate
   delivery of the task finds nothing to claim and stops.
2. If the previous attempt at this post has no known outcome (the worker died after
   calling the platform, the call timed out, the platform answered 5xx), ask the
   platform whether our post exists (connector.find_existing_reply) BEFORE posting.
   If the check itself fails we post nothing and try later.
3. Record the attempt (ReplyAttempt row, committed: we run outside a transaction) and
   only then call the platform.
4. Store the platform's id; when all posts are out, mark the reply sent and add the
   outbound Message to the thread in one transaction.

The lease (settings.OUTBOX_LEASE_SECONDS) must exceed the connector's HTTP timeout:
a worker may take over a reply only when the previous holder can no longer be
waiting on the platform.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from inbox.channels.base import ConnectorError, RateLimited, ReplyTarget
from inbox.models import (
    AfterSend,
    AttemptOutcome,
    Conversation,
    ConversationEvent,
    Direction,
    Message,
    Reply,
    ReplyAttempt,
    ReplyState,
    Status,
)
from integrations.models import EventType
from integrations.services.events import emit_for_conversations
from routing.sla.hooks import on_agent_reply, on_status_changed
from webcare.jobs import enqueue

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # "sent" | "skipped" | "retry" | "failed"
    retry_at: datetime | None = None
    error: str = ""


SENT = Outcome("sent")
SKIPPED = Outcome("skipped")


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_reply(reply_id: int, *, now: datetime | None = None) -> bool:
    """Take the reply for sending. True for exactly one of any number of concurrent callers."""
    now = now or timezone.now()
    lease = now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    claimed = (
        Reply.objects.filter(pk=reply_id)
        .filter(
            Q(state__in=[ReplyState.APPROVED, ReplyState.UNKNOWN])
            | Q(state=ReplyState.SENDING, lease_until__lt=now)
        )
        .update(state=ReplyState.SENDING, lease_until=lease, updated_at=now)
    )
    return claimed == 1


def build_target(reply: Reply, part_index: int) -> ReplyTarget:
    """Where a post goes: the customer's latest message, or our previous post in a thread."""
    conversation = reply.conversation
    contact = conversation.contact
    if part_index > 0:
        parent = reply.posted_ids[part_index - 1]
    else:
        parent = (
            conversation.messages.filter(direction=Direction.INBOUND)
            .order_by("-created_at", "-id")
            .values_list("external_id", flat=True)
            .first()
        ) or conversation.thread_key
    return ReplyTarget(
        conversation_id=conversation.pk,
        in_reply_to_external_id=parent,
        thread_external_id=conversation.thread_key,
        author_id=contact.external_id,
        author_handle=contact.handle,
        private=reply.private,
        # Our reply's id travels with the post where the platform echoes it in status
        # callbacks (WhatsApp): a callback then finds its reply, and settles an unknown outcome.
        extra={
            "reply_id": reply.pk,
            "part_index": part_index,
            **({"template": reply.template} if reply.template else {}),
            # Meta's DMs pick the message type by the customer's window when they send.
            **(
                {"customer_wrote_at": conversation.last_inbound_at.isoformat()}
                if conversation.last_inbound_at
                else {}
            ),
        },
    )


def post_url(connector, channel, external_id: str) -> str:
    maker = getattr(connector, "post_url", None)
    if maker is not None:
        from inbox.channels.registry import channel_config

        return maker(channel_config(channel), external_id) or ""
    if channel.kind == "x" and channel.own_handles:
        return f"https://x.com/{channel.own_handles[0]}/status/{external_id}"
    return ""


def _definitely_not_posted(exc: ConnectorError) -> bool:
    """A 4xx answer (bad request, auth, rate limit) means the platform refused the post.

    Anything else (no answer, a timeout, a 5xx) may have posted: the outcome is unknown.
    """
    code = exc.status_code
    return isinstance(exc, RateLimited) or (code is not None and 400 <= code < 500 and code != 408)


def _backoff(reply: Reply, exc: Exception | None = None) -> datetime:
    if isinstance(exc, RateLimited) and exc.reset_at is not None:
        return exc.reset_at
    base = settings.OUTBOX_RETRY_BASE_SECONDS
    return timezone.now() + timedelta(seconds=min(base * 2 ** min(reply.attempt_count, 8), 3600))


def _release(reply: Reply, *, state: str, error: str) -> None:
    # Only the holder releases: the state must still be "sending".
    Reply.objects.filter(pk=reply.pk, state=ReplyState.SENDING).update(
        state=state, lease_until=None, last_error=error[:2000], updated_at=timezone.now()
    )


def _finish_attempt(attempt: ReplyAttempt, outcome: str, *, external_id: str = "", error: str = ""):
    fields = {"outcome": outcome, "error": error[:2000], "finished_at": timezone.now()}
    if external_id:  # else keep an id a status callback may have recorded meanwhile
        fields["external_id"] = external_id
    ReplyAttempt.objects.filter(pk=attempt.pk).update(**fields)


def _record_post(reply: Reply, external_id: str) -> None:
    reply.posted_ids = [*reply.posted_ids, external_id]
    Reply.objects.filter(pk=reply.pk, state=ReplyState.SENDING).update(posted_ids=reply.posted_ids)


def deliver_reply(*, reply_id: int) -> Outcome:
    """Post the reply's remaining parts. Safe to call any number of times, concurrently too."""
    from inbox.channels.registry import channel_config, get_connector

    if not claim_reply(reply_id):
        return SKIPPED
    reply = Reply.objects.select_related(
        "conversation__channel", "conversation__contact", "author"
    ).get(pk=reply_id)
    if not reply.parts:
        # Emptied by a privacy erasure or retention while queued: nothing may go out.
        _release(reply, state=ReplyState.FAILED, error="")
        return Outcome("failed", error="no text to send")
    channel = reply.conversation.channel
    connector = get_connector(channel.kind)
    config = channel_config(channel)

    while len(reply.posted_ids) < len(reply.parts):
        index = len(reply.posted_ids)
        text = reply.parts[index]
        target = build_target(reply, index)
        previous = (
            reply.attempts.filter(part_index=index).order_by("-number").first()
            if reply.attempt_count
            else None
        )
        if previous is not None and previous.outcome in (
            AttemptOutcome.PENDING,
            AttemptOutcome.UNKNOWN,
        ):
            # The previous call may have posted. Never post again without asking first:
            # a status callback may have told us already (record_statuses), else the platform.
            try:
                found = previous.external_id or connector.find_existing_reply(
                    config,
                    replace(
                        target,
                        extra={**target.extra, "unknown_since": previous.started_at.isoformat()},
                    ),
                    text,
                )
            except ConnectorError as exc:
                log.warning("reply %s: checking an unknown attempt failed: %s", reply.pk, exc)
                _release(reply, state=ReplyState.UNKNOWN, error=f"check failed: {exc}")
                return Outcome("retry", _backoff(reply, exc), str(exc))
            if found:
                _finish_attempt(previous, AttemptOutcome.FOUND, external_id=found)
                _record_post(reply, found)
                continue
            _finish_attempt(previous, AttemptOutcome.NOT_FOUND)

        # Record the attempt and commit it before the call (autocommit: no transaction is open).
        reply.attempt_count += 1
        attempt = ReplyAttempt.objects.create(
            reply=reply,
            number=reply.attempt_count,
            part_index=index,
            started_at=timezone.now(),
            worker=_worker_name(),
        )
        Reply.objects.filter(pk=reply.pk).update(attempt_count=F("attempt_count") + 1)
        try:
            external_id = connector.send_reply(config, target, text)
        except ConnectorError as exc:
            if _definitely_not_posted(exc):
                _finish_attempt(attempt, AttemptOutcome.FAILED, error=str(exc))
                if exc.transient:
                    _release(reply, state=ReplyState.APPROVED, error=str(exc))
                    return Outcome("retry", _backoff(reply, exc), str(exc))
                _release(reply, state=ReplyState.FAILED, error=str(exc))
                _log_event(reply, "reply_failed", error=str(exc))
                return Outcome("failed", error=str(exc))
            _finish_attempt(attempt, AttemptOutcome.UNKNOWN, error=str(exc))
            _release(reply, state=ReplyState.UNKNOWN, error=str(exc))
            return Outcome("retry", _backoff(reply, exc), str(exc))
        except Exception as exc:
            # A bug or an unwrapped network error after the request may have left: unknown.
            log.exception("reply %s: unexpected error from the connector", reply.pk)
            _finish_attempt(attempt, AttemptOutcome.UNKNOWN, error=repr(exc))
            _release(reply, state=ReplyState.UNKNOWN, error=repr(exc))
            return Outcome("retry", _backoff(reply, exc), repr(exc))
        _finish_attempt(attempt, AttemptOutcome.SENT, external_id=external_id)
        _record_post(reply, external_id)

    # An X DM has no public address: the status URL of its id would point nowhere.
    private_x = reply.private and channel.kind == "x"
    _mark_sent(reply, url="" if private_x else post_url(connector, channel, reply.posted_ids[0]))
    return SENT


def _log_event(reply: Reply, kind: str, **data) -> None:
    ConversationEvent.objects.create(
        conversation_id=reply.conversation_id, kind=kind, data={"reply": reply.pk, **data}
    )


@transaction.atomic
def _mark_sent(reply: Reply, *, url: str) -> None:
    """The reply is out: store it, show it in the thread, move the conversation on."""
    now = timezone.now()
    # The conditional UPDATE is the lock and the check in one: it waits for a concurrent
    # holder's transaction and re-reads the state, so a worker that lost the lease (another
    # one finishes the reply) updates nothing and stops here.
    won = Reply.objects.filter(pk=reply.pk, state=ReplyState.SENDING).update(
        state=ReplyState.SENT,
        external_id=reply.posted_ids[0],
        external_url=url,
        sent_at=now,
        lease_until=None,
        last_error="",
        updated_at=now,
    )
    if not won:
        return
    conversation = Conversation.objects.select_for_update(no_key=True).get(pk=reply.conversation_id)
    # The platform id is unique per channel: if ingest already stored our own post, keep it
    # (ON CONFLICT DO NOTHING: one statement, where get_or_create took a read and a savepoint).
    Message.objects.bulk_create(
        [
            Message(
                channel_id=conversation.channel_id,
                external_id=external_id,
                conversation=conversation,
                parent_external_id=reply.posted_ids[index - 1] if index else "",
                direction=Direction.OUTBOUND,
                sent_by_id=reply.author_id,
                text=text,
                url=url if index == 0 else "",
                is_public=not reply.private,
                created_at=now,
                raw={"reply": reply.pk},
            )
            for index, (external_id, text) in enumerate(
                zip(reply.posted_ids, reply.parts, strict=True)
            )
        ],
        ignore_conflicts=True,
    )
    updates: dict = {
        "last_message_at": now,
        "message_count": F("message_count") + len(reply.posted_ids),
        "version": F("version") + 1,
        "updated_at": now,
    }
    if conversation.is_open:
        updates["status"] = {
            AfterSend.ANSWERED: Status.ANSWERED,
            AfterSend.WAITING: Status.WAITING,
            AfterSend.CLOSE: Status.CLOSED,
        }[AfterSend(reply.after_send)]
        if reply.after_send == AfterSend.CLOSE:
            updates["closed_at"] = now
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    # The row is locked since the read above: the new values are known without reading it again.
    old_status = conversation.status
    updates["message_count"] = conversation.message_count + len(reply.posted_ids)
    updates["version"] = conversation.version + 1
    for field, value in updates.items():
        setattr(conversation, field, value)
    ConversationEvent.objects.create(
        conversation=conversation,
        actor_id=reply.author_id,
        kind="reply_sent",
        data={"reply": reply.pk, "external_ids": reply.posted_ids, "url": url},
    )
    on_agent_reply(conversation, at=now, user=reply.author)
    if conversation.status != old_status:  # waiting pauses the clock, close stops it
        on_status_changed(conversation, old_status, conversation.status, at=now)
    emit_for_conversations(
        EventType.REPLY_SENT,
        [conversation.pk],
        occurred_at=now,
        extra={
            "reply_id": reply.pk,
            "private": reply.private,
            "external_url": url,
            "author_id": reply.author_id,
        },
    )


def give_up(*, reply_id: int, error: str) -> None:
    """After the last retry: show the reply as failed, with a retry button (outcome stays recorded)."""
    Reply.objects.filter(pk=reply_id, state__in=[ReplyState.APPROVED, ReplyState.UNKNOWN]).update(
        state=ReplyState.FAILED, last_error=error[:2000], updated_at=timezone.now()
    )


def recover_outbox(*, now: datetime | None = None) -> list[int]:
    """Replies whose worker died (lease expired) or whose task was lost: queue them again."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=2 * settings.OUTBOX_LEASE_SECONDS)
    # Uses index: reply_outbox_idx (partial on sending/unknown) for the first two branches.
    ids = list(
        Reply.objects.filter(
            Q(state=ReplyState.SENDING, lease_until__lt=now)
            | Q(state=ReplyState.UNKNOWN, updated_at__lt=stale)
            | Q(state=ReplyState.APPROVED, updated_at__lt=stale)
        ).values_list("pk", flat=True)[:500]
    )
    for pk in ids:
        enqueue("inbox.send_reply", pk)
    return ids
