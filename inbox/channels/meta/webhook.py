"""Meta's webhook: the signature over the raw body, the subscription handshake, and the comments
in a delivery (Page "feed" changes with item "comment", Instagram "comments" changes).
inbox/views/webhooks.py calls these; every other change (likes, posts, removals) is skipped."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from inbox.channels.base import ChannelConfig, IncomingMessage
from inbox.channels.meta.graph import MALFORMED, parse_time
from inbox.channels.meta.messages import (
    facebook_comment_url,
    facebook_message,
    instagram_message,
)

logger = logging.getLogger(__name__)


def verify_signature(app_secret: str, body: bytes, header_value: str) -> bool:
    """Check X-Hub-Signature-256 ("sha256=<hex HMAC of the raw body with the app secret>")."""
    if not app_secret or not header_value:
        return False
    scheme, _, received = header_value.strip().partition("=")
    if scheme.lower() != "sha256" or not received:
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.strip().lower())


def verify_subscription(params: Mapping[str, str], verify_token: str) -> str | None:
    """Meta's GET handshake: the challenge to echo back, or None when it is not ours."""
    if not verify_token or params.get("hub.mode") != "subscribe":
        return None
    token = params.get("hub.verify_token") or ""
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        return None
    challenge = params.get("hub.challenge")
    return challenge or None


def parse_webhook(config: ChannelConfig, payload: dict[str, Any]) -> list[IncomingMessage]:
    """Comments in a Meta webhook delivery; every other change (likes, posts, removals) is skipped.

    Raises ValueError when the payload is not a Meta webhook delivery at all.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise ValueError("not a Meta webhook delivery: 'entry' must be a list")
    messages: list[IncomingMessage] = []
    for entry in payload["entry"]:
        if not isinstance(entry, dict):
            continue
        entry_id = str(entry.get("id") or "")
        changes = entry.get("changes")
        for change in changes if isinstance(changes, list) else ():
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                continue
            value = change["value"]
            field = change.get("field")
            try:
                if field == "feed" and config.kind == "facebook":
                    message = _feed_comment(config, entry_id, value)
                elif field in ("comments", "live_comments") and config.kind == "instagram":
                    message = _ig_webhook_comment(config, entry_id, entry.get("time"), value)
                else:
                    message = None
            except MALFORMED as exc:
                # One malformed change must not sink the other comments of the delivery.
                logger.warning("Skipping malformed Meta change on channel %s: %s", config.id, exc)
                continue
            if message is not None:
                messages.append(message)
    return messages


def _feed_comment(
    config: ChannelConfig, entry_id: str, value: dict[str, Any]
) -> IncomingMessage | None:
    if value.get("item") != "comment" or value.get("verb") not in ("add", "edited"):
        return None
    comment_id = str(value["comment_id"])
    post_id = str(value.get("post_id") or "")
    parent_id = str(value.get("parent_id") or "")
    author = value.get("from") or {}  # absent for deleted or restricted accounts
    page_id = str(config.settings.get("page_id") or entry_id)
    post = value.get("post")
    if not isinstance(post, dict):
        post = {}
    url = facebook_comment_url(post.get("permalink_url") or "", post_id, comment_id)
    return facebook_message(
        config,
        page_id=page_id,
        comment_id=comment_id,
        parent_id="" if parent_id == post_id else parent_id,
        text=value.get("message") or "",
        created_at=parse_time(value.get("created_time")),
        author=author,
        url=url,
        raw={"source": "webhook", "post_id": post_id, **value},
    )


def _ig_webhook_comment(
    config: ChannelConfig, entry_id: str, entry_time: Any, value: dict[str, Any]
) -> IncomingMessage:
    # Instagram's comment change carries no timestamp; the entry time (when
    # Meta sent it, seconds after the comment) is the best there is.
    return instagram_message(
        config,
        account_id=str(config.settings.get("ig_user_id") or entry_id),
        comment={
            "id": value["id"],
            "text": value.get("text") or "",
            "from": value.get("from") or {},
            "parent_id": value.get("parent_id") or "",
        },
        created_at=parse_time(entry_time) if entry_time else datetime.now(UTC),
        media_id=str((value.get("media") or {}).get("id") or ""),
        url="",
        raw={"source": "webhook", **value},
    )
