"""A generic signed webhook: any system can push mentions into the inbox.

The sender POSTs JSON to ``/hooks/in/<channel_id>/`` (see docs/webhook.md)::

    {
      "messages": [
        {
          "id": "ticket-8812-comment-3",          required, 1-255 characters, unique per channel
          "text": "Mijn cv-ketel lekt nog steeds",  required string (may be empty)
          "created_at": "2025-03-14T09:26:53+01:00", required ISO-8601 with a UTC offset or Z
          "author": {                              required object
            "id": "cust-42",                       required, 1-255 characters
            "handle": "jdevries",                  optional strings below
            "name": "Jan de Vries",
            "avatar_url": "https://...",           optional http(s) URL, at most 1000 characters
            "profile_url": "https://..."
          },
          "parent_id": "ticket-8812-comment-2",    optional: the message this one answers
          "thread_id": "ticket-8812",              optional: groups messages in one conversation
          "url": "https://...",                    optional http(s) URL of the message
          "public": true                           optional boolean, default true
        }
      ]
    }

Headers: ``X-Webcare-Timestamp`` (unix seconds) and ``X-Webcare-Signature:
sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{raw body}")>``. A timestamp more
than 300 seconds away from our clock (old or in the future) is rejected, so a
captured request cannot be replayed later. The secret is the channel
credential ``secret``.

Push only: ``fetch`` returns nothing and the channel cannot reply.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from inbox.channels.base import (
    ChannelConfig,
    ConnectorError,
    FetchResult,
    IncomingMessage,
    ReplyTarget,
)

TIMESTAMP_HEADER = "X-Webcare-Timestamp"
SIGNATURE_HEADER = "X-Webcare-Signature"
REPLAY_WINDOW_SECONDS = 300
MAX_MESSAGES = 1000  # per request; bigger batches should be split by the sender
MAX_ID_LENGTH = 255  # Message.external_id
MAX_URL_LENGTH = 1000  # Message.url, Contact.avatar_url/profile_url


class WebhookRejected(Exception):
    """The request is not signed right, too old, or does not follow the schema."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The X-Webcare-Signature value for a body sent at timestamp (senders and tests use this)."""
    message = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:  # a plain dict is case-sensitive; Django's request.headers is not
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return (value or "").strip()


