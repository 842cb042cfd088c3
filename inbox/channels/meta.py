"""Facebook Page and Instagram comments through the Meta Graph API.

Comments arrive in two ways, and both end up as the same IncomingMessages:

- pushed: Meta's webhook (Page "feed" changes with item "comment", Instagram
  "comments" changes), verified with X-Hub-Signature-256 and turned into
  messages by ``parse_webhook`` (inbox/webhooks.py calls it);
- pulled: ``fetch`` backfills the comments on the most recent posts or media,
  for what a webhook missed (downtime, an app not yet subscribed).

Threading: Facebook and Instagram nest comments two levels deep. A top-level
comment opens its own thread (``conversation_external_id`` = its id, no
parent: 7,000 comments under one post are 7,000 units of work, not one); a
reply points at the comment it answers and belongs to that comment's thread.
The post or media id is kept in ``raw``.

Channel settings (``Channel.config``): Facebook ``page_id``; Instagram
``ig_user_id`` (and ``page_id`` for private replies through the Page).
Optional ``backfill_posts`` (default 10) and ``backfill_pages`` (default 3)
bound the poll. Credentials: ``access_token`` (a Page access token),
``app_secret`` (webhook signatures and appsecret_proof), ``verify_token``
(the webhook subscription handshake).

No ORM here: connectors return dataclasses (inbox/channels/base.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

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

# One pinned Graph API version for every call (Meta keeps a version for two years).
GRAPH_API_VERSION = "v21.0"
GRAPH_URL = f"https://graph.facebook.com/{GRAPH_API_VERSION}"
TIMEOUT = (5, 20)  # connect, read (seconds): a hung Graph call must not hold a worker

# Graph error codes that mean "throttled": 4 app, 17 user, 32 page, 613 custom,
# 80001 Pages and 80002 Instagram business-use-case limits.
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80001, 80002})
# 190 invalid/expired token, 102 session, 10 and 200-299 missing permission.
AUTH_CODES = frozenset({190, 102, 10})
# When Meta says nothing about the reset, try again after this.
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=15)

COMMENT_FIELDS = "id,message,created_time,from{id,name},parent{id},permalink_url"
IG_COMMENT_FIELDS = "id,text,timestamp,username,from,parent_id"


# ---------------------------------------------------------------------------
# Pure helpers: signatures, the subscription handshake, webhook payloads


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


# What reading a malformed Graph object raises (a field missing, of the wrong type, an
# impossible time such as an infinite timestamp): each means "skip this one item".
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, OverflowError, OSError)


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
    post = value.get("post") if isinstance(value.get("post"), dict) else {}
    url = _facebook_comment_url(post.get("permalink_url") or "", post_id, comment_id)
    return _facebook_message(
        config,
        page_id=page_id,
        comment_id=comment_id,
        parent_id="" if parent_id == post_id else parent_id,
        text=value.get("message") or "",
        created_at=_parse_time(value.get("created_time")),
        author=author,
        url=url,
        raw={"source": "webhook", "post_id": post_id, **value},
    )


def _ig_webhook_comment(
    config: ChannelConfig, entry_id: str, entry_time: Any, value: dict[str, Any]
) -> IncomingMessage:
    # Instagram's comment change carries no timestamp; the entry time (when
    # Meta sent it, seconds after the comment) is the best there is.
    return _instagram_message(
        config,
        account_id=str(config.settings.get("ig_user_id") or entry_id),
        comment={
            "id": value["id"],
            "text": value.get("text") or "",
            "from": value.get("from") or {},
            "parent_id": value.get("parent_id") or "",
        },
        created_at=_parse_time(entry_time) if entry_time else datetime.now(UTC),
        media_id=str((value.get("media") or {}).get("id") or ""),
        url="",
        raw={"source": "webhook", **value},
    )


def _facebook_message(
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


def _instagram_message(
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


def _facebook_comment_url(permalink: str, post_id: str, comment_id: str) -> str:
    if permalink:
        join = "&" if "?" in permalink else "?"
        return f"{permalink}{join}comment_id={comment_id.rpartition('_')[2]}"
    if "_" in post_id:
        page, _, post = post_id.partition("_")
        return f"https://www.facebook.com/{page}/posts/{post}?comment_id={comment_id.rpartition('_')[2]}"
    return ""


def _parse_time(value: Any) -> datetime:
    """Graph times: "2024-05-01T09:30:00+0000" in the API, unix seconds in webhooks."""
    if isinstance(value, bool) or value is None or value == "":
        raise ValueError(f"missing or invalid time {value!r}")
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        seconds = float(value)
        if seconds > 10**11:  # milliseconds (Messenger-style entry times)
            seconds /= 1000
        return datetime.fromtimestamp(seconds, tz=UTC)
    parsed = datetime.fromisoformat(re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", str(value)))
    if parsed.tzinfo is None:
        raise ValueError(f"time without a zone: {value!r}")
    return parsed.astimezone(UTC)


def _post_is_quiet(post: dict[str, Any], last_seen: datetime) -> bool:
    """No comment since last_seen (an unreadable time counts as news: better one call too many)."""
    try:
        return _parse_time(post.get("updated_time")) < last_seen
    except ValueError:
        return False


def _normalise(text: str) -> str:
    """For comparing our own reply text: ignore whitespace runs and zero-width characters."""
    text = re.sub(r"[\u200b-\u200f\u2060\ufeff]", "", text)
    return " ".join(text.split()).casefold()


# ---------------------------------------------------------------------------
# HTTP: one place that turns Graph responses into data or ConnectorErrors


class GraphClient:
    def __init__(self, access_token: str, app_secret: str = "", session: Any = None):
        if not access_token:
            raise AuthFailed("No Meta access token configured for this channel")
        self.access_token = access_token
        self.app_secret = app_secret
        self.session = session or requests.Session()

    def _auth_params(self) -> dict[str, str]:
        params = {"access_token": self.access_token}
        if self.app_secret:
            # appsecret_proof: a stolen token is useless without the app secret.
            params["appsecret_proof"] = hmac.new(
                self.app_secret.encode(), self.access_token.encode(), hashlib.sha256
            ).hexdigest()
        return params

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._request(
            "GET", f"{GRAPH_URL}/{path}", params={**self._auth_params(), **(params or {})}
        )

    def get_url(self, url: str) -> dict[str, Any]:
        """Follow a paging.next URL as given (it carries its own token and cursor)."""
        if not url.startswith("https://graph.facebook.com/"):
            raise ConnectorError(
                "Refusing to follow a paging URL off graph.facebook.com", transient=False
            )
        return self._request("GET", url)

    def post(
        self, path: str, data: dict[str, Any] | None = None, json_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self._request(
            "POST", f"{GRAPH_URL}/{path}", params=self._auth_params(), data=data, json=json_body
        )

    def _request(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.session.request(method, url, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            # The message names the exception type only: the URL holds the access token.
            raise ConnectorError(f"Meta Graph API unreachable ({type(exc).__name__})") from None
        return raise_for_graph_error(response)


def raise_for_graph_error(response: requests.Response) -> dict[str, Any]:
    """The JSON body of a successful Graph response, else the matching ConnectorError."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if response.ok and isinstance(body, dict) and not error:
        return body
    status = response.status_code
    if not isinstance(error, dict):
        if status >= 500 or response.ok:
            raise ConnectorError(
                f"Meta Graph API answered {status} without a JSON body", status_code=status
            )
        error = {}
    code = error.get("code")
    subcode = error.get("error_subcode")
    message = f"Meta Graph API error {code}/{subcode}: {error.get('message') or status}"
    if code in RATE_LIMIT_CODES or status == 429:
        raise RateLimited(message, reset_at=rate_limit_reset(response.headers))
    if code in AUTH_CODES or (isinstance(code, int) and 200 <= code <= 299):
        raise AuthFailed(message, status_code=status)
    if status in (401, 403) and code is None:
        raise AuthFailed(message, status_code=status)
    if status >= 500 or error.get("is_transient") or code in (1, 2):
        raise ConnectorError(message, transient=True, status_code=status)
    # Anything else (bad parameters, a deleted comment, 10900 "already replied
    # privately") will not get better by retrying.
    raise ConnectorError(message, transient=False, status_code=status)


