"""Messenger and Instagram Direct webhook deliveries: customers' messages, our echoes, receipts.

Both products deliver the same shape (Messenger Platform "Webhook Events Reference")::

    {"object": "page" | "instagram",
     "entry": [{"id": "<page id | IG user id>", "time": <ms>, "messaging": [
        {"sender": {"id": "<PSID | IGSID>"}, "recipient": {"id": "<page | IG id>"},
         "timestamp": <ms>,
         "message": {"mid": "m_...", "text": "...",
                     "attachments": [{"type": "image|video|audio|file|...", "payload": {"url": "..."}}],
                     "reply_to": {"mid": "m_..."},
                     "is_echo": true, "app_id": ..., "metadata": "reply:<id>:<part>",  # our own
                     "is_deleted": true, "is_unsupported": true}},                   # Instagram
        {"sender": ..., "recipient": ..., "delivery": {"mids": ["m_..."], "watermark": <ms>}},
        {"sender": ..., "recipient": ..., "timestamp": ..., "read": {"watermark": <ms>}},  # Messenger
        {"sender": ..., "recipient": ..., "timestamp": ..., "read": {"mid": "m_..."}}]}]}  # Instagram

An echo is a message our page sent: its sender is the page and its recipient the customer. An
echo whose metadata names one of our replies (the Send API echoes ``message.metadata``) is that
reply: it becomes a "sent" status (which settles an unknown outcome), not a second message. Any
other echo was written outside the app (Meta Business Suite, the phone) and is stored as ours.

Threading: one private conversation per customer and account, keyed "fbm:<page id>:<PSID>" or
"igd:<IG user id>:<IGSID>"; a reply's reply_to.mid is kept as its parent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from inbox.channels.base import ChannelConfig, IncomingMessage
from inbox.channels.meta.graph import MALFORMED, parse_time
from inbox.channels.whatsapp.webhook import (
    MAX_ID,
    StatusUpdate,
    as_dict,
    parse_callback_data,
)
from inbox.channels.whatsapp.webhook import (
    field_id as _id,
)
from inbox.channels.whatsapp.webhook import (
    field_text as _str,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Platform:
    """What differs between Messenger and Instagram Direct; everything else is shared."""

    kind: str
    label: str  # as people call it, in messages
    webhook_object: str  # the delivery's "object"
    prefix: str  # of the thread key
    account_setting: str  # the channel setting naming our account (the webhook's entry id)
    conversations_platform: str  # the Conversations API's ?platform=
    max_length: int  # characters of one text message
    echoes_metadata: bool  # the Send API takes message.metadata and echoes it back


MESSENGER = Platform(
    kind="messenger",
    label="Messenger",
    webhook_object="page",
    prefix="fbm",
    account_setting="page_id",
    conversations_platform="messenger",
    max_length=2000,
    echoes_metadata=True,
)
INSTAGRAM_DIRECT = Platform(
    kind="instagram_direct",
    label="Instagram",
    webhook_object="instagram",
    prefix="igd",
    account_setting="ig_user_id",
    conversations_platform="instagram",
    max_length=1000,
    echoes_metadata=False,
)
PLATFORMS = {p.kind: p for p in (MESSENGER, INSTAGRAM_DIRECT)}
ATTACHMENT_KINDS = ("image", "video", "audio", "file")


@dataclass(frozen=True, slots=True)
class Watermark:
    """A receipt without message ids: every message we sent to this customer up to `at`."""

    thread_key: str
    status: str  # delivered | read
    at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    messages: list[IncomingMessage]
    statuses: list[StatusUpdate]  # per message id (and our reply id, from an echo's metadata)
    watermarks: list[Watermark]
    unsent: list[str]  # ids of messages the customer deleted (Instagram's is_deleted)


def platform_of(kind: str) -> Platform:
    return PLATFORMS[kind]


def thread_key(platform: Platform, account_id: str, customer_id: str) -> str:
    return f"{platform.prefix}:{account_id}:{customer_id}"[:MAX_ID]


def parse_delivery(config: ChannelConfig, payload: Any) -> Delivery:
    """Messages, receipts and deletions of a delivery. ValueError when it is not a delivery for
    this kind at all; a malformed event inside one is logged and skipped (it must not cost the
    others)."""
    platform = platform_of(config.kind)
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise ValueError("not a Meta webhook delivery: 'entry' must be a list")
    if payload.get("object") not in (None, platform.webhook_object):
        raise ValueError(
            f"not a {platform.label} delivery: 'object' is not {platform.webhook_object!r}"
        )
    own = str(config.settings.get(platform.account_setting) or "")
    delivery = Delivery(messages=[], statuses=[], watermarks=[], unsent=[])
    for entry in payload["entry"]:
        if not isinstance(entry, dict):
            continue
        account = _str(entry.get("id")) if _is_scalar(entry.get("id")) else ""
        if own and account and account != own:
            continue  # another page or account of the same app, not this channel's
        events = entry.get("messaging")
        for event in events if isinstance(events, list) else ():
            try:
                _event(platform, own or account, event, delivery)
            except MALFORMED as exc:
                logger.warning(
                    "Skipping malformed %s event on channel %s: %s", platform.label, config.id, exc
                )
    return delivery


def _event(platform: Platform, account: str, event: Any, out: Delivery) -> None:
    if not isinstance(event, dict):
        raise ValueError("event is not an object")
    sender = _id(as_dict(event.get("sender")).get("id"), "sender")
    recipient = _id(as_dict(event.get("recipient")).get("id"), "recipient")
    message = event.get("message")
    if isinstance(message, dict):
        echo = message.get("is_echo") is True
        customer = recipient if echo else sender
        key = thread_key(platform, account or (sender if echo else recipient), customer)
        mid = _id(message.get("mid"), "mid")
        at = parse_time(event.get("timestamp"))
        if message.get("is_deleted") is True:
            out.unsent.append(mid)
            return
        reply_id, part = parse_callback_data(message.get("metadata"))
        if echo and reply_id is not None:
            # Our own reply, sent through the app: its status, not a second copy of it.
            out.statuses.append(StatusUpdate(mid, "sent", at, reply_id, part))
            return
        out.messages.append(
            IncomingMessage(
                external_id=mid,
                text=_text_of(platform, message),
                created_at=at,
                author_id=sender,
                parent_external_id=_str(as_dict(message.get("reply_to")).get("mid"))[:MAX_ID],
                conversation_external_id=key,
                is_public=False,
                is_own=echo,
                raw={"source": "webhook", **event},
            )
        )
        if echo:  # a page message sent outside the app: it is sent, whoever wrote it
            out.statuses.append(StatusUpdate(mid, "sent", at, None, 0))
        return
    # Receipts come from the customer (sender) about our messages.
    key = thread_key(platform, account or recipient, sender)
    delivered = event.get("delivery")
    if isinstance(delivered, dict):
        mids = delivered.get("mids")
        at = parse_time(delivered.get("watermark") or event.get("timestamp"))
        if isinstance(mids, list) and mids:
            out.statuses.extend(StatusUpdate(_id(m, "mid"), "delivered", at, None, 0) for m in mids)
        else:
            out.watermarks.append(Watermark(key, "delivered", at))
        return
    read = event.get("read")
    if isinstance(read, dict):
        if read.get("mid") is not None:  # Instagram: the message seen
            at = parse_time(event.get("timestamp"))
            out.statuses.append(StatusUpdate(_id(read.get("mid"), "mid"), "read", at, None, 0))
        else:  # Messenger: everything up to the watermark
            out.watermarks.append(Watermark(key, "read", parse_time(read.get("watermark"))))


def _text_of(platform: Platform, message: dict[str, Any]) -> str:
    """What the message says, as text. An attachment is a line with its URL; a kind we cannot
    show still gets a line, so the customer's message is never silently lost."""
    lines = []
    text = _str(message.get("text"))
    if text:
        lines.append(text)
    attachments = message.get("attachments")
    for attachment in attachments if isinstance(attachments, list) else ():
        if not isinstance(attachment, dict):
            continue
        kind = _str(attachment.get("type")) or "attachment"
        payload = as_dict(attachment.get("payload"))
        url = _str(payload.get("url"))
        title = _str(payload.get("title") or attachment.get("title"))
        if url:
            label = f"[{kind}{': ' + title if title else ''}]"
            lines.append(f"{label} {url}")
        else:
            # No URL: too large for Meta to keep, expired, or a kind without a file.
            lines.append(f"[{kind}: not available, open it in {platform.label}]")
    if message.get("is_unsupported") is True:
        lines.append(f"[message of a kind the API does not show: open it in {platform.label}]")
    return "\n".join(lines) or f"[empty {platform.label} message]"


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)
