"""Replies from draft to approval, internal notes, and closing conversations.

A reply's life: draft -> pending_review -> approved -> sending -> sent | failed | unknown.
Sending itself is the outbox's job (inbox/services/outbox.py); approving only queues it,
after the transaction commits.

Size: the reply life cycle, notes and closing share the review rules and the same SLA and event
steps; the outbox (sending) is already its own module.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox.channels.x_dm import DM_MAX_LENGTH
from inbox.lib import replytext
from inbox.lib.messaging_window import CHAT_KINDS
from inbox.models import (
    AfterSend,
    Channel,
    Conversation,
    ConversationEvent,
    Flag,
    Note,
    Reply,
    ReplyState,
    ReplyVersion,
    Status,
)
from inbox.selectors.team import may_act_on
from inbox.services import messaging, whatsapp
from inbox.services.refusals import ActionRefused
from routing.models import ReviewPolicy
from routing.sla.clocks import with_sla_fields
from routing.sla.hooks import on_status_changed, on_statuses_changed
from webcare.jobs import enqueue

# Flags that make the "flagged" review policy ask for a second pair of eyes.
REVIEW_FLAGS = Flag.THREAT | Flag.PRESS | Flag.ABUSE | Flag.POLITICAL | Flag.IMPERSONATION
MENTION_RE = re.compile(r"(?<![\w@])@([\w.+-]+)")


# --- Text --------------------------------------------------------------------------------


def signature_for(*, conversation: Conversation, user) -> str:
    """The signature the channel's policy appends (Channel.config["signature"])."""
    policy = (conversation.channel.config or {}).get("signature", "none")
    return replytext.signature_suffix(
        policy=policy,
        name=user.first_name or user.get_full_name() or user.username,
        initials=user.signature(),
    )


def compose_reply(
    *, conversation: Conversation, user, text: str, split: bool = False, private: bool = False
) -> replytext.Composed:
    """The posts as they will go out, with signature, counted as the platform counts."""
    # A simulator channel playing a platform counts as that platform does.
    kind = conversation.channel.simulated_platform or conversation.channel.kind
    if messaging.is_direct_chat(conversation):
        # One DM, counted as X counts a DM: characters, 10,000 of them, signature included.
        whole = text.strip() + signature_for(conversation=conversation, user=user)
        return replytext.Composed(
            parts=[whole],
            length=len(whole),
            limit=DM_MAX_LENGTH,
            over_limit=len(whole) > DM_MAX_LENGTH,
        )
    # A WhatsApp, Messenger or Instagram chat is all private messages, and those are limited
    # like posts (4,096, 2,000, 1,000 characters).
    if private and kind not in CHAT_KINDS:
        # Direct messages are not limited like posts (X DMs take 10,000 characters).
        return replytext.Composed(
            parts=[text.strip() + signature_for(conversation=conversation, user=user)],
            length=len(text),
            limit=None,
            over_limit=False,
        )
    return replytext.compose(
        text, kind=kind, suffix=signature_for(conversation=conversation, user=user), split=split
    )


# --- Rules -------------------------------------------------------------------------------


def review_required(*, conversation: Conversation, author) -> bool:
    """Whether a reply by author on conversation needs a colleague's approval first."""
    if conversation.channel.reviewed_replies_only:
        return True
    department = conversation.department
    policy = department.review_policy if department else ReviewPolicy.NEVER
    if policy == ReviewPolicy.ALWAYS:
        return True
    if policy == ReviewPolicy.FLAGGED:
        return bool(conversation.flags & REVIEW_FLAGS) or "press" in (
            conversation.contact.tags or []
        )
    if policy == ReviewPolicy.NEW_STAFF:
        return bool(author.is_new_staff)
    return False


