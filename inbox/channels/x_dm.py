"""X Direct Messages: reading GET /2/dm_events and turning its events into IncomingMessages.

Pure (no tweepy, no ORM): XConnector.fetch hands in a `call(pagination_token)` that does the
HTTP request with its error mapping, so the parser and the cursor logic are fuzzable alone.

Threading: a one-to-one chat is keyed "dm:<customer's X user id>" on the X channel itself
(the "continue privately" handover finds or opens the same key). dm_conversation_id of a
one-to-one chat is "<id>-<id>" (the two participants); our own DM is threaded on the OTHER id.
Our DMs sent from the app come back here with the dm_event_id send_reply returned: ingest
drops them as already stored, while a DM typed in X's own app is stored as outbound.

Group conversations (any other dm_conversation_id) are skipped and counted in the cursor: a
group has no one customer to contact, our replies are one-to-one DMs to a participant, and the
handover convention knows one-to-one chats only. The health page shows the count.

Cursor (cursor["dm"]): X returns events newest first and has no since_id for DMs, so a poll
reads down to the last event it has seen:
    {"last_id": "..."}                                   caught up
    {"last_id": old, "next_token": t, "newest_id": n}    a burst bigger than one poll's pages:
        the next poll continues down from t to old, and only then moves last_id to n.
A first poll reaches back `dm_first_window_hours` (24): its last_id is the snowflake of that
moment, so the same rule stops it. {"off": "..."} says why DMs are not read (health page).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from inbox.channels import textutil
from inbox.channels.base import ConnectorError, IncomingMessage

logger = logging.getLogger(__name__)

DM_EVENT_FIELDS = [
    "id",
    "text",
    "event_type",
    "created_at",
    "sender_id",
    "dm_conversation_id",
    "attachments",
    "referenced_tweets",
]
DM_EXPANSIONS = ["sender_id", "attachments.media_keys", "referenced_tweets.id"]
DM_MEDIA_FIELDS = ["media_key", "type", "url", "preview_image_url", "alt_text"]
# X takes 10,000 characters in one direct message (a post takes 280).
DM_MAX_LENGTH = 10_000
THREAD_PREFIX = "dm:"
TWITTER_EPOCH_MS = 1288834974657
_ONE_TO_ONE = re.compile(r"^(\d{1,30})-(\d{1,30})$")

# Why DMs are not read, for the health page (cursor["dm"]["off"]).
OFF_NO_USER_CONTEXT = "needs_user_context"
OFF_FORBIDDEN = "forbidden"


def thread_key(customer_id: str) -> str:
    """The thread key of the one-to-one chat with an X user (shared with the handover)."""
    return f"{THREAD_PREFIX}{customer_id}"


def participant_of(thread: str) -> str:
    """The customer's X user id of a DM thread key, or "" when it is not one."""
    if thread.startswith(THREAD_PREFIX) and thread[len(THREAD_PREFIX) :].isdigit():
        return thread[len(THREAD_PREFIX) :]
    return ""


def snowflake_at(moment: datetime) -> int:
    """The smallest X id made at `moment`: ids carry their creation time in the upper bits."""
    ms = int(moment.timestamp() * 1000) - TWITTER_EPOCH_MS
    return max(ms, 0) << 22


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


# --- reading -------------------------------------------------------------------------------


@dataclass
class DmRead:
    pages: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    # Events at or below this id were seen by an earlier poll (or are before the first window).
    floor: int = -1


def read_events(
    call: Callable[[str | None], Any],
    state: dict[str, Any],
    *,
    max_pages: int,
    first_window: timedelta,
    now: datetime,
) -> DmRead:
    """Read pages newest first until the last seen id, at most max_pages; the new state."""
    last_id = _str(state.get("last_id"))
    token = _str(state.get("next_token")) or None
    newest = _str(state.get("newest_id")) if token else ""
    if not last_id.isdigit():
        last_id = str(snowflake_at(now - first_window))
        token, newest = None, ""
    floor = int(last_id)
    pages: list[dict[str, Any]] = []
    reached = False
    for _ in range(max(1, max_pages)):
        page = call(token)
        if not isinstance(page, dict):
            raise ConnectorError(f"X direct messages answered with {type(page).__name__}")
        pages.append(page)
        for event in _list(page.get("data")):
            event_id = _int(event.get("id")) if isinstance(event, dict) else -1
            if event_id > _int(newest):
                newest = str(event_id)
            if 0 <= event_id <= floor:
                reached = True
        meta = page.get("meta")
        token = _str(meta.get("next_token")) if isinstance(meta, dict) else ""
        if reached or not token:
            token = None
            break
    if token:
        # Out of pages above the last seen id: continue from here next poll.
        return DmRead(pages, {"last_id": last_id, "next_token": token, "newest_id": newest}, floor)
    newest_id = max(floor, _int(newest))
    return DmRead(pages, {"last_id": str(newest_id)}, floor)


# --- parsing -------------------------------------------------------------------------------


@dataclass
class DmPage:
    messages: list[IncomingMessage] = field(default_factory=list)
    group_skipped: int = 0


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _by(items: Any, key: str) -> dict[str, dict[str, Any]]:
    return {
        str(item[key]): item for item in _list(items) if isinstance(item, dict) and item.get(key)
    }


