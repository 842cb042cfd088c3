"""WhatsApp Cloud API webhook deliveries: customers' messages and our messages' statuses.

A delivery (field "messages") looks like::

    {"object": "whatsapp_business_account",
     "entry": [{"id": "<WABA id>", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "...", "phone_number_id": "<our number>"},
        "contacts": [{"profile": {"name": "..."}, "wa_id": "<customer>"}],
        "messages": [{"from": "<customer>", "id": "wamid...", "timestamp": "<unix s>",
                      "type": "text", "text": {"body": "..."},
                      "context": {"from": "<our number>", "id": "wamid of the message answered"}}],
        "statuses": [{"id": "wamid of ours", "status": "sent|delivered|read|failed",
                      "timestamp": "...", "recipient_id": "...",
                      "biz_opaque_callback_data": "reply:<id>:<part>",
                      "errors": [{"code": 131047, "title": "...", "error_data": {"details": "..."}}]}]
     }}]}]}

The signature (X-Hub-Signature-256) and the subscription handshake are Meta's, checked with
inbox.channels.meta.verify_signature and verify_subscription: one copy for all Meta products.

Threading: a WhatsApp chat has no threads. Every message of one customer to one of our numbers
belongs to the conversation keyed "wa:<phone_number_id>:<wa_id>"; ingest reopens or follows up a
closed one as for any channel. A reply's context id is kept as its parent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from inbox.channels.base import ChannelConfig, IncomingMessage
from inbox.channels.meta.graph import MALFORMED, parse_time

logger = logging.getLogger(__name__)

# What biz_opaque_callback_data carries for a reply we send: "reply:<reply id>:<part index>".
CALLBACK_PREFIX = "reply:"
MAX_ID = 255


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One status callback: what became of a message we sent."""

    external_id: str  # the wamid the send call answered with
    status: str  # sent | delivered | read | failed
    at: datetime
    reply_id: int | None  # from biz_opaque_callback_data, when we set it
    part_index: int
    error: str = ""


@dataclass(frozen=True, slots=True)
class Delivery:
    messages: list[IncomingMessage]
    statuses: list[StatusUpdate]


def thread_key(phone_number_id: str, wa_id: str) -> str:
    return f"wa:{phone_number_id}:{wa_id}"


def callback_data(reply_id: int, part_index: int) -> str:
    return f"{CALLBACK_PREFIX}{reply_id}:{part_index}"


def parse_callback_data(value: Any) -> tuple[int | None, int]:
    if not isinstance(value, str) or not value.startswith(CALLBACK_PREFIX):
        return None, 0
    reply, _, part = value[len(CALLBACK_PREFIX) :].partition(":")
    if not (reply.isascii() and reply.isdigit() and len(reply) <= 18):
        return None, 0
    index = int(part) if part.isascii() and part.isdigit() and len(part) <= 4 else 0
    return int(reply), index


