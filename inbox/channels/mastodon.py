"""Mastodon through Mastodon.py: mention notifications plus hashtag timelines and keyword search.

Credentials: access_token (of our account; scopes read + write:statuses).
Settings: base_url (the instance, e.g. "https://mastodon.nl"; also accepted in credentials as
api_base_url), account_id (ours; looked up with verify_credentials when absent),
mastodon_version ("4.3.0"; stops Mastodon.py from asking the server on every call),
page_size (40), max_pages (5), timeout (15 s), reply_visibility ("public").

Keywords that start with "#" follow that hashtag's timeline; other keywords use full-text
search (only works on instances with search enabled).

Cursor: {"mentions": <min_id>, "tag:<name>": <min_id>, "search:<keyword>": <min_id>}.
Mastodon answers min_id with the page *just above* it, so every page moves the cursor
forward safely and a bounded poll never skips anything: the next poll picks up from there.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import mastodon as mastodon_py
from mastodon import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

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


def _status_code(exc: MastodonAPIError) -> int | None:
    # Mastodon.py raises ("Mastodon API returned error", status, reason, message).
    return exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None


@contextlib.contextmanager
def _mapped_errors(api: mastodon_py.Mastodon, action: str) -> Iterator[None]:
    try:
        yield
    except MastodonRatelimitError as exc:
        # ratelimit_method="throw": Mastodon.py kept the X-RateLimit-Reset header (adjusted
        # for the server's clock) on the client instead of sleeping until then.
        reset = api.ratelimit_reset
        reset_at = datetime.fromtimestamp(reset, tz=UTC) if reset else None
        raise RateLimited(f"Mastodon rate limit during {action}", reset_at=reset_at) from exc
    except MastodonUnauthorizedError as exc:
        raise AuthFailed(f"Mastodon refused {action}: {exc}", status_code=401) from exc
    except MastodonServerError as exc:
        raise ConnectorError(
            f"Mastodon server error during {action}: {exc}", status_code=_status_code(exc)
        ) from exc
    except MastodonAPIError as exc:
        status = _status_code(exc)
        if status == 403:
            raise AuthFailed(f"Mastodon forbade {action}: {exc}", status_code=403) from exc
        if status is None:
            # No status means the body was not JSON: a proxy error page or a cut-off answer.
            raise ConnectorError(f"Mastodon sent malformed data during {action}: {exc}") from exc
        raise ConnectorError(
            f"Mastodon rejected {action}: {exc}", transient=False, status_code=status
        ) from exc
    except MastodonNetworkError as exc:
        raise ConnectorError(f"Mastodon unreachable during {action}: {exc}") from exc
    except MastodonError as exc:
        raise ConnectorError(
            f"Mastodon client error during {action}: {exc}", transient=False
        ) from exc


def _jsonable(value: Any) -> Any:
    """Mastodon.py's typed dicts back to plain JSON for Message.raw."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, str):
        return str(value)  # MaybeSnowflakeIdType is a str subclass
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


