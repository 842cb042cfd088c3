"""Bluesky through the atproto SDK: mention/reply/quote notifications plus keyword search.

Credentials: handle (or e-mail) and app_password of our account.
Settings: service ("https://bsky.social", where createSession goes; the SDK then follows the
account's PDS from the DID document), page_size (50), max_pages (5), timeout (15 s),
langs (["nl"]) for our replies.

Cursor, per source ("notifications", "search:<keyword>"): both lists come newest first, so
we read down until we meet what we saw last time:
    {"since": <newest indexedAt seen>, "seen": [uris indexed at exactly that time]}
and, when a poll ran out of pages before meeting it, also {"cursor": <page cursor>,
"next_since": ..., "next_seen": [...]}: the next poll continues downward from there and
only then moves "since", so a burst bigger than one poll loses nothing.

Reads go through client.invoke_query (the SDK's transport, session refresh and errors) and
keep the plain JSON, so one malformed item is skipped instead of failing its whole page in
model validation, and Message.raw holds the platform's own payload. reply_refs(raw) turns
that raw payload into the root/parent strong refs send_reply needs (ReplyTarget.extra).

Sessions: createSession is limited to a few dozen per account per 5 minutes, so a logged-in
client is kept per channel in this process and the SDK refreshes its tokens itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from atproto import Client, models
from atproto_client.exceptions import (
    BadRequestError,
    LoginRequiredError,
    NetworkError,
    RateLimitExceededError,
    RequestException,
    UnauthorizedError,
)
from atproto_client.request import Request
from atproto_client.utils import facet_detection
from atproto_core.exceptions import AtProtocolError

from inbox.channels import textutil
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

REASONS = ("mention", "reply", "quote")
POST_COLLECTION = "app.bsky.feed.post"
_AUTH_ERRORS = {"ExpiredToken", "InvalidToken", "AuthenticationRequired", "AccountTakedown"}

_clients: dict[tuple[int, str], Client] = {}
_clients_lock = threading.Lock()


def forget_sessions() -> None:
    """Drop every cached login (tests; a credentials change does this per channel by key)."""
    with _clients_lock:
        _clients.clear()


def _error_name(exc: AtProtocolError) -> str:
    content = getattr(getattr(exc, "response", None), "content", None)
    return str(getattr(content, "error", "") or "")


@contextlib.contextmanager
def _mapped_errors(action: str, channel: ChannelConfig | None = None) -> Iterator[None]:
    try:
        yield
    except RateLimitExceededError as exc:
        raise RateLimited(f"Bluesky rate limit during {action}", reset_at=exc.reset_at) from exc
    except (UnauthorizedError, LoginRequiredError) as exc:
        _forget(channel)
        status = exc.response.status_code if getattr(exc, "response", None) else None
        raise AuthFailed(f"Bluesky refused {action}: {exc}", status_code=status) from exc
    except BadRequestError as exc:
        if _error_name(exc) in _AUTH_ERRORS:
            _forget(channel)
            raise AuthFailed(
                f"Bluesky session invalid during {action}: {exc}", status_code=400
            ) from exc
        raise ConnectorError(
            f"Bluesky rejected {action}: {exc}", transient=False, status_code=400
        ) from exc
    except NetworkError as exc:
        status = exc.response.status_code if exc.response is not None else None
        raise ConnectorError(
            f"Bluesky unreachable during {action}: {exc}", status_code=status
        ) from exc
    except RequestException as exc:
        status = exc.response.status_code if exc.response is not None else None
        transient = status is None or status >= 500
        raise ConnectorError(
            f"Bluesky error during {action}: {exc}", transient=transient, status_code=status
        ) from exc
    except (AtProtocolError, ValueError) as exc:
        # Malformed JSON (pydantic_core raises ValueError) or a response the SDK cannot read.
        raise ConnectorError(f"Bluesky sent malformed data during {action}: {exc}") from exc


def _client_key(channel: ChannelConfig) -> tuple[int, str]:
    creds = channel.credentials
    secret = (
        f"{channel.settings.get('service', '')}\0{creds.get('handle')}\0{creds.get('app_password')}"
    )
    return channel.id, hashlib.sha256(secret.encode()).hexdigest()


def _forget(channel: ChannelConfig | None) -> None:
    if channel is not None:
        with _clients_lock:
            _clients.pop(_client_key(channel), None)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    with contextlib.suppress(ValueError):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
    return None


def _rkey(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _strong_ref(value: Any) -> dict[str, str] | None:
    if isinstance(value, dict) and value.get("uri") and value.get("cid"):
        return {"uri": str(value["uri"]), "cid": str(value["cid"])}
    return None


def reply_refs(raw: dict[str, Any]) -> dict[str, dict[str, str]]:
    """ReplyTarget.extra for answering the post in raw: {"root": {uri, cid}, "parent": {uri, cid}}.

    The parent is the post itself; the root is its thread's root, or the post when it
    starts the thread. Empty when raw lacks the post's uri or cid.
    """
    parent = _strong_ref(raw)
    if parent is None:
        return {}
    reply = (raw.get("record") or {}).get("reply") or {}
    root = _strong_ref(reply.get("root")) or parent
    return {"root": root, "parent": parent}


def _same_text(posted: str, wanted: str) -> bool:
    return " ".join(posted.split()) == " ".join(wanted.split())


class BlueskyConnector:
    can_reply = True
    can_reply_privately = False  # chat.bsky needs a separate app-password scope; not offered
    can_hide = False
    max_length = 300  # graphemes

    # --- session -----------------------------------------------------------------------

    def _client(self, channel: ChannelConfig) -> Client:
        key = _client_key(channel)
        with _clients_lock:
            client = _clients.get(key)
        if client is not None:
            return client
        creds = channel.credentials
        if not creds.get("handle") or not creds.get("app_password"):
            raise AuthFailed("Bluesky channel needs handle and app_password")
        client = Client(
            base_url=channel.settings.get("service"),
            request=Request(timeout=float(channel.settings.get("timeout", 15))),
        )
        with _mapped_errors("login", channel):
            # createSession, then getProfile of ourselves (client.me: our DID for posting).
            client.login(creds["handle"], creds["app_password"])
        if client.me is None:
            raise AuthFailed("Bluesky login gave no profile for our account")
        with _clients_lock:
            _clients[key] = client
        return client

    # --- fetch -------------------------------------------------------------------------

    def fetch(self, channel: ChannelConfig, cursor: dict[str, Any]) -> FetchResult:
        client = self._client(channel)
        own_did = client.me.did
        own_handles = {h.lower().lstrip("@") for h in channel.own_handles}
        own_handles.add(client.me.handle.lower())
        limit = int(channel.settings.get("page_size", 50))
        max_pages = int(channel.settings.get("max_pages", 5))

        def notifications(page_cursor: str | None) -> tuple[list[Any], str | None]:
            params = models.AppBskyNotificationListNotifications.Params(
                limit=limit, cursor=page_cursor, reasons=list(REASONS)
            )
            content = client.invoke_query(
                "app.bsky.notification.listNotifications", params=params
            ).content
            return self._items(content, "notifications"), self._next(content)

        sources: dict[str, Any] = {"notifications": notifications}
        for keyword in channel.keywords:
            keyword = keyword.strip()
            if not keyword:
                continue

            def search(page_cursor: str | None, q: str = keyword) -> tuple[list[Any], str | None]:
                params = models.AppBskyFeedSearchPosts.Params(
                    q=q, sort="latest", limit=limit, cursor=page_cursor
                )
                content = client.invoke_query("app.bsky.feed.searchPosts", params=params).content
                return self._items(content, "posts"), self._next(content)

            sources[f"search:{keyword.lower()}"] = search

        messages: dict[str, IncomingMessage] = {}
        new_cursor: dict[str, Any] = {}
        for source, call in sources.items():
            items, new_cursor[source] = self._read_source(
                source, call, cursor.get(source) or {}, max_pages, channel
            )
            for item in items:
                if source == "notifications" and item.get("reason") not in REASONS:
                    continue  # an AppView that ignores the reasons filter sends likes too
                message = self._safe_normalise(item, own_did, own_handles)
                if message is not None:
                    messages.setdefault(message.external_id, message)
        ordered = sorted(messages.values(), key=lambda m: (m.created_at, m.external_id))
        return FetchResult(messages=ordered, cursor=new_cursor)

    @staticmethod
    def _items(content: Any, key: str) -> list[Any]:
        if not isinstance(content, dict):
            raise ConnectorError(
                f"Bluesky answered without a JSON object ({type(content).__name__})"
            )
        items = content.get(key)
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

    @staticmethod
    def _next(content: dict[str, Any]) -> str | None:
        value = content.get("cursor")
        return str(value) if value else None

    def _read_source(
        self, source: str, call, state: dict[str, Any], max_pages: int, channel: ChannelConfig
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        since = _parse_time(state.get("since"))
        seen = set(state.get("seen") or ())
        page_cursor = state.get("cursor")
        # Continuing a burst: the newest mark was already taken on the poll that started it.
        newest = _parse_time(state.get("next_since")) if page_cursor else None
        newest_seen = set(state.get("next_seen") or ()) if page_cursor else set()
        items: list[dict[str, Any]] = []
        reached_known = False
        for _ in range(max_pages):
            with _mapped_errors(f"{source} poll", channel):
                page, page_cursor = call(page_cursor)
            for item in page:
                indexed = _parse_time(item.get("indexedAt"))
                uri = str(item.get("uri") or "")
                if indexed is None:
                    items.append(item)  # no order information: keep it, dedupe does the rest
                    continue
                if since and (indexed < since or (indexed == since and uri in seen)):
                    reached_known = True
                    break
                items.append(item)
                if newest is None or indexed > newest:
                    newest, newest_seen = indexed, {uri}
                elif indexed == newest:
                    newest_seen.add(uri)
            if reached_known or not page_cursor or since is None:
                # Caught up, or the first poll: take the newest page, do not dig into history.
                break
        if since and not reached_known and page_cursor:
            return items, {
                "since": state["since"],
                "seen": sorted(seen),
                "cursor": page_cursor,
                "next_since": _iso(newest),
                "next_seen": sorted(newest_seen),
            }
        if newest is None or (since and newest < since):
            return items, {"since": state["since"], "seen": sorted(seen)} if since else {}
        if since and newest == since:
            newest_seen |= seen
        return items, {"since": _iso(newest), "seen": sorted(newest_seen)}

    def _safe_normalise(
        self, item: dict[str, Any], own_did: str, own_handles: set[str]
    ) -> IncomingMessage | None:
        try:
            return self._normalise(item, own_did, own_handles)
        except (KeyError, TypeError, ValueError, AttributeError):
            logger.warning("Bluesky: skipping malformed item %r", item, exc_info=True)
            return None

    def _normalise(
        self, item: dict[str, Any], own_did: str, own_handles: set[str]
    ) -> IncomingMessage | None:
        uri = str(item["uri"])
        record = item.get("record") or {}
        author = item.get("author") or {}
        did = str(author.get("did") or "") or uri.removeprefix("at://").split("/", 1)[0]
        if (
            not uri.startswith("at://did:")
            or record.get("$type", POST_COLLECTION) != POST_COLLECTION
        ):
            return None
        created_at = _parse_time(record.get("createdAt")) or _parse_time(item.get("indexedAt"))
        if created_at is None:
            logger.warning("Bluesky: post without a usable date skipped: %s", uri)
            return None
        handle = str(author.get("handle") or "")
        if handle == "handle.invalid":
            handle = ""  # the account's handle no longer verifies; the DID still identifies it
        reply = record.get("reply") or {}
        parent = str((reply.get("parent") or {}).get("uri") or "")
        root = str((reply.get("root") or {}).get("uri") or "") or parent
        profile = f"https://bsky.app/profile/{handle or did}"
        return IncomingMessage(
            external_id=uri,
            text=str(record.get("text") or ""),
            created_at=created_at,
            author_id=did,
            author_handle=handle,
            author_name=str(author.get("displayName") or handle),
            author_avatar_url=str(author.get("avatar") or ""),
            author_profile_url=profile,
            parent_external_id=parent,
            conversation_external_id=root or uri,
            url=f"{profile}/post/{_rkey(uri)}",
            is_public=True,
            is_own=did == own_did or (bool(handle) and handle.lower() in own_handles),
            raw=item,
        )

    # --- replies -----------------------------------------------------------------------

    def send_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        if target.private:
            raise ConnectorError("Bluesky private replies are not supported", transient=False)
        if textutil.grapheme_length(text) > self.max_length:
            raise ConnectorError(
                f"Bluesky posts are limited to {self.max_length} graphemes", transient=False
            )
        client = self._client(channel)
        refs = target.extra if target.extra.get("root") and target.extra.get("parent") else None
        if refs is None:
            refs = self._lookup_refs(client, channel, target.in_reply_to_external_id)
        reply_to = models.AppBskyFeedPost.ReplyRef(
            root=models.ComAtprotoRepoStrongRef.Main(**refs["root"]),
            parent=models.ComAtprotoRepoStrongRef.Main(**refs["parent"]),
        )
        with _mapped_errors("reply", channel):
            created = client.send_post(
                text=text,
                reply_to=reply_to,
                langs=list(channel.settings.get("langs", ["nl"])),
                # Links and hashtags only: resolving @handles to DIDs would cost requests.
                facets=facet_detection.detect_facets(text) or None,
            )
        return str(created.uri)

    def _lookup_refs(
        self, client: Client, channel: ChannelConfig, uri: str
    ) -> dict[str, dict[str, str]]:
        with _mapped_errors("reply target lookup", channel):
            content = client.invoke_query(
                "app.bsky.feed.getPosts", params=models.AppBskyFeedGetPosts.Params(uris=[uri])
            ).content
        for post in self._items(content, "posts"):
            if post.get("uri") == uri:
                refs = reply_refs(post)
                if refs:
                    return refs
        raise ConnectorError(f"Bluesky post {uri} to reply to was not found", transient=False)

    def find_existing_reply(
        self, channel: ChannelConfig, target: ReplyTarget, text: str
    ) -> str | None:
        client = self._client(channel)
        params = models.AppBskyFeedGetAuthorFeed.Params(
            actor=client.me.did, filter="posts_with_replies", limit=50
        )
        with _mapped_errors("reply lookup", channel):
            content = client.invoke_query("app.bsky.feed.getAuthorFeed", params=params).content
        for entry in self._items(content, "feed"):
            post = entry.get("post") or {}
            record = post.get("record") or {}
            parent = ((record.get("reply") or {}).get("parent") or {}).get("uri")
            if parent == target.in_reply_to_external_id and _same_text(
                str(record.get("text") or ""), text
            ):
                return str(post["uri"])
        return None

    def hide(self, channel: ChannelConfig, external_id: str, hidden: bool) -> None:
        raise ConnectorError("Bluesky hiding (threadgate) is not supported here", transient=False)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
