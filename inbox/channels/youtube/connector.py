"""YouTube comments on the channel's videos: polled with commentThreads.list, answered with
comments.insert, moderated with comments.setModerationStatus.

Threading: a top-level comment opens its own conversation (thread key = the thread id, which
is also the top-level comment's id); every reply joins it with the top comment as parent
(YouTube nests one level only). Our own channel's comments are is_own.

Polling: commentThreads.list(allThreadsRelatedToChannelId, order=time) lists the newest threads
first; each is read with its inlined replies (at most five) and, when totalReplyCount says
there are more, the rest through comments.list(parentId). Paging stops at the first thread
older than the cursor minus ``reply_window_hours``: YouTube orders threads by their top
comment, so replies to a thread older than that window are not seen (documented limit).
A comment is new when its publishedAt is after the cursor's time, or equal to it with an id
not yet seen; the cursor keeps the newest time and the ids at that time, so nothing is
lost or taken twice. A first poll reaches back ``backfill_hours``.

Channel settings: ``channel_id`` (ours, "UC..."), ``held_for_review`` (also poll the comments
held for review), ``backfill_hours`` (72), ``reply_window_hours`` (24), ``max_pages`` (10),
``hide_as`` ("heldForReview", or "rejected" to reject under the house rule).
Credentials: ``access_token`` (youtube.force-ssl scope), optionally ``refresh_token``,
``client_id`` and ``client_secret`` to renew it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from inbox.channels import textutil
from inbox.channels.base import (
    ChannelConfig,
    ConnectorError,
    FetchResult,
    IncomingMessage,
    ReplyTarget,
)
from inbox.channels.meta.connector import normalise
from inbox.channels.meta.graph import MALFORMED
from inbox.channels.youtube.api import YouTubeClient, parse_time

logger = logging.getLogger(__name__)

PUBLISHED = "published"
HELD = "heldForReview"
MODERATION_STATUSES = frozenset({HELD, "rejected"})


def _str(value: Any) -> str:
    """A text field as given, or "" when it is missing or no text."""
    return value if isinstance(value, str) else ""


def comment_text(snippet: dict[str, Any]) -> str:
    """textOriginal where YouTube gives it (only to the author, by the docs), else textDisplay
    as plain text (it is HTML: links, <br>, entities)."""
    original = snippet.get("textOriginal")
    if isinstance(original, str) and original:
        return original
    display = snippet.get("textDisplay")
    if display is None:
        return ""
    if not isinstance(display, str):
        raise ValueError("comment text is not a string")
    return textutil.html_to_text(display)


def comment_message(
    comment: dict[str, Any], *, thread_id: str, video_id: str, own_channel_id: str
) -> IncomingMessage:
    """One comment resource (top-level or reply) as an IncomingMessage."""
    snippet = comment["snippet"]
    comment_id = comment["id"]
    if not isinstance(comment_id, str) or not comment_id:
        raise ValueError("comment without an id")
    author = snippet.get("authorChannelId")
    author_id = _str(author.get("value")) if isinstance(author, dict) else ""
    name = _str(snippet.get("authorDisplayName"))
    video_id = _str(snippet.get("videoId")) or video_id
    # YouTube nests one level: every reply's parent is the thread's top comment (its parentId
    # says the same; a reply listed without one, or with a bad one, still answers it).
    parent = "" if comment_id == thread_id else thread_id
    return IncomingMessage(
        external_id=comment_id,
        text=comment_text(snippet),
        created_at=parse_time(snippet.get("publishedAt")),
        author_id=author_id,
        # New channels show "@handle" as their display name: that is their handle.
        author_handle=name if name.startswith("@") else "",
        author_name=name,
        author_avatar_url=_str(snippet.get("authorProfileImageUrl")),
        author_profile_url=_str(snippet.get("authorChannelUrl")),
        parent_external_id=parent,
        conversation_external_id=thread_id,
        url=f"https://www.youtube.com/watch?v={video_id}&lc={comment_id}" if video_id else "",
        is_public=True,
        is_own=bool(author_id) and author_id == own_channel_id,
        raw={"thread_id": thread_id, **comment},
    )


def thread_messages(
    thread: dict[str, Any],
    own_channel_id: str,
    extra_replies: Sequence[dict[str, Any]] = (),
) -> list[IncomingMessage]:
    """The top comment and the replies of a commentThread resource (replies listed once)."""
    thread_id = thread["id"]
    if not isinstance(thread_id, str) or not thread_id:
        raise ValueError("thread without an id")
    snippet = thread["snippet"]
    video_id = str(snippet.get("videoId") or "")
    top = snippet["topLevelComment"]
    out = [
        comment_message(top, thread_id=thread_id, video_id=video_id, own_channel_id=own_channel_id)
    ]
    seen = {out[0].external_id}
    inline = (thread.get("replies") or {}).get("comments") or []
    for reply in [*inline, *extra_replies]:
        try:
            message = comment_message(
                reply, thread_id=thread_id, video_id=video_id, own_channel_id=own_channel_id
            )
        except MALFORMED as exc:
            logger.warning("Skipping malformed YouTube reply in thread %s: %s", thread_id, exc)
            continue
        if message.external_id not in seen:
            seen.add(message.external_id)
            out.append(message)
    return out


class YouTubeConnector:
    kind = "youtube"
    can_reply = True
    can_reply_privately = False  # YouTube has no private messages
    can_hide = True
    max_length = 10_000

    def __init__(self, session: Any = None):
        self._session = session

    def client(self, channel: ChannelConfig) -> YouTubeClient:
        return YouTubeClient(channel.credentials, self._session)

    @staticmethod
    def _channel_id(channel: ChannelConfig) -> str:
        value = str(channel.settings.get("channel_id") or "")
        if not value:
            raise ConnectorError("Channel setting 'channel_id' is missing", transient=False)
        return value

    @staticmethod
    def _hours(channel: ChannelConfig, name: str, default: int) -> timedelta:
        return timedelta(hours=max(1, min(int(channel.settings.get(name) or default), 24 * 30)))

    # --- fetch ---------------------------------------------------------------------------

    def fetch(self, channel: ChannelConfig, cursor: dict[str, Any]) -> FetchResult:
        own = self._channel_id(channel)
        client = self.client(channel)
        passes = [PUBLISHED, HELD] if channel.settings.get("held_for_review") else [PUBLISHED]
        messages: dict[str, IncomingMessage] = {}
        new_cursor = dict(cursor)
        for status in passes:
            found, new_cursor[status] = self._poll(client, channel, own, status, cursor.get(status))
            for message in found:
                messages.setdefault(message.external_id, message)
        ordered = sorted(messages.values(), key=lambda m: (m.created_at, m.external_id))
        return FetchResult(messages=ordered, cursor=new_cursor)

    def _poll(
        self,
        client: YouTubeClient,
        channel: ChannelConfig,
        own: str,
        status: str,
        state: Any,
    ) -> tuple[list[IncomingMessage], dict[str, Any]]:
        """New comments of one moderation status, and that pass's next cursor."""
        state = state if isinstance(state, dict) else {}
        since_raw = state.get("since")
        if since_raw:
            since = parse_time(since_raw)
            seen = {str(i) for i in state.get("seen") or ()}
            stop_before = since - self._hours(channel, "reply_window_hours", 24)
        else:
            since = datetime.now(UTC) - self._hours(channel, "backfill_hours", 72)
            seen, stop_before = set(), since
        found: list[IncomingMessage] = []
        newest, newest_ids = since, set(seen)
        for thread in self._threads(client, channel, own, status):
            try:
                top_time = parse_time(
                    thread["snippet"]["topLevelComment"]["snippet"]["publishedAt"]
                )
                if top_time < stop_before:
                    break  # newest first: every later thread is older still
                messages = thread_messages(thread, own, self._extra_replies(client, thread))
            except MALFORMED as exc:
                logger.warning(
                    "Skipping malformed YouTube thread on channel %s: %s", channel.id, exc
                )
                continue
            for message in messages:
                at = message.created_at
                if at < since or (at == since and message.external_id in seen):
                    continue
                found.append(message)
                if at > newest:
                    newest, newest_ids = at, {message.external_id}
                elif at == newest:
                    newest_ids.add(message.external_id)
        return found, {
            "since": newest.isoformat().replace("+00:00", "Z"),
            "seen": sorted(newest_ids),
        }

    def _threads(
        self, client: YouTubeClient, channel: ChannelConfig, own: str, status: str
    ) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {
            "part": "snippet,replies",
            "allThreadsRelatedToChannelId": own,
            "order": "time",
            "maxResults": 100,
        }
        if status != PUBLISHED:
            params["moderationStatus"] = status
        max_pages = max(1, min(int(channel.settings.get("max_pages") or 10), 50))
        yield from _listed(client, "commentThreads", params, max_pages)

    def _replies(self, client: YouTubeClient, parent_id: str, max_pages: int) -> Iterator[dict]:
        params: dict[str, Any] = {"part": "snippet", "parentId": parent_id, "maxResults": 100}
        yield from _listed(client, "comments", params, max_pages)

    def _extra_replies(self, client: YouTubeClient, thread: dict[str, Any]) -> list[dict[str, Any]]:
        """All replies through comments.list when the thread inlined fewer than it has."""
        total = thread["snippet"].get("totalReplyCount") or 0
        inline = (thread.get("replies") or {}).get("comments") or []
        if not isinstance(total, int) or total <= len(inline):
            return []
        return list(self._replies(client, thread["id"], 10))

    # --- replies -------------------------------------------------------------------------

    @staticmethod
    def _parent(target: ReplyTarget) -> str:
        # Replies nest one level: every reply goes under the thread's top comment, whose id
        # is the thread id (a reply's id is "<thread id>.<reply id>").
        parent = target.thread_external_id or target.in_reply_to_external_id.split(".")[0]
        if not parent:
            raise ConnectorError("No YouTube comment to reply to", transient=False)
        return parent

    def send_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        result = self.client(channel).post(
            "comments",
            {"part": "snippet"},
            json_body={"snippet": {"parentId": self._parent(target), "textOriginal": text}},
        )
        comment_id = result.get("id")
        if not isinstance(comment_id, str) or not comment_id:
            raise ConnectorError("YouTube accepted the reply without returning its id")
        return comment_id

    def find_existing_reply(
        self, channel: ChannelConfig, target: ReplyTarget, text: str
    ) -> str | None:
        """Our channel's reply with this text under the thread, if an earlier attempt posted it."""
        own = self._channel_id(channel)
        wanted = normalise(text)
        for reply in self._replies(self.client(channel), self._parent(target), 3):
            snippet = reply.get("snippet") or {}
            author = snippet.get("authorChannelId") or {}
            if not isinstance(author, dict) or author.get("value") != own:
                continue
            try:
                if normalise(comment_text(snippet)) == wanted:
                    return str(reply["id"])
            except MALFORMED:
                continue
        return None

    # --- moderation ----------------------------------------------------------------------

    def _moderate(
        self, channel: ChannelConfig, external_id: str, status: str, ban_author: bool = False
    ) -> None:
        params: dict[str, Any] = {"id": external_id, "moderationStatus": status}
        if status == "rejected":
            params["banAuthor"] = "true" if ban_author else "false"
        self.client(channel).post("comments/setModerationStatus", params)

    def hide(self, channel: ChannelConfig, external_id: str, hidden: bool) -> None:
        """Hide = hold for review (or reject, when the channel says so); unhide = publish."""
        hide_as = str(channel.settings.get("hide_as") or HELD)
        if hide_as not in MODERATION_STATUSES:
            raise ConnectorError(f"Unknown YouTube moderation status {hide_as!r}", transient=False)
        self._moderate(channel, external_id, hide_as if hidden else PUBLISHED)

    def reject(self, channel: ChannelConfig, external_id: str, ban_author: bool = False) -> None:
        """Reject a comment as unfit for display (its replies are hidden with it)."""
        self._moderate(channel, external_id, "rejected", ban_author=ban_author)


def _listed(
    client: YouTubeClient, resource: str, params: dict[str, Any], max_pages: int
) -> Iterator[dict]:
    """The items of a list call, following nextPageToken for at most max_pages pages."""
    for _ in range(max_pages):
        page = client.get(resource, params)
        for item in page.get("items") or ():
            if isinstance(item, dict):
                yield item
        token = page.get("nextPageToken")
        if not token or not isinstance(token, str):
            return
        params = {**params, "pageToken": token}