def parse_pages(pages: list[dict[str, Any]], own_id: str, floor: int = -1) -> DmPage:
    """MessageCreate events above floor as messages, oldest first; others skipped, groups counted."""
    out = DmPage()
    seen: set[str] = set()
    for page in pages:
        includes = page.get("includes") if isinstance(page, dict) else None
        includes = includes if isinstance(includes, dict) else {}
        users = _by(includes.get("users"), "id")
        media = _by(includes.get("media"), "media_key")
        tweets = _by(includes.get("tweets"), "id")
        for event in _list(page.get("data") if isinstance(page, dict) else None):
            try:
                message = parse_event(event, own_id, users, media, tweets)
            except _GroupConversation:
                out.group_skipped += 1
                continue
            except (KeyError, TypeError, ValueError, AttributeError, OverflowError, OSError):
                logger.warning("X: skipping malformed DM event %r", event, exc_info=True)
                continue
            if message is None or message.external_id in seen:
                continue
            if _int(message.external_id) <= floor:
                continue
            seen.add(message.external_id)
            out.messages.append(message)
    out.messages.sort(key=lambda m: _int(m.external_id))
    return out


class _GroupConversation(Exception):
    pass


def parse_event(
    event: Any,
    own_id: str,
    users: dict[str, dict[str, Any]],
    media: dict[str, dict[str, Any]],
    tweets: dict[str, dict[str, Any]],
) -> IncomingMessage | None:
    """One DM event; None for events that are not a message (joins, leaves) or unreadable."""
    if not isinstance(event, dict) or event.get("event_type") != "MessageCreate":
        return None
    event_id = str(event.get("id") or "")
    sender = str(event.get("sender_id") or "")
    if not event_id.isdigit() or not sender.isdigit():
        return None
    is_own = sender == own_id
    customer = _customer_of(_str(event.get("dm_conversation_id")), sender, own_id, is_own)
    if not customer:
        return None
    user = users.get(sender) or {}
    handle = _str(user.get("username"))
    text = textutil.unescape_x_text(_str(event.get("text")))
    lines = [text] if text.strip() else []
    lines += _media_lines(event.get("attachments"), media)
    lines += _shared_tweet_lines(event.get("referenced_tweets"), tweets, users)
    return IncomingMessage(
        external_id=event_id,
        text="\n".join(lines),
        created_at=_time(event),
        author_id=sender,
        author_handle=handle,
        author_name=_str(user.get("name")),
        author_avatar_url=_str(user.get("profile_image_url")),
        author_profile_url=f"https://x.com/{handle}" if handle else "",
        conversation_external_id=thread_key(customer),
        url=f"https://x.com/messages/{_str(event.get('dm_conversation_id'))}"
        if event.get("dm_conversation_id")
        else "",
        is_public=False,
        is_own=is_own,
        raw={"data": event, "includes": {"users": [user]} if user else {}},
    )


def _customer_of(conversation: str, sender: str, own_id: str, is_own: bool) -> str:
    """The other participant of a one-to-one chat; raises _GroupConversation for a group."""
    if not conversation:
        # Older events may lack it: an incoming DM is from the customer, ours cannot be placed.
        return "" if is_own else sender
    match = _ONE_TO_ONE.match(conversation)
    if match is None:
        raise _GroupConversation(conversation)
    first, second = match.groups()
    if own_id not in (first, second) or first == second:
        return ""  # not a chat of our account: nothing of ours to answer
    other = second if first == own_id else first
    if not is_own and sender != other:
        return ""
    return other


def _media_lines(attachments: Any, media: dict[str, dict[str, Any]]) -> list[str]:
    keys = attachments.get("media_keys") if isinstance(attachments, dict) else None
    lines = []
    for key in _list(keys):
        item = media.get(str(key)) or {}
        kind = _str(item.get("type")) or "media"
        link = _str(item.get("url")) or _str(item.get("preview_image_url"))
        alt = _str(item.get("alt_text"))
        label = f"[{kind}{': ' + alt if alt else ''}]"
        lines.append(f"{label} {link}".strip())
    return lines


def _shared_tweet_lines(
    refs: Any, tweets: dict[str, dict[str, Any]], users: dict[str, dict[str, Any]]
) -> list[str]:
    lines = []
    for ref in _list(refs):
        tweet_id = str(ref.get("id") or "") if isinstance(ref, dict) else ""
        if not tweet_id.isdigit():
            continue
        author = str((tweets.get(tweet_id) or {}).get("author_id") or "")
        handle = _str((users.get(author) or {}).get("username")) or "i/web"
        lines.append(f"https://x.com/{handle}/status/{tweet_id}")
    return lines


def _time(event: dict[str, Any]) -> datetime:
    value = event.get("created_at")
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is not None:
                return parsed.astimezone(UTC)
    # DM event ids are snowflakes too: they know when the message was sent.
    return datetime.fromtimestamp(((int(event["id"]) >> 22) + TWITTER_EPOCH_MS) / 1000, tz=UTC)