def rate_limit_reset(headers: Mapping[str, str], now: datetime | None = None) -> datetime:
    """When a throttled app may call again, from Meta's usage headers.

    X-Business-Use-Case-Usage: {"<id>": [{"type": "pages", "call_count": 100, ...,
    "estimated_time_to_regain_access": <minutes>}]}; X-App-Usage has the same key on
    some versions. Without any hint: DEFAULT_RATE_LIMIT_WAIT.
    """
    now = now or datetime.now(UTC)
    minutes: list[float] = []
    for name in ("X-Business-Use-Case-Usage", "X-App-Usage", "X-Page-Usage"):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        for usage in _usage_entries(data):
            value = usage.get("estimated_time_to_regain_access")
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                minutes.append(float(value))
    retry_after = headers.get("Retry-After", "")
    if retry_after.isdigit():
        minutes.append(int(retry_after) / 60)
    if not minutes:
        return now + DEFAULT_RATE_LIMIT_WAIT
    return now + timedelta(minutes=max(minutes))


def _usage_entries(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, dict):
        if "call_count" in data or "estimated_time_to_regain_access" in data:
            yield data
            return
        for value in data.values():
            yield from _usage_entries(value)
    elif isinstance(data, list):
        for item in data:
            yield from _usage_entries(item)