def verify_request(secret: str, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
    """Raise WebhookRejected unless the request is signed with secret within the replay window."""
    if not secret:
        raise WebhookRejected("channel has no webhook secret configured")
    raw_timestamp = _header(headers, TIMESTAMP_HEADER)
    if not raw_timestamp:
        raise WebhookRejected(f"missing {TIMESTAMP_HEADER} header")
    # isascii: str.isdigit() also accepts "¹" or "٣", which int() then refuses.
    if not (raw_timestamp.isascii() and raw_timestamp.isdigit()) or len(raw_timestamp) > 12:
        raise WebhookRejected(f"{TIMESTAMP_HEADER} must be unix seconds")
    skew = now.timestamp() - int(raw_timestamp)
    if skew > REPLAY_WINDOW_SECONDS:
        raise WebhookRejected(f"timestamp is older than {REPLAY_WINDOW_SECONDS} s")
    if skew < -REPLAY_WINDOW_SECONDS:
        raise WebhookRejected(f"timestamp is more than {REPLAY_WINDOW_SECONDS} s in the future")
    received = _header(headers, SIGNATURE_HEADER)
    if not received:
        raise WebhookRejected(f"missing {SIGNATURE_HEADER} header")
    # Compare the whole "sha256=<hex>" string in constant time.
    if not hmac.compare_digest(
        sign(secret, raw_timestamp, body).encode(), received.lower().encode()
    ):
        raise WebhookRejected("signature does not match")


def parse_payload(config: ChannelConfig, payload: Any) -> list[IncomingMessage]:
    """The messages of a webhook body; WebhookRejected names the first field that is wrong."""
    if not isinstance(payload, dict):
        raise WebhookRejected("body must be a JSON object")
    items = payload.get("messages")
    if not isinstance(items, list):
        raise WebhookRejected("messages: required, must be a list")
    if len(items) > MAX_MESSAGES:
        raise WebhookRejected(f"messages: at most {MAX_MESSAGES} per request")
    own = {h.lstrip("@").casefold() for h in config.own_handles}
    return [_message(item, f"messages[{index}]", own) for index, item in enumerate(items)]


def _message(item: Any, path: str, own: set[str]) -> IncomingMessage:
    if not isinstance(item, dict):
        raise WebhookRejected(f"{path}: must be an object")
    author = item.get("author")
    if not isinstance(author, dict):
        raise WebhookRejected(f"{path}.author: required, must be an object")
    handle = _string(author, "handle", f"{path}.author")
    public = item.get("public", True)
    if not isinstance(public, bool):
        raise WebhookRejected(f"{path}.public: must be true or false")
    return IncomingMessage(
        external_id=_identifier(item, "id", path, required=True),
        text=_string(item, "text", path, required=True),
        created_at=_timestamp(item, "created_at", path),
        author_id=_identifier(author, "id", f"{path}.author", required=True),
        author_handle=handle,
        author_name=_string(author, "name", f"{path}.author"),
        author_avatar_url=_url(author, "avatar_url", f"{path}.author"),
        author_profile_url=_url(author, "profile_url", f"{path}.author"),
        parent_external_id=_identifier(item, "parent_id", path),
        conversation_external_id=_identifier(item, "thread_id", path),
        url=_url(item, "url", path),
        is_public=public,
        is_own=bool(handle) and handle.lstrip("@").casefold() in own,
        raw=item,
    )


def _string(obj: dict, key: str, path: str, *, required: bool = False) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise WebhookRejected(f"{path}.{key}: required")
        return ""
    if not isinstance(value, str):
        raise WebhookRejected(f"{path}.{key}: must be a string")
    if "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise WebhookRejected(f"{path}.{key}: must not contain NUL characters")
    return value


def _identifier(obj: dict, key: str, path: str, *, required: bool = False) -> str:
    value = obj.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # numeric ids are common; accept them as their decimal text
        obj = {**obj, key: value}
    value = _string(obj, key, path, required=required).strip()
    if required and not value:
        raise WebhookRejected(f"{path}.{key}: must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise WebhookRejected(f"{path}.{key}: at most {MAX_ID_LENGTH} characters")
    return value


def _url(obj: dict, key: str, path: str) -> str:
    value = _string(obj, key, path).strip()
    if not value:
        return ""
    if not value.lower().startswith(("https://", "http://")):
        raise WebhookRejected(f"{path}.{key}: must be an http(s) URL")
    if len(value) > MAX_URL_LENGTH:
        raise WebhookRejected(f"{path}.{key}: at most {MAX_URL_LENGTH} characters")
    return value


def _timestamp(obj: dict, key: str, path: str) -> datetime:
    value = _string(obj, key, path, required=True)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise WebhookRejected(f"{path}.{key}: not an ISO-8601 date-time") from None
    if parsed.tzinfo is None:
        raise WebhookRejected(f"{path}.{key}: needs a UTC offset or Z")
    return parsed.astimezone(UTC)


class WebhookConnector:
    can_reply = False
    can_reply_privately = False
    can_hide = False
    max_length = None

    def fetch(self, channel: ChannelConfig, cursor: dict[str, Any]) -> FetchResult:
        # Push only: messages arrive through inbox/webhooks.py, there is nothing to poll.
        return FetchResult(messages=[], cursor=dict(cursor))

    def send_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        raise ConnectorError("A webhook channel cannot send replies", transient=False)

    def find_existing_reply(
        self, channel: ChannelConfig, target: ReplyTarget, text: str
    ) -> str | None:
        return None

    def hide(self, channel: ChannelConfig, external_id: str, hidden: bool) -> None:
        raise ConnectorError("A webhook channel cannot hide messages", transient=False)
