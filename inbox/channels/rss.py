"""RSS and Atom feeds (news sites, blogs) that mention us: listening only.

Channel settings: ``feed_url`` (required) and ``all_entries`` (true keeps every
entry; otherwise only entries whose title or summary mention one of the
channel keywords). The feed is fetched with a conditional GET: the cursor keeps
the ETag and Last-Modified of the last answer, and a 304 Not Modified costs
nothing. feedparser parses the bytes; a malformed ("bozo") feed still yields
whatever entries it could read, and fails the poll (cursor kept) only when
nothing at all was readable.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import logging
import re
from datetime import UTC, datetime
from typing import Any

import feedparser
import nh3
import requests

from inbox.channels.base import (
    AuthFailed,
    ChannelConfig,
    ConnectorError,
    FetchResult,
    IncomingMessage,
    RateLimited,
    ReplyTarget,
)

logger = logging.getLogger(__name__)

TIMEOUT = (5, 30)
MAX_FEED_BYTES = 10 * 1024 * 1024  # a feed bigger than this is not a feed
USER_AGENT = "WebcareInbox/1.0 (+feed monitor)"


def strip_html(fragment: str) -> str:
    """Plain text of an HTML fragment: tags gone (script and style with their content)."""
    if not fragment:
        return ""
    text = html.unescape(nh3.clean(fragment, tags=set()))
    return " ".join(text.split())


def keyword_pattern(keywords: tuple[str, ...] | list[str]) -> re.Pattern[str] | None:
    """Case-insensitive, whole-word-ish match: "woonstad" matches "Woonstad's" but not "Woonstadium"."""
    words = [k.strip() for k in keywords if k and k.strip()]
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def parse_feed(config: ChannelConfig, body: bytes) -> list[IncomingMessage]:
    """The matching entries of a feed document (RSS 0.9x/1.0/2.0 or Atom)."""
    try:
        parsed = feedparser.parse(body)
    except ValueError as exc:  # feedparser's encoding detection trips over some bytes
        raise ConnectorError(
            f"Feed could not be decoded: {type(exc).__name__}", transient=True
        ) from exc
    if parsed.bozo:
        if not parsed.entries and not parsed.feed.get("title"):
            raise ConnectorError(
                f"Feed could not be parsed: {type(parsed.bozo_exception).__name__}: "
                f"{parsed.bozo_exception}",
                transient=True,
            )
        logger.warning(
            "Feed of channel %s is malformed (%s); using the %d entries that parsed",
            config.id,
            parsed.bozo_exception,
            len(parsed.entries),
        )
    elif not parsed.get("version") and not parsed.entries:  # no version key for an empty body
        raise ConnectorError("The feed URL did not return an RSS or Atom document", transient=True)
    all_entries = bool(config.settings.get("all_entries"))
    pattern = keyword_pattern(config.keywords)
    feed = parsed.feed
    messages = []
    for entry in parsed.entries:
        title = strip_html(entry.get("title") or "")
        summary = strip_html(_summary_html(entry))
        if not all_entries and not (pattern and pattern.search(f"{title}\n{summary}")):
            continue
        messages.append(_entry_message(config, feed, entry, title, summary))
    return messages


def _summary_html(entry: Any) -> str:
    summary = entry.get("summary") or ""
    if not summary and entry.get("content"):
        summary = entry["content"][0].get("value") or ""
    return summary


def _entry_message(
    config: ChannelConfig, feed: Any, entry: Any, title: str, summary: str
) -> IncomingMessage:
    link = entry.get("link") or ""
    external_id = (entry.get("id") or link or "").strip()
    if not external_id or len(external_id) > 255:
        # No id and no link (or an absurd one): the content itself identifies the entry.
        digest = hashlib.sha256(f"{external_id}\n{title}\n{summary}".encode()).hexdigest()
        external_id = f"sha256:{digest}"
    feed_title = strip_html(feed.get("title") or "")
    author_name = strip_html(entry.get("author") or "") or feed_title
    feed_link = feed.get("link") or config.settings.get("feed_url") or ""
    text = f"{title}\n\n{summary}" if title and summary else title or summary
    return IncomingMessage(
        external_id=external_id,
        text=text,
        created_at=_entry_time(entry),
        # One contact per writer of a site; the site itself when the entry names nobody.
        author_id=f"{feed_link}#{author_name}"[:255] if author_name else feed_link[:255],
        author_name=author_name[:255],
        author_profile_url=feed_link if len(feed_link) <= 1000 else "",
        conversation_external_id=external_id,
        url=link if link.startswith(("http://", "https://")) and len(link) <= 1000 else "",
        is_public=True,
        raw={
            "id": entry.get("id") or "",
            "link": link,
            "title": entry.get("title") or "",
            "author": entry.get("author") or "",
            "published": entry.get("published") or entry.get("updated") or "",
            "feed_title": feed.get("title") or "",
        },
    )


def _entry_time(entry: Any) -> datetime:
    # feedparser normalises every date format it knows to a UTC struct_time.
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return datetime.now(UTC)


class RssConnector:
    can_reply = False
    can_reply_privately = False
    can_hide = False
    max_length = None

    def __init__(self, session: Any = None):
        self._session = session or requests.Session()

    def fetch(self, channel: ChannelConfig, cursor: dict[str, Any]) -> FetchResult:
        url = str(channel.settings.get("feed_url") or "")
        if not url.startswith(("http://", "https://")):
            raise ConnectorError(
                "Channel setting 'feed_url' must be an http(s) URL", transient=False
            )
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5",
        }
        if cursor.get("etag"):
            headers["If-None-Match"] = cursor["etag"]
        if cursor.get("last_modified"):
            headers["If-Modified-Since"] = cursor["last_modified"]
        try:
            response = self._session.get(url, headers=headers, timeout=TIMEOUT, stream=True)
            body = self._read(response)
        except requests.RequestException as exc:
            raise ConnectorError(f"Feed unreachable ({type(exc).__name__})") from None
        status = response.status_code
        if status == 304:
            return FetchResult(messages=[], cursor=dict(cursor))
        if status == 429:
            raise RateLimited("Feed server answered 429", reset_at=_retry_after(response))
        if status in (401, 403):
            raise AuthFailed(f"Feed server refused access ({status})", status_code=status)
        if status >= 500:
            raise ConnectorError(f"Feed server error {status}", status_code=status)
        if status >= 400:
            raise ConnectorError(f"Feed answered {status}", transient=False, status_code=status)
        messages = parse_feed(channel, body)
        new_cursor = dict(cursor)
        for header, key in (("ETag", "etag"), ("Last-Modified", "last_modified")):
            if response.headers.get(header):
                new_cursor[key] = response.headers[header]
            else:
                new_cursor.pop(key, None)  # a validator the server no longer sends is stale
        return FetchResult(messages=messages, cursor=new_cursor)

    @staticmethod
    def _read(response: requests.Response) -> bytes:
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > MAX_FEED_BYTES:
                response.close()
                raise ConnectorError("Feed is larger than 10 MiB", transient=False)
            chunks.append(chunk)
        return b"".join(chunks)

    def send_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        raise ConnectorError("RSS and Atom feeds are listening only", transient=False)

    def find_existing_reply(
        self, channel: ChannelConfig, target: ReplyTarget, text: str
    ) -> str | None:
        return None

    def hide(self, channel: ChannelConfig, external_id: str, hidden: bool) -> None:
        raise ConnectorError("RSS and Atom feeds are listening only", transient=False)


def _retry_after(response: requests.Response) -> datetime | None:
    value = response.headers.get("Retry-After", "")
    if value.isdigit():
        return datetime.fromtimestamp(datetime.now(UTC).timestamp() + int(value), tz=UTC)
    return None
