"""Comments on a LinkedIn organisation page's posts (Community Management API).

Polled: the organisation's posts of the last ``posts_days`` days (GET /rest/posts?q=author),
then each post's first-level comments (GET /rest/socialActions/{post}/comments) and, for a
comment whose reply count changed, its replies (GET /rest/socialActions/{comment}/comments).
LinkedIn has no "comments since" filter and pushes nothing for organisation comments without
a partner webhook, so the poll reads the lists and keeps, per post, a watermark: the newest
creation time handed to ingest and the ids created in that very millisecond. A comment is new
when it is younger than the watermark, or as old and not among those ids: none is lost between
polls and none is handed over twice (ingest's unique external id guards the rest).

Every poll reads all first-level comments of each post in the window (at most
``max_comment_pages`` pages of 100 per post): the order LinkedIn lists them in is not
promised, and a new reply under an old comment shows only in that comment's reply count. The
replies of a comment are read only when its count or the reply URNs LinkedIn shows with it
(``commentsSummary.selectedComments``) differ from the last poll's: a reply deleted and
another written between two polls still changes the second. The first
poll reaches back ``posts_days`` of posts; LinkedIn's daily call quota is why the channel's
poll interval should be minutes, not seconds.

Threading like Facebook comments: a first-level comment opens its own conversation
(conversation_external_id = its comment URN), a reply joins its parent's. LinkedIn nests one
level, so a reply always goes under the thread's first-level comment.

Moderation: the API can only *delete* a comment on our post (DELETE .../comments/{id}), and
that cannot be undone. The inbox's "hide (house rule)" is reversible, so it is not mapped to a
delete: can_hide is False and hiding stays inside the inbox.

Settings: ``organization_id`` (the number, or the full urn:li:organization URN), ``posts_days``
(14), ``api_version`` (YYYYMM, default DEFAULT_API_VERSION), ``max_comment_pages`` (10).
Credentials: ``access_token`` of a page administrator (r_organization_social,
w_organization_social). Connectors never touch the ORM.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from inbox.channels.base import (
    ChannelConfig,
    ConnectorError,
    FetchResult,
    IncomingMessage,
    ReplyTarget,
)
from inbox.channels.linkedin.client import LinkedInClient, urn_path
from inbox.channels.meta.connector import normalise
from inbox.channels.meta.graph import MALFORMED

logger = logging.getLogger(__name__)

PAGE = 100  # comments per request (LinkedIn's maximum count for this finder)
POSTS_PAGE = 50
MAX_POST_PAGES = 5
REPLY_PAGES = 3
DEFAULT_POSTS_DAYS = 14
DEFAULT_COMMENT_PAGES = 10
_COMMENT_URN = re.compile(r"^urn:li:comment:\((urn:li:[A-Za-z]+:[^,()]+),([^,()]+)\)$")


# --- parsers (pure, fuzzed in tests/fuzz/test_linkedin_parsers.py) -------------------------


def org_urn(value: Any) -> str:
    value = str(value or "").strip()
    if not value:
        raise ConnectorError("Channel setting 'organization_id' is missing", transient=False)
    return value if value.startswith("urn:li:organization:") else f"urn:li:organization:{value}"


def split_comment_urn(urn: Any) -> tuple[str, str]:
    """urn:li:comment:(urn:li:activity:1,2) -> ("urn:li:activity:1", "2")."""
    match = _COMMENT_URN.match(str(urn)) if isinstance(urn, str) else None
    if not match:
        raise ValueError(f"not a LinkedIn comment URN: {urn!r}")
    return match.group(1), match.group(2)


def time_ms(value: Any) -> int:
    """A LinkedIn time: epoch milliseconds, plain or as {"time": ms} (audit stamps)."""
    if isinstance(value, dict):
        value = value.get("time")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 10**14:
        raise ValueError(f"not a LinkedIn time: {value!r}")
    return value


def as_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def comment_url(post_urn: str, comment_urn: str) -> str:
    from urllib.parse import quote

    return (
        f"https://www.linkedin.com/feed/update/{post_urn}/?commentUrn={quote(comment_urn, safe='')}"
    )


def reply_count(comment: dict[str, Any]) -> int:
    summary = comment.get("commentsSummary")
    if not isinstance(summary, dict):
        return 0
    for key in ("aggregatedTotalComments", "totalFirstLevelComments"):
        value = summary.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    selected = summary.get("selectedComments")
    return len(selected) if isinstance(selected, list) else 0


def selected_replies(comment: dict[str, Any]) -> list[str]:
    """The reply URNs LinkedIn shows with a comment: with the count, what tells a change."""
    summary = comment.get("commentsSummary")
    selected = summary.get("selectedComments") if isinstance(summary, dict) else None
    return (
        sorted(str(u) for u in selected if isinstance(u, str)) if isinstance(selected, list) else []
    )


def comment_message(comment: Any, *, organization: str) -> IncomingMessage:
    """One element of a comments list as an IncomingMessage (ValueError etc. when malformed)."""
    if not isinstance(comment, dict):
        raise TypeError("comment is not an object")
    urn = comment.get("commentUrn") or comment.get("$URN")
    thread_object, _ = split_comment_urn(urn)
    created = time_ms(comment.get("created"))
    message = comment.get("message")
    text = message.get("text", "") if isinstance(message, dict) else ""
    if message is not None and not isinstance(message, dict):
        raise TypeError("message is not an object")
    if not isinstance(text, str):
        raise TypeError("comment text is not a string")
    actor = comment.get("actor")
    actor = actor if isinstance(actor, str) else ""
    parent = comment.get("parentComment")
    if parent is not None:
        split_comment_urn(parent)  # a reply's parent must be a comment URN too
    parent = str(parent or "")
    post = comment.get("object")
    post = post if isinstance(post, str) and post.startswith("urn:li:") else thread_object
    return IncomingMessage(
        external_id=str(urn),
        text=text,
        created_at=as_datetime(created),
        author_id=actor,
        # The API names no one: the actor URN is all a comment carries (no documented
        # decoration in the versioned API), so the contact is known by it.
        author_handle="",
        parent_external_id=parent,
        conversation_external_id=parent or str(urn),
        url=comment_url(post, str(urn)),
        is_public=True,
        is_own=bool(actor) and actor == organization,
        raw={"source": "poll", "post_urn": post, **comment},
    )


class Watermark:
    """The newest creation time handed over, and the ids created in that millisecond."""

    def __init__(self, state: Any):
        state = state if isinstance(state, dict) else {}
        mark = state.get("mark")
        self.mark = mark if isinstance(mark, int) and not isinstance(mark, bool) else 0
        ids = state.get("ids")
        self.ids = [str(i) for i in ids] if isinstance(ids, list) else []

    def is_new(self, ms: int, comment_id: str) -> bool:
        return ms > self.mark or (ms == self.mark and comment_id not in self.ids)

    def add(self, ms: int, comment_id: str) -> None:
        if ms > self.mark:
            self.mark, self.ids = ms, [comment_id]
        elif ms == self.mark and comment_id not in self.ids:
            self.ids.append(comment_id)

    def state(self) -> dict[str, Any]:
        return {"mark": self.mark, "ids": list(self.ids)}


# --- the connector ---------------------------------------------------------------------------


class LinkedInConnector:
    kind = "linkedin"
    can_reply = True
    can_reply_privately = False  # no private message from an organisation page in this API
    can_hide = False  # only an irreversible delete exists: see the module docstring
    max_length = 1250  # characters of a comment's text

    def __init__(self, session: Any = None):
        self._session = session

    def client(self, channel: ChannelConfig) -> LinkedInClient:
        return LinkedInClient(
            str(channel.credentials.get("access_token") or ""),
            str(channel.settings.get("api_version") or ""),
            self._session,
        )

    @staticmethod
    def _int_setting(channel: ChannelConfig, name: str, default: int, top: int) -> int:
        try:
            value = int(channel.settings.get(name) or default)
        except (TypeError, ValueError):
            raise ConnectorError(
                f"Channel setting {name!r} is no number", transient=False
            ) from None
        return max(1, min(value, top))

    def fetch(self, channel: ChannelConfig, cursor: dict[str, Any]) -> FetchResult:
        organization = org_urn(channel.settings.get("organization_id"))
        client = self.client(channel)
        days = self._int_setting(channel, "posts_days", DEFAULT_POSTS_DAYS, 365)
        max_pages = self._int_setting(channel, "max_comment_pages", DEFAULT_COMMENT_PAGES, 100)
        since = datetime.now(UTC) - timedelta(days=days)
        stored = cursor.get("posts")
        old_posts: dict[str, Any] = stored if isinstance(stored, dict) else {}
        messages: list[IncomingMessage] = []
        posts: dict[str, Any] = {}
        for post_urn in self._recent_posts(client, organization, since):
            if post_urn in posts:
                continue  # offset paging repeats a post when a new one pushes the list down
            found, posts[post_urn] = self._post_comments(
                client, channel, organization, post_urn, old_posts.get(post_urn), max_pages
            )
            messages.extend(found)
        # A comment listed twice (offset paging, a reply also listed at the top level) once.
        unique: dict[str, IncomingMessage] = {}
        for message in messages:
            unique.setdefault(message.external_id, message)
        messages = list(unique.values())
        # Posts older than the window drop out of the cursor: it stays small.
        return FetchResult(messages=messages, cursor={**cursor, "posts": posts})

    def _recent_posts(self, client: LinkedInClient, organization: str, since: datetime):
        since_ms = int(since.timestamp() * 1000)
        start = 0
        for _ in range(MAX_POST_PAGES):
            page = client.get(
                "posts",
                {
                    "author": organization,
                    "q": "author",
                    "count": POSTS_PAGE,
                    "start": start,
                    "sortBy": "CREATED",  # newest first: stop at the first post too old
                },
            )
            elements = page.get("elements")
            elements = elements if isinstance(elements, list) else []
            for post in elements:
                try:
                    urn = post["id"]
                    created = time_ms(post.get("createdAt") or post.get("publishedAt"))
                    if not (isinstance(urn, str) and urn.startswith("urn:li:")):
                        raise ValueError(f"post id {urn!r}")
                except MALFORMED as exc:
                    logger.warning("Skipping malformed LinkedIn post: %s", exc)
                    continue
                if created < since_ms:
                    return
                yield urn
            if len(elements) < POSTS_PAGE:
                return
            start += len(elements)

    def _post_comments(
        self,
        client: LinkedInClient,
        channel: ChannelConfig,
        organization: str,
        post_urn: str,
        state: Any,
        max_pages: int,
    ) -> tuple[list[IncomingMessage], dict[str, Any]]:
        state = state if isinstance(state, dict) else {}
        seen = Watermark(state)
        watermark = Watermark(state)
        old_replies = state.get("replies") if isinstance(state.get("replies"), dict) else {}
        replies: dict[str, Any] = {}
        messages: list[IncomingMessage] = []
        handed: set[str] = set()
        for comment, message in _comments_under(client, post_urn, organization, max_pages):
            ms = int(message.created_at.timestamp() * 1000)
            # Offset paging can list a comment twice in one read: handed over once.
            if seen.is_new(ms, message.external_id) and message.external_id not in handed:
                handed.add(message.external_id)
                messages.append(message)
                watermark.add(ms, message.external_id)
            count = reply_count(comment)
            if count:
                messages.extend(
                    self._replies(
                        client,
                        organization,
                        message.external_id,
                        (count, selected_replies(comment)),
                        old_replies.get(message.external_id),
                        replies,
                    )
                )
        new_state: dict[str, Any] = watermark.state()
        # Reply counts of comments not listed this time (deleted, past the bound) are kept.
        new_state["replies"] = {**old_replies, **replies}
        return messages, new_state

    def _replies(
        self,
        client: LinkedInClient,
        organization: str,
        parent_urn: str,
        summary: tuple[int, list[str]],
        state: Any,
        into: dict[str, Any],
    ) -> list[IncomingMessage]:
        """New replies under a first-level comment, read only when its reply summary changed."""
        state = state if isinstance(state, dict) else {}
        count, selected = summary
        if state.get("count") == count and state.get("selected", []) == selected:
            into[parent_urn] = state
            return []
        seen = Watermark(state)
        watermark = Watermark(state)
        found: list[IncomingMessage] = []
        handed: set[str] = set()
        for _comment, message in _comments_under(client, parent_urn, organization, REPLY_PAGES):
            ms = int(message.created_at.timestamp() * 1000)
            if seen.is_new(ms, message.external_id) and message.external_id not in handed:
                handed.add(message.external_id)
                if not message.parent_external_id:
                    # Listed under a comment: that comment is its parent, said or not.
                    message = _with_parent(message, parent_urn)
                found.append(message)
                watermark.add(ms, message.external_id)
        into[parent_urn] = {**watermark.state(), "count": count, "selected": selected}
        return found

    # --- replying -------------------------------------------------------------------------

    def send_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        """A nested comment as the organisation under the thread's first-level comment."""
        organization = org_urn(channel.settings.get("organization_id"))
        parent = target.thread_external_id or target.in_reply_to_external_id
        try:
            # The post as the comment URN names it (urn:li:activity, ugcPost or share): the
            # object LinkedIn filed the thread under, so no lookup of the post is needed.
            post_urn, _ = split_comment_urn(parent)
        except ValueError:
            raise ConnectorError(
                f"Cannot reply on LinkedIn: {parent!r} is no comment", transient=False
            ) from None
        body, restli_id = self.client(channel).post(
            f"socialActions/{urn_path(post_urn)}/comments",
            {
                "actor": organization,
                "object": post_urn,
                "message": {"text": text},
                "parentComment": parent,
            },
        )
        urn = body.get("commentUrn") or body.get("$URN")
        if isinstance(urn, str) and urn.startswith("urn:li:comment:"):
            return urn
        comment_id = str(body.get("id") or restli_id or "")
        if comment_id.startswith("urn:li:comment:"):
            return comment_id
        if not comment_id:
            # Accepted without saying what it made: unknown, find_existing_reply settles it.
            raise ConnectorError("LinkedIn accepted the comment without returning its id")
        return f"urn:li:comment:({post_urn},{comment_id})"

    def find_existing_reply(
        self, channel: ChannelConfig, target: ReplyTarget, text: str
    ) -> str | None:
        """Our organisation's reply with this text under the thread, if an attempt posted it."""
        organization = org_urn(channel.settings.get("organization_id"))
        parent = target.thread_external_id or target.in_reply_to_external_id
        client = self.client(channel)
        wanted = normalise(text)
        start = 0
        for _ in range(REPLY_PAGES):
            page = client.get(
                f"socialActions/{urn_path(parent)}/comments", {"start": start, "count": PAGE}
            )
            elements = page.get("elements")
            elements = elements if isinstance(elements, list) else []
            for comment in elements:
                if not isinstance(comment, dict) or comment.get("actor") != organization:
                    continue
                message = comment.get("message")
                said = message.get("text") if isinstance(message, dict) else None
                urn = comment.get("commentUrn") or comment.get("$URN")
                if isinstance(said, str) and normalise(said) == wanted and isinstance(urn, str):
                    return urn
            if len(elements) < PAGE:
                break
            start += len(elements)
        return None

    def post_url(self, channel: ChannelConfig, external_id: str) -> str:
        try:
            post_urn, _ = split_comment_urn(external_id)
        except ValueError:
            return ""
        return comment_url(post_urn, external_id)

    def hide(self, channel: ChannelConfig, external_id: str, hidden: bool) -> None:
        raise ConnectorError(
            "LinkedIn can only delete a comment, which cannot be undone: not used for hiding",
            transient=False,
        )


def _comments_under(
    client: LinkedInClient, urn: str, organization: str, max_pages: int
) -> Iterator[tuple[dict[str, Any], IncomingMessage]]:
    """Every readable comment listed under a post or a comment, page by page (offset paging);
    a malformed one is logged and skipped. Past max_pages the rest is left, with a warning."""
    start = 0
    for _ in range(max_pages):
        page = client.get(
            f"socialActions/{urn_path(urn)}/comments", {"start": start, "count": PAGE}
        )
        elements = page.get("elements")
        elements = elements if isinstance(elements, list) else []
        for comment in elements:
            try:
                message = comment_message(comment, organization=organization)
            except MALFORMED as exc:
                logger.warning("Skipping malformed LinkedIn comment under %s: %s", urn, exc)
                continue
            yield comment, message
        if len(elements) < PAGE:
            return
        start += len(elements)
    logger.warning(
        "LinkedIn %s has more than %s pages of comments: the rest is not read", urn, max_pages
    )


def _with_parent(message: IncomingMessage, parent: str) -> IncomingMessage:
    from dataclasses import replace

    return replace(message, parent_external_id=parent, conversation_external_id=parent)