def _id_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _created_at(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _without_leading_mentions(text: str) -> str:
    words = text.split()
    while words and words[0].startswith("@"):
        words.pop(0)
    return " ".join(words)


class MastodonConnector:
    can_reply = True
    can_reply_privately = True  # visibility "direct"
    can_hide = False
    max_length = 500

    def _api(self, channel: ChannelConfig) -> mastodon_py.Mastodon:
        creds, settings = channel.credentials, channel.settings
        base_url = settings.get("base_url") or creds.get("api_base_url")
        if not base_url or not creds.get("access_token"):
            raise AuthFailed("Mastodon channel needs base_url and access_token")
        return mastodon_py.Mastodon(
            api_base_url=base_url,
            access_token=creds["access_token"],
            # Never sleep in a worker: a 429 becomes RateLimited and the poll is rescheduled.
            ratelimit_method="throw",
            request_timeout=float(settings.get("timeout", 15)),
            # A stated version keeps Mastodon.py from fetching /api/v1/instance to find out.
            mastodon_version=str(settings.get("mastodon_version", "4.3.0")),
            version_check_mode="created",
        )

    def _own_account_id(self, api: mastodon_py.Mastodon, channel: ChannelConfig) -> str:
        account_id = channel.settings.get("account_id") or channel.credentials.get("account_id")
        if account_id:
            return str(account_id)
        with _mapped_errors(api, "verify_credentials"):
            return str(api.account_verify_credentials()["id"])

    # --- fetch -------------------------------------------------------------------------

    def _sources(
        self, api: mastodon_py.Mastodon, channel: ChannelConfig, limit: int
    ) -> dict[str, Callable[[str | None], list[Any]]]:
        sources: dict[str, Callable[[str | None], list[Any]]] = {
            "mentions": lambda min_id: api.notifications(
                types=["mention"], min_id=min_id, limit=limit
            ),
        }
        for keyword in channel.keywords:
            keyword = keyword.strip()
            if keyword.startswith("#") and len(keyword) > 1:
                tag = keyword[1:]

                def tag_page(min_id: str | None, tag: str = tag) -> list[Any]:
                    return api.timeline_hashtag(tag, min_id=min_id, limit=limit)

                sources[f"tag:{tag.lower()}"] = tag_page
            elif keyword:

                def search_page(min_id: str | None, q: str = keyword) -> list[Any]:
                    return api.search_v2(
                        q, result_type="statuses", min_id=min_id, limit=limit, resolve=False
                    ).get("statuses", [])

                sources[f"search:{keyword.lower()}"] = search_page
        return sources

    def fetch(self, channel: ChannelConfig, cursor: dict[str, Any]) -> FetchResult:
        api = self._api(channel)
        own_id = self._own_account_id(api, channel)
        limit = int(channel.settings.get("page_size", 40))
        max_pages = int(channel.settings.get("max_pages", 5))
        own_handles = {h.lower().lstrip("@") for h in channel.own_handles}

        messages: dict[str, IncomingMessage] = {}
        new_cursor: dict[str, Any] = {}
        for source, call in self._sources(api, channel, limit).items():
            min_id = cursor.get(source)
            for _ in range(max_pages):
                with _mapped_errors(api, f"{source} poll"):
                    page = call(min_id)
                if not isinstance(page, list) or not page:
                    break
                for item in page:
                    status = item.get("status") if source == "mentions" else item
                    message = self._safe_normalise(status, own_id, own_handles)
                    if message is not None:
                        messages.setdefault(message.external_id, message)
                # Notifications and statuses both carry the id the next min_id must pass.
                min_id = max(
                    (str(i["id"]) for i in page if i.get("id")), key=_id_int, default=min_id
                )
                if len(page) < limit or cursor.get(source) is None:
                    # A short page means we are caught up; a first poll takes only the newest page.
                    break
            if min_id:
                new_cursor[source] = str(min_id)
        ordered = sorted(messages.values(), key=lambda m: (m.created_at, _id_int(m.external_id)))
        return FetchResult(messages=ordered, cursor=new_cursor)

    def _safe_normalise(
        self, status: Any, own_id: str, own_handles: set[str]
    ) -> IncomingMessage | None:
        if not isinstance(status, dict):
            return None  # a mention whose post was deleted meanwhile
        try:
            return self._normalise(status, own_id, own_handles)
        except (KeyError, TypeError, ValueError, AttributeError):
            logger.warning("Mastodon: skipping malformed status %r", status, exc_info=True)
            return None

    def _normalise(
        self, status: dict[str, Any], own_id: str, own_handles: set[str]
    ) -> IncomingMessage | None:
        if status.get("reblog"):
            return None  # a boost repeats someone else's post
        status_id = str(status["id"])
        account = status.get("account") or {}
        author_id = str(account.get("id") or "")
        created_at = _created_at(status.get("created_at"))
        if not status_id or not author_id or created_at is None:
            logger.warning("Mastodon: status without author or date skipped: %s", status_id)
            return None
        acct = str(account.get("acct") or "")
        text = textutil.html_to_text(str(status.get("content") or ""))
        if status.get("spoiler_text"):
            # The content warning is part of what the author said.
            text = f"{status['spoiler_text']}\n\n{text}"
        parent = str(status.get("in_reply_to_id") or "")
        # Mastodon's REST API has no thread id; Pleroma/Akkoma expose one. Replies thread
        # through their parent; a top-level post is its own thread.
        pleroma = status.get("pleroma") or {}
        conversation = str(pleroma.get("conversation_id") or "") or ("" if parent else status_id)
        return IncomingMessage(
            external_id=status_id,
            text=text,
            created_at=created_at,
            author_id=author_id,
            author_handle=acct,
            author_name=str(account.get("display_name") or account.get("username") or ""),
            author_avatar_url=str(account.get("avatar") or ""),
            author_profile_url=str(account.get("url") or ""),
            parent_external_id=parent,
            conversation_external_id=conversation,
            url=str(status.get("url") or status.get("uri") or ""),
            is_public=status.get("visibility") in ("public", "unlisted"),
            is_own=author_id == own_id or acct.lower() in own_handles,
            raw=_jsonable(status),
        )

    # --- replies -----------------------------------------------------------------------

    @staticmethod
    def _reply_text(target: ReplyTarget, text: str) -> str:
        # The author is only notified (and a direct post only delivered) when mentioned.
        handle = target.author_handle.lstrip("@")
        if handle and f"@{handle}".lower() not in text.lower():
            return f"@{handle} {text}"
        return text

    def send_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        api = self._api(channel)
        body = self._reply_text(target, text)
        visibility = (
            "direct" if target.private else channel.settings.get("reply_visibility", "public")
        )
        # Mastodon keeps Idempotency-Key for an hour: a retried POST returns the first post.
        key = hashlib.sha256(
            f"{channel.id}:{target.conversation_id}:{target.in_reply_to_external_id}:{body}".encode()
        ).hexdigest()
        with _mapped_errors(api, "reply"):
            status = api.status_post(
                body,
                in_reply_to_id=target.in_reply_to_external_id,
                visibility=visibility,
                idempotency_key=key,
            )
        try:
            return str(status["id"])
        except (KeyError, TypeError) as exc:
            raise ConnectorError(f"Mastodon answered without a status id: {status!r}") from exc

    def find_existing_reply(
        self, channel: ChannelConfig, target: ReplyTarget, text: str
    ) -> str | None:
        api = self._api(channel)
        own_id = self._own_account_id(api, channel)
        wanted = _without_leading_mentions(text)
        with _mapped_errors(api, "reply lookup"):
            statuses = api.account_statuses(own_id, limit=40, exclude_reblogs=True)
        for status in statuses or []:
            if str(status.get("in_reply_to_id") or "") != target.in_reply_to_external_id:
                continue
            posted = textutil.html_to_text(str(status.get("content") or ""))
            if _without_leading_mentions(posted) == wanted:
                return str(status["id"])
        return None

    def hide(self, channel: ChannelConfig, external_id: str, hidden: bool) -> None:
        raise ConnectorError("Mastodon has no hiding of other people's replies", transient=False)
