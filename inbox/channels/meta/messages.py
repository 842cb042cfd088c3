"""Facebook and Instagram comments as IncomingMessages: one builder per platform, shared by the
webhook (push) and the poll (fetch), so both paths thread and attribute a comment the same way.

Threading: both nest comments two levels deep. A top-level comment opens its own thread
(conversation_external_id = its id, no parent: 7,000 comments under one post are 7,000 units
of work, not one); a reply points at the comment it answers and belongs to that thread.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from inbox.channels.base import ChannelConfig, IncomingMessage


def facebook_message(
    config: ChannelConfig,
    *,
    page_id: str,
    comment_id: str,
    parent_id: str,
    text: str,
    created_at: datetime,
    author: dict[str, Any],
    url: str,
    raw: dict[str, Any],
) -> IncomingMessage:
    author_id = str(author.get("id") or "")
    if not comment_id:
        raise ValueError("comment without an id")
    if not isinstance(text, str):
        raise ValueError("comment text is not a string")
    return IncomingMessage(
        external_id=comment_id,
        text=text,
        created_at=created_at,
        author_id=author_id,
        author_name=str(author.get("name") or ""),
        parent_external_id=parent_id,
        # Two levels deep: a reply's parent is the top-level comment that opened the thread.
        conversation_external_id=parent_id or comment_id,
        url=url,
        is_public=True,
        is_own=bool(author_id) and author_id == page_id,
        raw=raw,
    )


def instagram_message(
    config: ChannelConfig,
    *,
    account_id: str,
    comment: dict[str, Any],
    created_at: datetime,
    media_id: str,
    url: str,
    raw: dict[str, Any],
) -> IncomingMessage:
    author = comment.get("from") or {}
    author_id = str(author.get("id") or "")
    username = str(author.get("username") or comment.get("username") or "")
    parent_id = str(comment.get("parent_id") or "")
    own_handles = {h.lstrip("@").lower() for h in config.own_handles}
    if not str(comment["id"] or ""):
        raise ValueError("comment without an id")
    return IncomingMessage(
        external_id=str(comment["id"]),
        text=_text(comment.get("text")),
        created_at=created_at,
        author_id=author_id or (f"username:{username}" if username else ""),
        author_handle=username,
        author_profile_url=f"https://www.instagram.com/{username}/" if username else "",
        parent_external_id=parent_id,
        conversation_external_id=parent_id or str(comment["id"]),
        url=url,
        is_public=True,
        is_own=(bool(author_id) and author_id == account_id)
        or (bool(username) and username.lower() in own_handles),
        raw={"media_id": media_id, **raw},
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("comment text is not a string")
    return value


def facebook_comment_url(permalink: str, post_id: str, comment_id: str) -> str:
    if permalink:
        join = "&" if "?" in permalink else "?"
        return f"{permalink}{join}comment_id={comment_id.rpartition('_')[2]}"
    if "_" in post_id:
        page, _, post = post_id.partition("_")
        return f"https://www.facebook.com/{page}/posts/{post}?comment_id={comment_id.rpartition('_')[2]}"
    return ""
