"""What the Facebook and Instagram connectors share: the Graph client from the channel's
credentials, their settings, paging, the webhook, and the poll's skeleton (per account, the
recent posts or media with new comments, each comment once, the cursor per account)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from inbox.channels.base import (
    ChannelConfig,
    ConnectorError,
    FetchResult,
    IncomingMessage,
)
from inbox.channels.meta.graph import MALFORMED, GraphClient, parse_time
from inbox.channels.meta.webhook import parse_webhook

logger = logging.getLogger(__name__)


def normalise(text: str) -> str:
    """For comparing our own reply text: ignore whitespace runs and zero-width characters."""
    text = re.sub(r"[\u200b-\u200f\u2060\ufeff]", "", text)
    return " ".join(text.split()).casefold()


class MetaConnector:
    can_reply = True
    can_hide = True
    kind = ""
    account_setting = ""  # the channel setting that names the account polled

    def __init__(self, session: Any = None):
        self._session = session

    def client(self, channel: ChannelConfig) -> GraphClient:
        return GraphClient(
            str(channel.credentials.get("access_token") or ""),
            str(channel.credentials.get("app_secret") or ""),
            self._session,
        )

    @staticmethod
    def _setting(channel: ChannelConfig, name: str) -> str:
        value = str(channel.settings.get(name) or "")
        if not value:
            raise ConnectorError(f"Channel setting {name!r} is missing", transient=False)
        return value

    @staticmethod
    def _bounds(channel: ChannelConfig) -> tuple[int, int]:
        posts = int(channel.settings.get("backfill_posts") or 10)
        pages = int(channel.settings.get("backfill_pages") or 3)
        return max(1, min(posts, 100)), max(1, min(pages, 20))

    def _pages(self, client: GraphClient, first: dict[str, Any], max_pages: int) -> Iterator[dict]:
        """Items of a Graph list, following paging.next for at most max_pages pages."""
        page, seen = first, 1
        while True:
            yield from page.get("data") or ()
            next_url = (page.get("paging") or {}).get("next")
            if not next_url or seen >= max_pages:
                return
            page, seen = client.get_url(next_url), seen + 1

    def _own_reply(
        self,
        client: GraphClient,
        first: dict[str, Any],
        text: str,
        *,
        text_field: str,
        is_ours: Callable[[dict[str, Any]], bool],
    ) -> str | None:
        """The id of our reply with this text among the replies listed from `first` (three pages
        at most): how find_existing_reply tells that an earlier attempt posted it already."""
        wanted = normalise(text)
        for reply in self._pages(client, first, 3):
            if is_ours(reply) and normalise(reply.get(text_field) or "") == wanted:
                return str(reply["id"])
        return None

    def parse_webhook(
        self, channel: ChannelConfig, payload: dict[str, Any]
    ) -> list[IncomingMessage]:
        return parse_webhook(channel, payload)

    def fetch(self, channel: ChannelConfig, cursor: dict[str, Any]) -> FetchResult:
        """The comments since the cursor's time for this account, newest time kept per account.

        A malformed comment is logged and skipped: it must not cost the others.
        """
        account_id = self._setting(channel, self.account_setting)
        client = self.client(channel)
        max_items, max_pages = self._bounds(channel)
        last_seen_raw = (cursor.get("last_seen") or {}).get(account_id)
        last_seen = parse_time(last_seen_raw) if last_seen_raw else None
        messages: list[IncomingMessage] = []
        newest = last_seen
        for container in self._containers(client, account_id, max_items, last_seen):
            for comment, build in self._comments(client, container, max_pages):
                try:
                    created = parse_time(self._time_of(comment))
                    if last_seen and created < last_seen:
                        if self.newest_first:
                            break  # everything after this one was seen already
                        continue
                    message = build(channel, account_id, created)
                except MALFORMED as exc:
                    logger.warning(
                        "Skipping malformed %s comment on channel %s: %s",
                        self.kind,
                        channel.id,
                        exc,
                    )
                    continue
                messages.append(message)
                newest = max(newest, created) if newest else created
        new_cursor = dict(cursor)
        if newest:
            new_cursor["last_seen"] = {
                **(cursor.get("last_seen") or {}),
                account_id: newest.isoformat(),
            }
        return FetchResult(messages=messages, cursor=new_cursor)

    # What each platform fills in for fetch():
    newest_first = False  # comments come newest first: stop at the first one already seen

    def _containers(
        self, client: GraphClient, account_id: str, max_items: int, last_seen: datetime | None
    ) -> Iterable[dict[str, Any]]:
        """The posts or media to look under."""
        raise NotImplementedError

    def _comments(
        self, client: GraphClient, container: dict[str, Any], max_pages: int
    ) -> Iterable[tuple[dict[str, Any], Callable[[ChannelConfig, str, datetime], IncomingMessage]]]:
        """(comment, a builder of its message) for each comment under a post or media."""
        raise NotImplementedError

    @staticmethod
    def _time_of(comment: dict[str, Any]) -> Any:
        raise NotImplementedError