# ---------------------------------------------------------------------------
# Connectors


class _MetaConnector:
    can_reply = True
    can_hide = True
    kind = ""

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

    def parse_webhook(
        self, channel: ChannelConfig, payload: dict[str, Any]
    ) -> list[IncomingMessage]:
        return parse_webhook(channel, payload)


class FacebookConnector(_MetaConnector):
    kind = "facebook"
    can_reply_privately = True
    max_length = 8000

    def fetch(self, channel: ChannelConfig, cursor: dict[str, Any]) -> FetchResult:
        page_id = self._setting(channel, "page_id")
        client = self.client(channel)
        max_posts, max_pages = self._bounds(channel)
        last_seen_raw = (cursor.get("last_seen") or {}).get(page_id)
        last_seen = _parse_time(last_seen_raw) if last_seen_raw else None
        posts = client.get(
            f"{page_id}/posts",
            {"fields": "id,updated_time,permalink_url", "limit": max_posts},
        )
        messages: list[IncomingMessage] = []
        newest = last_seen
        for post in (posts.get("data") or [])[:max_posts]:
            # A post's updated_time moves with every new comment: skip the quiet ones.
            if last_seen and _post_is_quiet(post, last_seen):
                continue
            first = client.get(
                f"{post['id']}/comments",
                {
                    "filter": "stream",  # top-level comments and replies, flat
                    "order": "reverse_chronological",
                    "fields": COMMENT_FIELDS,
                    "limit": 100,
                },
            )
            for comment in self._pages(client, first, max_pages):
                try:
                    created = _parse_time(comment.get("created_time"))
                    if last_seen and created < last_seen:
                        break  # newest first: everything after this was seen already
                    message = _facebook_message(
                        channel,
                        page_id=page_id,
                        comment_id=str(comment["id"]),
                        parent_id=str((comment.get("parent") or {}).get("id") or ""),
                        text=comment.get("message") or "",
                        created_at=created,
                        author=comment.get("from") or {},
                        url=comment.get("permalink_url") or "",
                        raw={"source": "poll", "post_id": post["id"], **comment},
                    )
                except MALFORMED as exc:
                    logger.warning("Skipping malformed comment on channel %s: %s", channel.id, exc)
                    continue
                messages.append(message)
                newest = max(newest, created) if newest else created
        new_cursor = dict(cursor)
        if newest:
            new_cursor["last_seen"] = {
                **(cursor.get("last_seen") or {}),
                page_id: newest.isoformat(),
            }
        return FetchResult(messages=messages, cursor=new_cursor)

    def send_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        client = self.client(channel)
        if target.private:
            # Private reply: one Messenger message to the commenter, once per comment.
            page_id = self._setting(channel, "page_id")
            result = client.post(
                f"{page_id}/messages",
                json_body={
                    "recipient": {"comment_id": target.in_reply_to_external_id},
                    "message": {"text": text},
                    "messaging_type": "RESPONSE",
                },
            )
            return str(result.get("message_id") or "")
        result = client.post(f"{target.in_reply_to_external_id}/comments", data={"message": text})
        return str(result["id"])

    def find_existing_reply(
        self, channel: ChannelConfig, target: ReplyTarget, text: str
    ) -> str | None:
        """Our page's reply with this text under the comment, if an earlier attempt posted it.

        Private replies cannot be listed, but Meta accepts only one per comment: a
        repeated attempt fails with code 10900 instead of sending twice.
        """
        if target.private:
            return None
        page_id = self._setting(channel, "page_id")
        client = self.client(channel)
        first = client.get(
            f"{target.in_reply_to_external_id}/comments",
            {
                "fields": "id,message,from{id}",
                "filter": "stream",
                "order": "reverse_chronological",
                "limit": 100,
            },
        )
        wanted = _normalise(text)
        for comment in self._pages(client, first, 3):
            if (
                str((comment.get("from") or {}).get("id")) == page_id
                and _normalise(comment.get("message") or "") == wanted
            ):
                return str(comment["id"])
        return None

    def hide(self, channel: ChannelConfig, external_id: str, hidden: bool) -> None:
        self.client(channel).post(external_id, data={"is_hidden": "true" if hidden else "false"})


