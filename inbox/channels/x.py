"""X (Twitter) through tweepy's API v2 Client: mentions of our account plus recent search.

Credentials (ChannelConfig.credentials):
    bearer_token          app-only token, used for reading when present
    consumer_key, consumer_secret, access_token, access_token_secret
                          OAuth 1.0a user context of our account: needed to post and for DMs
    user_id               our account's numeric id (falls back to the access token's prefix)
Settings (ChannelConfig.settings), all optional:
    page_size (100), max_pages (5) per source and poll, timeout (15 s), search_query
    (overrides the query built from the channel keywords), dm_max_pages (max_pages) and
    dm_first_window_hours (24) for direct messages (read with user context only, see x_dm;
    "direct_messages": false leaves them out).

Cursor: {"mentions": {...}, "search": {...}, "dm": {...}}, one state per source (dm: see x_dm):
    {"since_id": "..."} once caught up, or, when a poll ran out of pages before reaching
    since_id, {"since_id": old, "next_token": t, "newest_id": n}: the next poll continues
    down from t and only then moves since_id to n, so a burst bigger than one poll's pages
    loses nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import tweepy

from inbox.channels import textutil, x_dm
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

EXPANSIONS = ["author_id", "referenced_tweets.id", "in_reply_to_user_id"]
TWEET_FIELDS = [
    "author_id",
    "conversation_id",
    "created_at",
    "entities",
    "in_reply_to_user_id",
    "lang",
    "note_tweet",
    "referenced_tweets",
]
USER_FIELDS = ["username", "name", "profile_image_url", "protected"]
# X snowflake ids carry their creation time: milliseconds since this epoch, shifted by 22 bits.
TWITTER_EPOCH_MS = 1288834974657


class _TimeoutSession(requests.Session):
    """tweepy calls session.request without a timeout; a hung socket must not hang a worker."""

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


@contextlib.contextmanager
def _mapped_errors(action: str) -> Iterator[None]:
    """Translate tweepy and requests exceptions into the connector errors the tasks understand."""
    try:
        yield
    except tweepy.TooManyRequests as exc:
        reset_at = datetime.fromtimestamp(exc.reset_time, tz=UTC) if exc.reset_time else None
        raise RateLimited(f"X rate limit during {action}", reset_at=reset_at) from exc
    except (tweepy.Unauthorized, tweepy.Forbidden) as exc:
        raise AuthFailed(
            f"X refused {action}: {exc}", status_code=exc.response.status_code
        ) from exc
    except tweepy.TwitterServerError as exc:
        raise ConnectorError(
            f"X server error during {action}: {exc}", status_code=exc.response.status_code
        ) from exc
    except tweepy.HTTPException as exc:
        # 400/404 and friends: retrying the same request will not help.
        raise ConnectorError(
            f"X rejected {action}: {exc}", transient=False, status_code=exc.response.status_code
        ) from exc
    except requests.RequestException as exc:
        # Connection errors, timeouts and a body that is not JSON (requests.JSONDecodeError).
        raise ConnectorError(f"X unreachable or garbled during {action}: {exc}") from exc
    except ValueError as exc:
        raise ConnectorError(f"X sent malformed data during {action}: {exc}") from exc


@contextlib.contextmanager
def _refused_dm() -> Iterator[None]:
    """A person who does not accept our DMs is no fault of the channel: say so, do not retry."""
    try:
        yield
    except AuthFailed as exc:
        cause = exc.__cause__
        response = getattr(cause, "response", None)
        body = getattr(response, "text", "") or ""
        if exc.status_code == 403 and "send messages to this user" in body.lower():
            raise ConnectorError(
                "X does not let us send a direct message to this person (they do not accept"
                " messages from our account, or blocked it). Answer publicly or ask them to"
                " send us a direct message first.",
                transient=False,
                status_code=403,
            ) from cause
        raise


def _dm_participant(target: ReplyTarget) -> str:
    """The customer to DM: from a DM thread's key ("dm:<id>"), else the conversation's contact."""
    return x_dm.participant_of(target.thread_external_id) or target.author_id


def _id_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _newest(*ids: str | None) -> str | None:
    present = [i for i in ids if i]
    return max(present, key=_id_int) if present else None


def _parse_time(tweet: dict[str, Any]) -> datetime:
    value = tweet.get("created_at")
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is not None:
                return parsed.astimezone(UTC)
    # No usable created_at: the snowflake id knows when the tweet was made.
    return datetime.fromtimestamp(((_id_int(tweet["id"]) >> 22) + TWITTER_EPOCH_MS) / 1000, tz=UTC)


def _normalise_for_compare(text: str) -> str:
    """X prefixes reply text with @mentions and rewrites links to t.co; compare what is left."""
    text = textutil.unescape_x_text(text)
    text = textutil.URL_RE.sub("<url>", text)
    text = " ".join(text.split())
    while text.startswith("@"):
        head, _, rest = text.partition(" ")
        if not rest:
            break
        text = rest
    return text


class XConnector:
    can_reply = True
    can_reply_privately = True
    can_hide = False
    max_length = 280

    # --- clients -----------------------------------------------------------------------

    def _client(self, channel: ChannelConfig) -> tweepy.Client:
        creds = channel.credentials
        client = tweepy.Client(
            bearer_token=creds.get("bearer_token"),
            consumer_key=creds.get("consumer_key"),
            consumer_secret=creds.get("consumer_secret"),
            access_token=creds.get("access_token"),
            access_token_secret=creds.get("access_token_secret"),
            return_type=dict,  # keep the platform's JSON as-is for Message.raw
            # Never sleep inside a worker: a 429 becomes RateLimited and the poll is rescheduled.
            wait_on_rate_limit=False,
        )
        client.session = _TimeoutSession(float(channel.settings.get("timeout", 15)))
        return client

    @staticmethod
    def _has_user_context(channel: ChannelConfig) -> bool:
        creds = channel.credentials
        keys = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
        return all(creds.get(k) for k in keys)

    def _read_user_auth(self, channel: ChannelConfig) -> bool:
        # App-only bearer reads have their own (larger) rate limits; use them when we have one.
        if channel.credentials.get("bearer_token"):
            return False
        if self._has_user_context(channel):
            return True
        raise AuthFailed("X channel has neither a bearer token nor user-context credentials")

    def _write_user_auth(self, channel: ChannelConfig) -> bool:
        if not self._has_user_context(channel):
            raise AuthFailed("posting on X needs the account's user-context (OAuth 1.0a) keys")
        return True

    @staticmethod
    def own_user_id(channel: ChannelConfig) -> str:
        creds = channel.credentials
        user_id = str(creds.get("user_id") or channel.settings.get("user_id") or "")
        if not user_id and creds.get("access_token"):
            # OAuth 1.0a access tokens start with the account id: "12345-abcdef".
            user_id = str(creds["access_token"]).partition("-")[0]
        if not user_id.isdigit():
            raise AuthFailed("X channel has no user_id for our account")
        return user_id

    # --- fetch -------------------------------------------------------------------------

    def search_query(self, channel: ChannelConfig) -> str:
        if channel.settings.get("search_query"):
            return str(channel.settings["search_query"])
        terms = []
        for keyword in channel.keywords:
            keyword = keyword.strip().replace('"', "")
            if not keyword:
                continue
            terms.append(f'"{keyword}"' if " " in keyword else keyword)
        if not terms:
            return ""
        # Retweets repeat someone else's text: nothing to answer.
        return f"({' OR '.join(terms)}) -is:retweet"

    def fetch(self, channel: ChannelConfig, cursor: dict[str, Any]) -> FetchResult:
        client = self._client(channel)
        user_auth = self._read_user_auth(channel)
        own_id = self.own_user_id(channel)
        page_size = int(channel.settings.get("page_size", 100))
        max_pages = int(channel.settings.get("max_pages", 5))
        common = {
            "expansions": EXPANSIONS,
            "tweet_fields": TWEET_FIELDS,
            "user_fields": USER_FIELDS,
            "max_results": page_size,
            "user_auth": user_auth,
        }

        sources: dict[str, Callable[[str | None, str | None], dict[str, Any]]] = {
            "mentions": lambda since_id, token: client.get_users_mentions(
                own_id, since_id=since_id, pagination_token=token, **common
            ),
        }
        query = self.search_query(channel)
        if query:
            sources["search"] = lambda since_id, token: client.search_recent_tweets(
                query, since_id=since_id, next_token=token, **common
            )

        messages: dict[str, IncomingMessage] = {}
        new_cursor: dict[str, Any] = {}
        for source, call in sources.items():
            state = cursor.get(source) or {}
            pages, new_cursor[source] = self._read_source(source, call, state, max_pages)
            for page in pages:
                for message in self._normalise_page(page, channel, own_id):
                    # A tweet that mentions us and matches a keyword arrives twice.
                    messages.setdefault(message.external_id, message)
        dm_state, dms = self._read_dms(client, channel, cursor.get("dm") or {}, own_id)
        if dm_state:
            new_cursor["dm"] = dm_state
        for message in dms:
            messages.setdefault(message.external_id, message)
        ordered = sorted(messages.values(), key=lambda m: _id_int(m.external_id))
        return FetchResult(messages=ordered, cursor=new_cursor)

    def _read_dms(
        self, client: tweepy.Client, channel: ChannelConfig, state: dict[str, Any], own_id: str
    ) -> tuple[dict[str, Any], list[IncomingMessage]]:
        """The DM source's new state and its new messages."""
        kept = {k: v for k, v in state.items() if k in ("last_id", "next_token", "newest_id")}
        groups = int(state.get("group_skipped") or 0)
        if not channel.settings.get("direct_messages", True):
            return {}, []  # switched off in the channel's settings
        if not self._has_user_context(channel):
            # DMs are private to the account: an app-only bearer token cannot read them.
            return {**kept, "off": x_dm.OFF_NO_USER_CONTEXT}, []
        settings = channel.settings

        def call(token: str | None) -> Any:
            with _mapped_errors("direct message poll"):
                return client.get_direct_message_events(
                    dm_event_fields=x_dm.DM_EVENT_FIELDS,
                    expansions=x_dm.DM_EXPANSIONS,
                    media_fields=x_dm.DM_MEDIA_FIELDS,
                    user_fields=USER_FIELDS,
                    max_results=int(settings.get("page_size", 100)),
                    pagination_token=token,
                    user_auth=True,
                )

        try:
            read = x_dm.read_events(
                call,
                kept,
                max_pages=int(settings.get("dm_max_pages", settings.get("max_pages", 5))),
                first_window=timedelta(hours=float(settings.get("dm_first_window_hours", 24))),
                now=datetime.now(UTC),
            )
        except AuthFailed as exc:
            if exc.status_code != 403:
                raise  # 401: the user tokens are expired or revoked; posting is broken too
            # The app lacks the Direct Messages permission: mentions keep flowing, DMs are off
            # (retried each poll, so granting the permission is enough) and the health row says so.
            return {**kept, "off": x_dm.OFF_FORBIDDEN, "error": str(exc)[:500]}, []
        parsed = x_dm.parse_pages(read.pages, own_id, read.floor)
        groups += parsed.group_skipped
        return {**read.state, **({"group_skipped": groups} if groups else {})}, parsed.messages

    def _read_source(
        self,
        source: str,
        call: Callable[[str | None, str | None], dict[str, Any]],
        state: dict[str, Any],
        max_pages: int,
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        since_id = state.get("since_id")
        token = state.get("next_token")
        newest = state.get("newest_id") if token else None
        pages: list[dict[str, Any]] = []
        for _ in range(max_pages):
            with _mapped_errors(f"{source} poll"):
                page = call(since_id, token)
            if not isinstance(page, dict):
                raise ConnectorError(f"X {source} answered with {type(page).__name__}, not JSON")
            pages.append(page)
            meta = page.get("meta") or {}
            newest = _newest(newest, meta.get("newest_id"))
            token = meta.get("next_token")
            if not token:
                break
        if token and since_id:
            # Out of pages before reaching since_id: continue from here next poll.
            return pages, {"since_id": since_id, "next_token": token, "newest_id": newest}
        # Caught up (or the very first poll, which does not dig into history: backfill does).
        return pages, {"since_id": _newest(since_id, newest)} if (since_id or newest) else {}

    def _normalise_page(
        self, page: dict[str, Any], channel: ChannelConfig, own_id: str
    ) -> Iterator[IncomingMessage]:
        # Every level is checked: a malformed page skips what it cannot read, never the poll.
        includes = page.get("includes")
        listed = includes.get("users") if isinstance(includes, dict) else None
        users = (
            {str(u.get("id")): u for u in listed or [] if isinstance(u, dict) and u.get("id")}
            if isinstance(listed, list)
            else {}
        )
        own_handles = {h.lower().lstrip("@") for h in channel.own_handles}
        data = page.get("data")
        for tweet in data if isinstance(data, list) else []:
            try:
                message = self._normalise(tweet, users, own_id, own_handles)
            except (KeyError, TypeError, ValueError, AttributeError, OverflowError, OSError):
                logger.warning("X: skipping malformed tweet %r", tweet, exc_info=True)
                continue
            if message is not None:
                yield message

    def _normalise(
        self,
        tweet: dict[str, Any],
        users: dict[str, dict[str, Any]],
        own_id: str,
        own_handles: set[str],
    ) -> IncomingMessage | None:
        tweet_id = str(tweet["id"])
        author_id = str(tweet.get("author_id") or "")
        if not tweet_id.isdigit() or not author_id:
            logger.warning("X: tweet without id or author skipped: %r", tweet)
            return None
        # Deleted, suspended or protected authors are absent from includes.users.
        user = users.get(author_id) or {}
        handle = str(user.get("username") or "")
        note = tweet.get("note_tweet") or {}
        text = note.get("text") if isinstance(note, dict) and note.get("text") else tweet["text"]
        if not isinstance(text, str):
            raise ValueError("tweet text is not a string")
        parent = next(
            (
                str(ref["id"])
                for ref in tweet.get("referenced_tweets") or []
                if ref.get("type") == "replied_to" and ref.get("id")
            ),
            "",
        )
        return IncomingMessage(
            external_id=tweet_id,
            text=textutil.unescape_x_text(str(text)),
            created_at=_parse_time(tweet),
            author_id=author_id,
            author_handle=handle,
            author_name=str(user.get("name") or ""),
            author_avatar_url=str(user.get("profile_image_url") or ""),
            author_profile_url=f"https://x.com/{handle}" if handle else "",
            parent_external_id=parent,
            conversation_external_id=str(tweet.get("conversation_id") or parent or tweet_id),
            # /i/web/status/<id> resolves without knowing the author's handle.
            url=f"https://x.com/{handle or 'i/web'}/status/{tweet_id}",
            is_public=True,
            is_own=author_id == own_id or (bool(handle) and handle.lower() in own_handles),
            raw={"data": tweet, "includes": {"users": [user]} if user else {}},
        )

    # --- replies -----------------------------------------------------------------------

    def send_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        client = self._client(channel)
        user_auth = self._write_user_auth(channel)
        if target.private:
            participant = _dm_participant(target)
            if not participant:
                raise ConnectorError("a direct message needs the author's id", transient=False)
            with _refused_dm(), _mapped_errors("direct message"):
                response = client.create_direct_message(
                    participant_id=participant, text=text, user_auth=user_auth
                )
            return self._id_from(response, "dm_event_id")
        with _mapped_errors("reply"):
            response = client.create_tweet(
                text=text, in_reply_to_tweet_id=target.in_reply_to_external_id, user_auth=user_auth
            )
        return self._id_from(response, "id")

    @staticmethod
    def _id_from(response: Any, key: str) -> str:
        try:
            return str(response["data"][key])
        except (KeyError, TypeError) as exc:
            # The post may exist: the outbox treats this as an unknown outcome.
            raise ConnectorError(f"X answered without data.{key}: {response!r}") from exc

    def find_existing_reply(
        self, channel: ChannelConfig, target: ReplyTarget, text: str
    ) -> str | None:
        client = self._client(channel)
        own_id = self.own_user_id(channel)
        wanted = _normalise_for_compare(text)
        if target.private:
            with _mapped_errors("direct message lookup"):
                response = client.get_direct_message_events(
                    participant_id=_dm_participant(target),
                    dm_event_fields=["id", "text", "sender_id", "created_at", "event_type"],
                    event_types="MessageCreate",
                    max_results=50,
                    user_auth=self._write_user_auth(channel),
                )
            for event in (response or {}).get("data") or []:
                if str(event.get("sender_id")) == own_id and (
                    _normalise_for_compare(str(event.get("text", ""))) == wanted
                ):
                    return str(event["id"])
            return None
        with _mapped_errors("reply lookup"):
            response = client.get_users_tweets(
                own_id,
                max_results=100,
                exclude=["retweets"],
                tweet_fields=["referenced_tweets", "created_at", "note_tweet", "conversation_id"],
                user_auth=self._read_user_auth(channel),
            )
        for tweet in (response or {}).get("data") or []:
            replied_to = {
                str(ref.get("id"))
                for ref in tweet.get("referenced_tweets") or []
                if ref.get("type") == "replied_to"
            }
            if target.in_reply_to_external_id not in replied_to:
                continue
            note = tweet.get("note_tweet") or {}
            body = note.get("text") or tweet.get("text") or ""
            if _normalise_for_compare(str(body)) == wanted:
                return str(tweet["id"])
        return None

    def hide(self, channel: ChannelConfig, external_id: str, hidden: bool) -> None:
        raise ConnectorError("hiding is not supported on this X channel", transient=False)
