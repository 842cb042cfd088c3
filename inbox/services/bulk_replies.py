"""One reply text for many conversations: the crisis cluster's "answer all" (reports.crisis).

The same rules as a coordinator's single reply (inbox.services.replies): the channel's
signature and length limit, the team's review policy (a reply that needs review waits for it
instead of going out), and the outbox sends each approved reply exactly once. Set-based: one
locking read of the selection, bulk inserts of replies, versions and audit events, so a
selection of 7,000 costs the same number of queries as one of 5; only the per-reply outbox
tasks are one publish each, after commit (run it in a worker, not a web request).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox.models import (
    OPEN_STATUSES,
    Conversation,
    ConversationEvent,
    Flag,
    Reply,
    ReplyState,
    ReplyVersion,
)
from inbox.services.refusals import ActionRefused
from inbox.services.replies import compose_reply, review_required
from inbox.services.triage import BulkResult
from webcare.jobs import enqueue

# A reply in one of these states is already on its way: a second one would answer twice.
IN_FLIGHT = (
    ReplyState.PENDING_REVIEW,
    ReplyState.APPROVED,
    ReplyState.SENDING,
    ReplyState.UNKNOWN,
)


def answer_in_bulk(
    *, items: Mapping[int, int], text: str, acting_user, data: dict[str, Any] | None = None
) -> BulkResult:
    """Queue one reply with text on each conversation of {conversation id: version seen}.

    Skipped (reported, nothing written): conversations changed since they were seen, closed,
    flagged as a threat, with a reply already on its way, or where the text is too long for
    the channel. data goes into every audit event (the cluster action it came from).
    """
    if not (acting_user.is_authenticated and acting_user.is_coordinator):
        raise PermissionDenied(_("Only coordinators and administrators can answer in bulk."))
    text = text.strip()
    if not text:
        raise ActionRefused(_("The reply is empty."))
    result = BulkResult()
    now = timezone.now()
    with transaction.atomic():
        current = {
            c.pk: c
            for c in Conversation.objects.select_for_update(no_key=True, of=("self",))
            .filter(pk__in=list(items), status__in=OPEN_STATUSES)
            .select_related("channel", "department", "contact")
        }
        busy = set(
            Reply.objects.filter(conversation_id__in=list(current), state__in=IN_FLIGHT)
            .values_list("conversation_id", flat=True)
            .distinct()
        )
        replies: list[Reply] = []
        for pk in sorted(items):
            conv = current.get(pk)
            if conv is None or conv.version != items[pk] or conv.flags & Flag.THREAT or pk in busy:
                continue
            composed = compose_reply(conversation=conv, user=acting_user, text=text)
            if composed.over_limit:
                continue
            review = review_required(conversation=conv, author=acting_user)
            replies.append(
                Reply(
                    conversation=conv,
                    author=acting_user,
                    text=text,
                    parts=composed.parts,
                    state=ReplyState.PENDING_REVIEW if review else ReplyState.APPROVED,
                    submitted_at=now,
                    approved_at=None if review else now,
                )
            )
        # bulk_create sets the new ids on PostgreSQL and on SQLite (3.35+) alike.
        Reply.objects.bulk_create(replies, batch_size=500)
        ReplyVersion.objects.bulk_create(
            [
                ReplyVersion(reply=r, number=1, text=text, editor=acting_user, reason="submit")
                for r in replies
            ],
            batch_size=500,
        )
        ConversationEvent.objects.bulk_create(
            [
                ConversationEvent(
                    conversation_id=r.conversation_id,
                    actor=acting_user,
                    kind="reply_queued"
                    if r.state == ReplyState.APPROVED
                    else "reply_submitted_for_review",
                    data={"reply": r.pk, **(data or {})},
                )
                for r in replies
            ],
            batch_size=500,
        )
        for r in replies:
            if r.state == ReplyState.APPROVED:
                enqueue("inbox.send_reply", r.pk)
        result.done = sorted(r.conversation_id for r in replies)
        result.skipped = sorted(set(items) - set(result.done))
    return result