def parse_delivery(config: ChannelConfig, payload: Any) -> Delivery:
    """Messages and statuses of a delivery. ValueError when it is no WhatsApp delivery at all;
    a malformed message or status inside one is logged and skipped (it must not cost the others)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise ValueError("not a WhatsApp webhook delivery: 'entry' must be a list")
    if payload.get("object") not in (None, "whatsapp_business_account"):
        raise ValueError(
            "not a WhatsApp webhook delivery: 'object' is not whatsapp_business_account"
        )
    own_number = str(config.settings.get("phone_number_id") or "")
    messages: list[IncomingMessage] = []
    statuses: list[StatusUpdate] = []
    for entry in payload["entry"]:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else ():
            if not isinstance(change, dict) or change.get("field") != "messages":
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                continue
            metadata = as_dict(value.get("metadata"))
            number = str(metadata.get("phone_number_id") or "")
            if own_number and number and number != own_number:
                continue  # another of the business's numbers, not this channel's
            names = _contact_names(value.get("contacts"))
            for item in _list(value.get("messages")):
                try:
                    messages.append(_message(item, number or own_number, names))
                except MALFORMED as exc:
                    logger.warning(
                        "Skipping malformed WhatsApp message on channel %s: %s", config.id, exc
                    )
            for item in _list(value.get("statuses")):
                try:
                    statuses.append(_status(item))
                except MALFORMED as exc:
                    logger.warning(
                        "Skipping malformed WhatsApp status on channel %s: %s", config.id, exc
                    )
    return Delivery(messages=messages, statuses=statuses)


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _contact_names(contacts: Any) -> dict[str, str]:
    names = {}
    for contact in _list(contacts):
        if isinstance(contact, dict) and contact.get("wa_id"):
            profile = as_dict(contact.get("profile"))
            names[str(contact["wa_id"])] = _str(profile.get("name"))
    return names


def field_text(value: Any) -> str:
    """A scalar field of a Meta payload as text (NUL removed); ValueError for anything else."""
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return str(value).replace("\x00", "")


def field_id(value: Any, what: str) -> str:
    """An id field of a Meta payload: present and short enough to store."""
    text = field_text(value).strip()
    if not text or len(text) > MAX_ID:
        raise ValueError(f"{what}: missing or longer than {MAX_ID} characters")
    return text


_str, _id = field_text, field_id


def _message(item: Any, number: str, names: dict[str, str]) -> IncomingMessage:
    if not isinstance(item, dict):
        raise ValueError("message is not an object")
    wa_id = _id(item.get("from"), "from")
    context = as_dict(item.get("context"))
    return IncomingMessage(
        external_id=_id(item.get("id"), "id"),
        text=_text_of(item),
        created_at=parse_time(item.get("timestamp")),
        author_id=wa_id,
        author_handle=f"+{wa_id}" if wa_id.isdigit() else wa_id,
        author_name=names.get(wa_id, ""),
        parent_external_id=_str(context.get("id"))[:MAX_ID],
        conversation_external_id=thread_key(number, wa_id)[:MAX_ID],
        is_public=False,
        raw={"source": "webhook", **item},
    )


def _text_of(item: dict[str, Any]) -> str:
    """What the message says, as text: a caption for media, a place for a location. A kind we
    cannot show still gets a line, so the customer's message is never silently lost."""
    kind = _str(item.get("type"))
    body = as_dict(item.get(kind))
    if kind == "text":
        return _str(body.get("body"))
    if kind in ("image", "video", "document", "audio", "sticker"):
        caption = _str(body.get("caption"))
        name = _str(body.get("filename"))
        label = f"[{kind}{': ' + name if name else ''}]"
        return f"{label} {caption}".strip()
    if kind == "location":
        latitude, longitude = body.get("latitude"), body.get("longitude")
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in (latitude, longitude)
        ):
            raise ValueError("location without coordinates")
        place = ", ".join(p for p in (_str(body.get("name")), _str(body.get("address"))) if p)
        where = f"https://maps.google.com/?q={latitude},{longitude}"
        return f"[location] {place} {where}".replace("  ", " ").strip()
    if kind == "button":
        return _str(body.get("text"))
    if kind == "interactive":
        for choice in ("button_reply", "list_reply"):
            if isinstance(body.get(choice), dict):
                return _str(body[choice].get("title"))
    errors = _list(item.get("errors"))
    if errors and isinstance(errors[0], dict):
        # E.g. 131051 unsupported type or a media file too large for the Cloud API.
        return f"[{kind or 'message'} not received: {_str(errors[0].get('title'))}]"
    return f"[{kind or 'message'}]"


def _status(item: Any) -> StatusUpdate:
    if not isinstance(item, dict):
        raise ValueError("status is not an object")
    status = _str(item.get("status"))
    if status not in ("sent", "delivered", "read", "failed"):
        raise ValueError(f"unknown status {status!r}")
    reply_id, part = parse_callback_data(item.get("biz_opaque_callback_data"))
    error = ""
    errors = _list(item.get("errors"))
    if errors and isinstance(errors[0], dict):
        first = errors[0]
        data = as_dict(first.get("error_data"))
        details = _str(data.get("details")) or _str(first.get("message"))
        error = f"{_str(first.get('code'))} {_str(first.get('title'))}: {details}".strip()
    return StatusUpdate(
        external_id=_id(item.get("id"), "status id"),
        status=status,
        at=parse_time(item.get("timestamp")),
        reply_id=reply_id,
        part_index=part,
        error=error[:2000],
    )
