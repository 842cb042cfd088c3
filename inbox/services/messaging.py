"""Private chats bound by a messaging window: WhatsApp, Messenger and Instagram Direct.

The window rule itself is pure (inbox/lib/messaging_window.py); here it meets the conversation,
the channel's settings and the person: what the composer says about it, and the refusal at submit
and again at approval (a review may take hours), with a message a person can act on. It is checked
in the service every path goes through (composer, review, API), not only in the composer.

Also the Meta DMs' receipts: per message (ids, echoes) through the same status rules as WhatsApp
(inbox/services/whatsapp.record_statuses: statuses never move back, an echo settles an unknown
outcome), per watermark ("everything up to this time was read"), and messages the customer unsent.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from inbox.lib.messaging_window import CHAT_KINDS, META_DM_KINDS, WHATSAPP, WindowState
from inbox.lib.messaging_window import window_state as _rule
from inbox.models import (
    Channel,
    ChannelKind,
    Conversation,
    ConversationEvent,
    DeliveryStatus,
    Message,
    Reply,
    ReplyState,
)
from inbox.services import whatsapp
from inbox.services.refusals import ActionRefused
from inbox.services.whatsapp import RANK, record_statuses

__all__ = ["WindowState", "check_reply_allowed", "window_state"]

LABELS = {"whatsapp": "WhatsApp", "messenger": "Messenger", "instagram_direct": "Instagram"}


def is_private_chat(conversation: Conversation) -> bool:
    """A private chat: a channel whose every conversation is one (WhatsApp, Messenger, Instagram
    Direct), a DM conversation on X, or a private conversation on a simulated platform. Every
    reply is private; nothing public to answer in."""
    return (
        conversation.channel.kind in CHAT_KINDS
        or is_direct_chat(conversation)
        or (bool(conversation.channel.simulated_platform) and not conversation.is_public)
    )


def is_direct_chat(conversation: Conversation) -> bool:
    """An X direct-message conversation: every reply in it is a DM, nothing public to answer."""
    return conversation.channel.kind == ChannelKind.X and not conversation.is_public


def is_meta_dm(conversation: Conversation) -> bool:
    return conversation.channel.kind in META_DM_KINDS


def has_human_agent(channel: Channel) -> bool:
    return (channel.config or {}).get("human_agent") is True


def window_state(conversation: Conversation, *, now: datetime | None = None) -> WindowState:
    channel = conversation.channel
    return _rule(
        channel.kind,
        conversation.last_inbound_at,
        now or timezone.now(),
        human_agent=has_human_agent(channel),
    )


def _when(at: datetime) -> str:
    return date_format(localtime(at), "j M H:i")


def window_message(conversation: Conversation, state: WindowState) -> str:
    """What the composer says about a Meta DM's window: what is open, and until when."""
    label = LABELS.get(conversation.channel.kind, conversation.channel.kind)
    if state.open and not state.tag and state.closes_at:
        if has_human_agent(conversation.channel):
            return _(
                "%(platform)s: the standard messaging window is open until %(at)s. After it a "
                "person may still answer (tagged as a human agent's reply) for up to 7 days after "
                "the customer's last message."
            ) % {"platform": label, "at": _when(state.closes_at)}
        return _(
            "%(platform)s: the messaging window is open until %(at)s. After it %(platform)s "
            "accepts no message from us until the customer writes again."
        ) % {"platform": label, "at": _when(state.closes_at)}
    if state.open and state.tag_until:
        return _(
            "%(platform)s: more than 24 hours have passed since the customer's last message. "
            "A person's reply can still be sent, tagged as a human agent's reply, until %(at)s."
        ) % {"platform": label, "at": _when(state.tag_until)}
    return closed_message(conversation, state)


def closed_message(conversation: Conversation, state: WindowState) -> str:
    label = LABELS.get(conversation.channel.kind, conversation.channel.kind)
    if state.closes_at is None:
        return _(
            "The customer has not written to us on %(platform)s: %(platform)s only allows a "
            "reply to a customer's message."
        ) % {"platform": label}
    if state.tag_until:
        return _(
            "More than 7 days have passed since the customer's last %(platform)s message. "
            "%(platform)s accepts no message from us until the customer writes again."
        ) % {"platform": label}
    return _(
        "More than 24 hours have passed since the customer's last %(platform)s message. "
        "%(platform)s accepts no message from us until the customer writes again (a reply up to "
        "7 days later needs Meta's Human Agent permission, set on the channel as human_agent)."
    ) % {"platform": label}


def check_reply_allowed(reply: Reply, *, now: datetime | None = None) -> None:
    """Refuse what the platform's window does not allow now (a WhatsApp template always goes)."""
    conversation = reply.conversation
    kind = conversation.channel.kind
    if kind == WHATSAPP:
        whatsapp.check_reply_allowed(reply, now=now)
    elif kind in META_DM_KINDS:
        state = window_state(conversation, now=now)
        if not state.open:
            raise ActionRefused(closed_message(conversation, state))


# --- Receipts (Meta DMs) ---------------------------------------------------------------------


def record_delivery(*, channel: Channel, delivery) -> int:
    """A Messenger / Instagram Direct delivery's receipts and deletions (messenger.Delivery).
    Returns how many replies moved. Applying one twice changes nothing."""
    changed = record_statuses(channel=channel, statuses=delivery.statuses)
    for mark in delivery.watermarks:
        changed += _apply_watermark(channel, mark)
    if delivery.unsent:
        _record_unsent(channel, delivery.unsent)
    return changed


def _apply_watermark(channel: Channel, mark) -> int:
    """Every reply we sent in this chat up to the watermark: delivered or read."""
    from inbox.channels.whatsapp.webhook import StatusUpdate

    changed = 0
    replies = (
        Reply.objects.filter(
            conversation__channel=channel,
            conversation__thread_key=mark.thread_key,
            state=ReplyState.SENT,
            sent_at__lte=mark.at,
        )
        .exclude(external_id="")
        .order_by("-sent_at")
        .values_list("pk", "external_id", "delivery_status")[:50]
    )
    rank = RANK[DeliveryStatus(mark.status)]
    for pk, external_id, current in replies:
        if current and RANK.get(DeliveryStatus(current), 0) >= rank:
            continue
        changed += record_statuses(
            channel=channel,
            statuses=[StatusUpdate(external_id, mark.status, mark.at, pk, 0)],
        )
    return changed


def _record_unsent(channel: Channel, mids: list[str]) -> None:
    """The customer unsent a message: say so on it and in the conversation's history (the text
    stays until retention or an erasure removes it, like any message)."""
    for message in Message.objects.filter(channel=channel, external_id__in=mids[:100]):
        if message.raw.get("unsent"):
            continue
        with transaction.atomic():
            Message.objects.filter(pk=message.pk).update(raw={**message.raw, "unsent": True})
            ConversationEvent.objects.create(
                conversation_id=message.conversation_id,
                kind="message_unsent",
                data={"message": message.pk, "external_id": message.external_id},
            )