def may_reply_from_channel(*, conversation: Conversation, user) -> bool:
    """Channel.reply_teams: when set, only those teams (and coordinators) post from the account."""
    if user.is_coordinator:
        return True
    # Kept on the user object (one request): view, services and template each ask.
    memo = getattr(user, "_reply_teams", None)
    if memo is None:
        memo = user._reply_teams = {}
    allowed = memo.get(conversation.channel_id)
    if allowed is None:
        # The link table alone, as a plain query: the ORM's join to departments cost 0.4 ms
        # of CPU, on every look at a conversation and every save. A permission: never cached.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT department_id FROM {Channel.reply_teams.through._meta.db_table}"
                " WHERE channel_id = %s",
                [conversation.channel_id],
            )
            allowed = memo[conversation.channel_id] = frozenset(r[0] for r in cursor.fetchall())
    return not allowed or conversation.department_id in allowed


def can_reply_privately(conversation: Conversation) -> bool:
    from inbox.channels.registry import CONNECTORS, get_connector

    if conversation.channel.kind not in CONNECTORS:
        return False
    try:
        return bool(get_connector(conversation.channel.kind).can_reply_privately)
    except ImportError:  # connector module not installed in this build
        return False


def _check_actor(user, conversation: Conversation) -> None:
    if not may_act_on(user, conversation):
        raise PermissionDenied
    if not may_reply_from_channel(conversation=conversation, user=user):
        raise PermissionDenied(_("Your team may not reply from this account."))