class InstagramConnector(_MetaConnector):
    kind = "instagram"
    # Instagram private replies go through a separate Messenger setup we do not have yet.
    can_reply_privately = False
    max_length = 2200

    def fetch(self, channel: ChannelConfig, cursor: dict[str, Any]) -> FetchResult:
        account_id = self._setting(channel, "ig_user_id")
        client = self.client(channel)
        max_media, max_pages = self._bounds(channel)
        last_seen_raw = (cursor.get("last_seen") or {}).get(account_id)
        last_seen = _parse_time(last_seen_raw) if last_seen_raw else None
        media_list = client.get(
            f"{account_id}/media",
            {"fields": "id,timestamp,permalink,comments_count", "limit": max_media},
        )
        messages: list[IncomingMessage] = []
        newest = last_seen
        for media in (media_list.get("data") or [])[:max_media]:
            if media.get("comments_count") == 0:
                continue
            first = client.get(
                f"{media['id']}/comments",
                {
                    "fields": f"{IG_COMMENT_FIELDS},replies{{{IG_COMMENT_FIELDS}}}",
                    "limit": 50,
                },
            )
            for top in self._pages(client, first, max_pages):
                replies = (top.get("replies") or {}).get("data") or []
                for comment in [top, *replies]:
                    try:
                        created = _parse_time(comment.get("timestamp"))
                        # Instagram gives no order guarantee: filter, do not stop early.
                        if last_seen and created < last_seen:
                            continue
                        if comment is not top and not comment.get("parent_id"):
                            comment = {**comment, "parent_id": top["id"]}
                        message = _instagram_message(
                            channel,
                            account_id=account_id,
                            comment=comment,
                            created_at=created,
                            media_id=str(media["id"]),
                            url=media.get("permalink") or "",
                            raw={
                                "source": "poll",
                                **{k: v for k, v in comment.items() if k != "replies"},
                            },
                        )
                    except MALFORMED as exc:
                        logger.warning(
                            "Skipping malformed IG comment on channel %s: %s", channel.id, exc
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

    def send_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        if target.private:
            raise ConnectorError("Private replies are not available on Instagram", transient=False)
        # Instagram only answers top-level comments; a reply to a reply joins the same thread.
        comment_id = target.thread_external_id or target.in_reply_to_external_id
        result = self.client(channel).post(f"{comment_id}/replies", data={"message": text})
        return str(result["id"])

    def find_existing_reply(
        self, channel: ChannelConfig, target: ReplyTarget, text: str
    ) -> str | None:
        account_id = str(channel.settings.get("ig_user_id") or "")
        own = {h.lstrip("@").lower() for h in channel.own_handles}
        comment_id = target.thread_external_id or target.in_reply_to_external_id
        client = self.client(channel)
        first = client.get(
            f"{comment_id}/replies", {"fields": "id,text,username,from", "limit": 50}
        )
        wanted = _normalise(text)
        for reply in self._pages(client, first, 3):
            author = reply.get("from") or {}
            username = str(author.get("username") or reply.get("username") or "").lower()
            ours = (account_id and str(author.get("id")) == account_id) or username in own
            if ours and _normalise(reply.get("text") or "") == wanted:
                return str(reply["id"])
        return None

    def hide(self, channel: ChannelConfig, external_id: str, hidden: bool) -> None:
        self.client(channel).post(external_id, data={"hide": "true" if hidden else "false"})