def _add_version(
    reply: Reply, *, editor, reason: str, comment: str = "", number: int | None = None
) -> ReplyVersion:
    if number is None:  # a reply created in this transaction passes 1 and skips the read
        number = (reply.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    return ReplyVersion.objects.create(
        reply=reply, number=number, text=reply.text, editor=editor, reason=reason, comment=comment
    )


def _lock(reply: Reply) -> Reply:
    return (
        Reply.objects.select_for_update(no_key=True, of=("self",))
        .select_related("conversation__channel", "conversation__department", "author")
        .get(pk=reply.pk)
    )


# --- Draft, submit, review -------------------------------------------------------------------


@transaction.atomic
def save_draft(
    *,
    conversation: Conversation,
    text: str,
    acting_user,
    reply: Reply | None = None,
    private: bool = False,
    after_send: str = AfterSend.ANSWERED,
    template: tuple[str, list[str]] | None = None,
) -> Reply:
    """Create or update the acting user's draft; every save keeps a ReplyVersion.

    template: (key, parameter values) of one of a WhatsApp channel's approved templates,
    sent instead of free text (the text is then the template's preview)."""
    return _save_draft(
        conversation=conversation,
        text=text,
        acting_user=acting_user,
        reply=reply,
        private=private,
        after_send=after_send,
        template=template,
    )[0]


@transaction.atomic
def save_and_submit_reply(
    *,
    conversation: Conversation,
    text: str,
    acting_user,
    reply: Reply | None = None,
    private: bool = False,
    after_send: str = AfterSend.ANSWERED,
    split: bool = False,
    public_notice: str = "",
    template: tuple[str, list[str]] | None = None,
) -> Reply:
    """save_draft, then submit_reply, in one transaction: the composer's "Send" button.

    The draft is already locked (or new, so nobody else sees it) and its version number known,
    so the submit reads neither again: the most frequent write of a staff member's day.
    """
    reply, number = _save_draft(
        conversation=conversation,
        text=text,
        acting_user=acting_user,
        reply=reply,
        private=private,
        after_send=after_send,
        template=template,
    )
    if number is None:  # an unchanged existing draft: submit it as submit_reply would
        return _submit(
            _lock(reply), acting_user=acting_user, split=split, public_notice=public_notice
        )
    # The locked/created row, with the caller's conversation (already read with its relations).
    reply.conversation = conversation
    return _submit(
        reply,
        acting_user=acting_user,
        split=split,
        public_notice=public_notice,
        version_number=number + 1,
    )


def _save_draft(
    *,
    conversation: Conversation,
    text: str,
    acting_user,
    reply: Reply | None,
    private: bool,
    after_send: str,
    template: tuple[str, list[str]] | None = None,
) -> tuple[Reply, int | None]:
    """The draft, and the number of the version this save wrote (None: nothing changed)."""
    _check_actor(acting_user, conversation)
    chosen: dict = {}
    if messaging.is_private_chat(conversation):
        private = True  # a chat or a DM is private: there is nothing public to answer in
    if whatsapp.is_whatsapp(conversation) and template is not None:
        chosen, text = whatsapp.choose_template(conversation.channel, *template)
    text = text.strip()
    if not text:
        raise ActionRefused(_("The reply is empty."))
    if private and not can_reply_privately(conversation):
        raise ActionRefused(_("This platform does not allow private messages."))
    number = None
    if reply is None:
        number = 1
        reply = Reply.objects.create(
            conversation=conversation,
            author=acting_user,
            text=text,
            private=private,
            after_send=after_send,
            template=chosen,
        )
        ConversationEvent.objects.create(
            conversation=conversation,
            actor=acting_user,
            kind="reply_drafted",
            data={"reply": reply.pk},
        )
    else:
        reply = _lock(reply)
        if reply.state != ReplyState.DRAFT or reply.author_id != acting_user.pk:
            raise ActionRefused(_("Only your own draft can be edited."))
        if (
            reply.text == text
            and reply.private == private
            and reply.after_send == after_send
            and reply.template == chosen
        ):
            return reply, None
        reply.text, reply.private, reply.after_send = text, private, after_send
        reply.template = chosen
        reply.save(update_fields=["text", "private", "after_send", "template", "updated_at"])
    version = _add_version(reply, editor=acting_user, reason="draft", number=number)
    return reply, version.number


@transaction.atomic
def submit_reply(
    *, reply: Reply, acting_user, split: bool = False, public_notice: str = ""
) -> Reply:
    """Send a draft on: to review when the team's policy asks for it, else straight to the outbox."""
    return _submit(_lock(reply), acting_user=acting_user, split=split, public_notice=public_notice)


def _submit(
    reply: Reply,
    *,
    acting_user,
    split: bool,
    public_notice: str,
    version_number: int | None = None,
) -> Reply:
    """submit_reply on a reply locked in this transaction (version_number: known, not read)."""
    conversation = reply.conversation
    _check_actor(acting_user, conversation)
    if reply.author_id != acting_user.pk or reply.state != ReplyState.DRAFT:
        raise ActionRefused(_("Only your own draft can be sent."))
    if not conversation.is_open:
        raise ActionRefused(_("This conversation is closed."))
    messaging.check_reply_allowed(reply)
    composed = compose_reply(
        conversation=conversation,
        user=acting_user,
        text=reply.text,
        split=split,
        private=reply.private,
    )
    if reply.template:  # Meta holds the template's text: the preview goes as it is, unsigned
        composed = replytext.Composed(
            parts=[reply.text], length=len(reply.text), limit=None, over_limit=False
        )
    if composed.over_limit:
        raise ActionRefused(
            _("Too long for this channel (%(length)s of %(limit)s). Shorten it or split it.")
            % {"length": composed.length, "limit": composed.limit}
        )
    reply.parts = composed.parts
    reply.submitted_at = timezone.now()
    # A chat or DM conversation has no public post to put a notice under.
    if public_notice.strip() and reply.private and not messaging.is_private_chat(conversation):
        notice = Reply.objects.create(
            conversation=conversation,
            author=acting_user,
            text=public_notice.strip(),
            notice_for=reply,
            state=ReplyState.DRAFT,
            after_send=reply.after_send,
        )
        notice.parts = compose_reply(
            conversation=conversation, user=acting_user, text=notice.text, split=True
        ).parts
        notice.save(update_fields=["parts"])
        _add_version(notice, editor=acting_user, reason="submit")
    if review_required(conversation=conversation, author=acting_user):
        reply.state = ReplyState.PENDING_REVIEW
        reply.save(update_fields=["state", "parts", "submitted_at", "updated_at"])
        _add_version(reply, editor=acting_user, reason="submit", number=version_number)
        ConversationEvent.objects.create(
            conversation=conversation,
            actor=acting_user,
            kind="reply_submitted_for_review",
            data={"reply": reply.pk},
        )
        _notify_reviewers(reply, acting_user)
        return reply
    _add_version(reply, editor=acting_user, reason="submit", number=version_number)
    return _approve(reply, acting_user=acting_user, kind="reply_queued")


def _notify_reviewers(reply: Reply, author) -> None:
    from inbox.selectors.team import team_members
    from inbox.services.notifications import notify_users

    conversation = reply.conversation
    if conversation.department is None:
        return
    reviewers = team_members(conversation.department).exclude(pk=author.pk)
    notify_users(
        users=list(reviewers),
        kind="review_requested",
        text=_("%(user)s asks you to review a reply on conversation #%(id)s")
        % {"user": author, "id": conversation.pk},
        url=conversation.get_absolute_url(),
        conversation=conversation,
        dedupe_key=f"review:{reply.pk}:{reply.versions.count()}",
    )


def _approve(reply: Reply, *, acting_user, kind: str) -> Reply:
    now = timezone.now()
    reply.state = ReplyState.APPROVED
    reply.approved_at = now
    reply.save(
        update_fields=[
            "state",
            "parts",
            "submitted_at",
            "approved_at",
            "reviewer",
            "text",
            "updated_at",
        ]
    )
    ConversationEvent.objects.create(
        conversation=reply.conversation, actor=acting_user, kind=kind, data={"reply": reply.pk}
    )
    to_send = [reply.pk]
    # Public notices are only ever made for private replies (submit_reply).
    notice = (
        Reply.objects.filter(notice_for=reply, state=ReplyState.DRAFT).first()
        if reply.private
        else None
    )
    if notice is not None:
        notice.state = ReplyState.APPROVED
        notice.approved_at = now
        notice.reviewer = reply.reviewer
        notice.save(update_fields=["state", "approved_at", "reviewer", "updated_at"])
        to_send.append(notice.pk)
    for pk in to_send:
        enqueue("inbox.send_reply", pk)
    return reply


@transaction.atomic
def approve_reply(*, reply: Reply, acting_user, text: str | None = None) -> Reply:
    """A colleague approves (optionally after editing the text); the reply goes to the outbox."""
    reply = _lock(reply)
    conversation = reply.conversation
    if not may_act_on(acting_user, conversation):
        raise PermissionDenied
    if reply.author_id == acting_user.pk:
        raise ActionRefused(_("Ask a colleague: you cannot review your own reply."))
    if reply.state != ReplyState.PENDING_REVIEW:
        raise ActionRefused(_("This reply is not waiting for review."))
    if not conversation.is_open:
        raise ActionRefused(_("This conversation is closed."))
    # Review may take hours: the WhatsApp window is checked again when the reply goes out.
    messaging.check_reply_allowed(reply)
    reply.reviewer = acting_user
    # A template's text is Meta's: a reviewer approves or sends it back, but cannot edit it.
    if text is not None and text.strip() and text.strip() != reply.text and not reply.template:
        reply.text = text.strip()
        # The author's signature stays: the reply goes out in the author's name.
        composed = compose_reply(
            conversation=conversation,
            user=reply.author,
            text=reply.text,
            split=len(reply.parts) > 1,
            private=reply.private,
        )
        if composed.over_limit:
            raise ActionRefused(
                _("Too long for this channel (%(length)s of %(limit)s).")
                % {"length": composed.length, "limit": composed.limit}
            )
        reply.parts = composed.parts
        _add_version(reply, editor=acting_user, reason="review_edit")
    return _approve(reply, acting_user=acting_user, kind="reply_approved")


@transaction.atomic
def send_back_reply(*, reply: Reply, comment: str, acting_user) -> Reply:
    """The reviewer returns the reply to its author as a draft, with a comment."""
    from inbox.services.notifications import notify_users

    comment = comment.strip()
    if not comment:
        raise ActionRefused(_("Tell the author what to change."))
    reply = _lock(reply)
    if not may_act_on(acting_user, reply.conversation):
        raise PermissionDenied
    if reply.author_id == acting_user.pk:
        raise ActionRefused(_("Ask a colleague: you cannot review your own reply."))
    if reply.state != ReplyState.PENDING_REVIEW:
        raise ActionRefused(_("This reply is not waiting for review."))
    reply.state = ReplyState.DRAFT
    reply.reviewer = acting_user
    reply.review_comment = comment
    reply.save(update_fields=["state", "reviewer", "review_comment", "updated_at"])
    Reply.objects.filter(notice_for=reply, state=ReplyState.DRAFT).delete()
    _add_version(reply, editor=acting_user, reason="sent_back", comment=comment)
    ConversationEvent.objects.create(
        conversation=reply.conversation,
        actor=acting_user,
        kind="reply_sent_back",
        data={"reply": reply.pk, "comment": comment},
    )
    notify_users(
        users=[reply.author],
        kind="reply_sent_back",
        text=_("%(user)s sent your reply back: %(comment)s")
        % {"user": acting_user, "comment": comment},
        url=reply.conversation.get_absolute_url(),
        conversation=reply.conversation,
    )
    return reply


@transaction.atomic
def retry_reply(*, reply: Reply, acting_user) -> Reply:
    """Queue a failed reply again. The outbox checks the platform first if the last try is unknown."""
    reply = _lock(reply)
    if not may_act_on(acting_user, reply.conversation):
        raise PermissionDenied
    if not reply.parts:
        # Its text was erased on a privacy request (or by retention): nothing left to send.
        raise ActionRefused(_("This reply's text was erased; it cannot be sent."))
    updated = Reply.objects.filter(
        pk=reply.pk, state__in=[ReplyState.FAILED, ReplyState.UNKNOWN]
    ).update(state=ReplyState.APPROVED, last_error="", lease_until=None)
    if updated != 1:
        raise ActionRefused(_("Only a failed reply can be retried."))
    ConversationEvent.objects.create(
        conversation=reply.conversation,
        actor=acting_user,
        kind="reply_retried",
        data={"reply": reply.pk},
    )
    enqueue("inbox.send_reply", reply.pk)
    reply.refresh_from_db()
    return reply


@transaction.atomic
def discard_reply(*, reply: Reply, acting_user) -> None:
    reply = _lock(reply)
    if reply.author_id != acting_user.pk or reply.state != ReplyState.DRAFT:
        raise ActionRefused(_("Only your own draft can be discarded."))
    ConversationEvent.objects.create(
        conversation=reply.conversation,
        actor=acting_user,
        kind="reply_discarded",
        data={"reply": reply.pk, "text": reply.text},
    )
    reply.delete()


# --- Notes -------------------------------------------------------------------------------


def parse_mentions(text: str) -> list[str]:
    """@usernames in a note, in order, without duplicates."""
    seen: dict[str, None] = {}
    for name in MENTION_RE.findall(text):
        seen.setdefault(name.rstrip(".").lower(), None)
    return list(seen)


@transaction.atomic
def add_note(*, conversation: Conversation, text: str, acting_user) -> Note:
    """An internal note; colleagues @mentioned (who may see the conversation) are notified."""
    from inbox.selectors.team import may_see_team
    from inbox.services.notifications import notify_users
    from webcare.accounts.models import User

    if not may_act_on(acting_user, conversation):
        raise PermissionDenied
    text = text.strip()
    if not text:
        raise ActionRefused(_("The note is empty."))
    note = Note.objects.create(conversation=conversation, author=acting_user, text=text)
    names = parse_mentions(text)
    mentioned = []
    if names:
        query = Q()
        for name in names:
            query |= Q(username__iexact=name)
        candidates = User.objects.filter(query, is_active=True).exclude(pk=acting_user.pk)
        # Never leak a conversation to someone outside its team by mentioning them.
        mentioned = [u for u in candidates if may_see_team(u, conversation.department_id)]
        note.mentioned.set(mentioned)
    ConversationEvent.objects.create(
        conversation=conversation,
        actor=acting_user,
        kind="note_added",
        data={"note": note.pk, "mentioned": [u.pk for u in mentioned]},
    )
    if mentioned:
        notify_users(
            users=mentioned,
            kind="mention",
            text=_("%(user)s mentioned you on conversation #%(id)s: %(text)s")
            % {"user": acting_user, "id": conversation.pk, "text": text[:200]},
            url=conversation.get_absolute_url(),
            conversation=conversation,
            dedupe_key=f"note:{note.pk}",
        )
    return note


# --- After a reply --------------------------------------------------------------------------


@transaction.atomic
def close_conversation(
    *, conversation: Conversation, acting_user, reason: str = ""
) -> Conversation:
    conv = Conversation.objects.select_for_update(no_key=True).get(pk=conversation.pk)
    if not may_act_on(acting_user, conv):
        raise PermissionDenied
    if not conv.is_open:
        return conv
    now = timezone.now()
    Conversation.objects.filter(pk=conv.pk).update(
        status=Status.CLOSED,
        status_reason=reason,
        closed_at=now,
        version=F("version") + 1,
        updated_at=now,
    )
    ConversationEvent.objects.create(
        conversation=conv, actor=acting_user, kind="closed", data={"reason": reason}
    )
    old = conv.status
    conv.refresh_from_db()
    on_status_changed(conv, old, Status.CLOSED, at=now)
    return conv


@transaction.atomic
def set_waiting_on_customer(*, conversation: Conversation, acting_user) -> Conversation:
    conv = Conversation.objects.select_for_update(no_key=True).get(pk=conversation.pk)
    if not may_act_on(acting_user, conv):
        raise PermissionDenied
    if conv.status not in (Status.ANSWERED, Status.ASSIGNED):
        raise ActionRefused(_("Only an answered conversation can wait on the customer."))
    now = timezone.now()
    Conversation.objects.filter(pk=conv.pk).update(
        status=Status.WAITING, version=F("version") + 1, updated_at=now
    )
    ConversationEvent.objects.create(conversation=conv, actor=acting_user, kind="waiting")
    old = conv.status
    conv.refresh_from_db()
    # The SLA clock pauses while we wait on the customer.
    on_status_changed(conv, old, Status.WAITING, at=now)
    return conv


def auto_close_stale(*, now=None, days: int | None = None, batch: int = 500) -> int:
    """Close answered/waiting conversations with no customer message for `days` days.

    Works in batches with SKIP LOCKED so it never waits on (or blocks) a person acting.
    """
    now = now or timezone.now()
    days = settings.AUTO_CLOSE_AFTER_DAYS if days is None else days
    if days <= 0:
        return 0
    cutoff = now - timedelta(days=days)
    closed = 0
    while True:
        with transaction.atomic():
            old = dict(
                Conversation.objects.select_for_update(skip_locked=True, no_key=True)
                .filter(status__in=[Status.ANSWERED, Status.WAITING], last_message_at__lt=cutoff)
                .values_list("pk", "status")[:batch]
            )
            ids = list(old)
            if not ids:
                return closed
            Conversation.objects.filter(pk__in=ids).update(
                status=Status.CLOSED,
                status_reason="auto-close",
                closed_at=now,
                version=F("version") + 1,
                updated_at=now,
            )
            ConversationEvent.objects.bulk_create(
                ConversationEvent(conversation_id=pk, kind="auto_closed", data={"days": days})
                for pk in ids
            )
            closing = list(with_sla_fields(Conversation.objects.filter(pk__in=ids)))
            on_statuses_changed(conversations=closing, old=old, new=Status.CLOSED, at=now)
        closed += len(ids)
