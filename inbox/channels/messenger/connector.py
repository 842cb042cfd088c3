"""Sending Messenger and Instagram Direct messages through Meta's Send API.

POST /{page-id}/messages with ``recipient.id`` (the customer's PSID or IGSID) and
``message.text``. The message type follows the messaging window (inbox/lib/messaging_window.py):
``messaging_type: RESPONSE`` within 24 hours of the customer's last message, ``MESSAGE_TAG`` with
``tag: HUMAN_AGENT`` up to 7 days when the channel has the Human Agent permission, else nothing
goes out (WindowClosed, before any call). The outbox gives the customer's last message time in
``target.extra["customer_wrote_at"]``.

Exactly once: on Messenger every send carries ``message.metadata`` = "reply:<id>:<part>", which
the echo of the message repeats, so an echo settles an unknown outcome as a WhatsApp status
callback does. ``find_existing_reply`` reads the customer's conversation (Conversations API) and
looks for our text sent since the unknown attempt began.

Channel settings: Messenger ``page_id``; Instagram Direct ``ig_user_id`` (and ``page_id``, the
linked Page the Facebook-login API sends through; without it the IG user id is used);
``human_agent`` (true only when Meta granted the app the Human Agent permission).
Credentials: ``access_token`` (a Page access token), ``app_secret``, ``verify_token``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from inbox.channels.base import ChannelConfig, ConnectorError, FetchResult, RateLimited, ReplyTarget
from inbox.channels.messenger.webhook import Platform, platform_of
from inbox.channels.meta.connector import normalise
from inbox.channels.meta.graph import (
    MALFORMED,
    GraphClient,
    parse_time,
    raise_for_graph_error,
    rate_limit_reset,
)
from inbox.channels.whatsapp.connector import HEALTH_CHECK_EVERY, WindowClosed
from inbox.channels.whatsapp.webhook import as_dict, callback_data
from inbox.lib.messaging_window import window_state

# Send API error codes (Messenger Platform "Error codes" reference).
OUTSIDE_WINDOW = (10, 2018278)  # (code, subcode): "Message sent outside of allowed window"
UNAVAILABLE = 551  # "This person isn't available right now"
RATE_LIMIT_CODES = frozenset({613, 80006})  # calls per page, Messenger's own rate limit
ATTACHMENT_SUBCODES = frozenset({2018047, 2018294})  # upload failure, attachment too large
# How far before the unknown attempt began a found message may be dated (clocks differ).
CLOCK_SKEW = timedelta(minutes=2)


def raise_for_send_error(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = as_dict(body.get("error") if isinstance(body, dict) else None)
    code, subcode = error.get("code"), error.get("error_subcode")
    if not isinstance(subcode, int) or isinstance(subcode, bool):
        subcode = None  # a subcode that is no number matches no rule
    if isinstance(code, int) and not isinstance(code, bool):
        message = f"Meta Send API error {code}/{subcode}: {error.get('message') or ''}".strip()
        if (code, subcode) == OUTSIDE_WINDOW:
            raise WindowClosed(f"{message} (the customer's messaging window is closed)")
        if code == UNAVAILABLE:
            raise ConnectorError(
                f"{message} (the customer blocked the account or can no longer be messaged)",
                transient=False,
                status_code=response.status_code,
            )
        if code in RATE_LIMIT_CODES:
            raise RateLimited(message, reset_at=rate_limit_reset(response.headers))
        if subcode in ATTACHMENT_SUBCODES:
            raise ConnectorError(
                f"{message} (the attachment is too large or of a type Meta does not take)",
                transient=False,
                status_code=response.status_code,
            )
    # Tokens (190), permissions (10, 200-299), app rate limits (4) and the rest: as all of Meta.
    return raise_for_graph_error(response)


class SendClient(GraphClient):
    raise_for_error = staticmethod(raise_for_send_error)


class MessengerConnector:
    kind = "messenger"
    can_reply = True
    # Every message is private: a reply is always a private message.
    can_reply_privately = True
    can_hide = False
    max_length = 2000  # characters of a text message (Platform.max_length)

    def __init__(self, session: Any = None):
        self._session = session

    @property
    def platform(self) -> Platform:
        return platform_of(self.kind)

    def client(self, channel: ChannelConfig) -> SendClient:
        return SendClient(
            str(channel.credentials.get("access_token") or ""),
            str(channel.credentials.get("app_secret") or ""),
            self._session,
        )

    def _own_id(self, channel: ChannelConfig) -> str:
        setting = self.platform.account_setting
        value = str(channel.settings.get(setting) or "")
        if not value:
            raise ConnectorError(f"Channel setting {setting!r} is missing", transient=False)
        return value

    def _api_account(self, channel: ChannelConfig) -> str:
        """Where the Send and Conversations APIs are called: the Page (for Instagram the
        linked Page, when set)."""
        return str(channel.settings.get("page_id") or "") or self._own_id(channel)

    def fetch(self, channel: ChannelConfig, cursor: dict[str, Any]) -> FetchResult:
        """Messages come by webhook only; the poll is the channel's health check instead: every
        HEALTH_CHECK_EVERY it reads the account, so an expired token, a revoked permission or a
        rate limit shows in Settings -> Channels before a reply fails on it."""
        checked = cursor.get("checked_at")
        now = datetime.now(UTC)
        if checked and now - datetime.fromisoformat(checked) < HEALTH_CHECK_EVERY:
            return FetchResult(messages=[], cursor=dict(cursor))
        field = "name" if self.platform.account_setting == "page_id" else "username"
        info = self.client(channel).get(self._own_id(channel), {"fields": field})
        return FetchResult(
            messages=[],
            cursor={**cursor, "checked_at": now.isoformat(), "account": str(info.get(field) or "")},
        )

    def message_type(self, channel: ChannelConfig, target: ReplyTarget) -> dict[str, str]:
        """RESPONSE or the HUMAN_AGENT tag, as the window allows now; WindowClosed otherwise."""
        wrote = target.extra.get("customer_wrote_at")
        state = window_state(
            self.kind,
            datetime.fromisoformat(wrote) if wrote else None,
            datetime.now(UTC),
            human_agent=channel.settings.get("human_agent") is True,
        )
        if not state.open:
            raise WindowClosed(
                f"The {self.platform.label} messaging window is closed: the customer has not "
                "written within the time Meta allows a reply"
            )
        if state.tag:
            return {"messaging_type": "MESSAGE_TAG", "tag": state.tag}
        return {"messaging_type": "RESPONSE"}

    def send_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        if not target.author_id:
            raise ConnectorError("The customer's messaging id is unknown", transient=False)
        message: dict[str, Any] = {"text": text}
        if self.platform.echoes_metadata and target.extra.get("reply_id") is not None:
            message["metadata"] = callback_data(
                int(target.extra["reply_id"]), int(target.extra.get("part_index") or 0)
            )
        body = {
            "recipient": {"id": target.author_id},
            "message": message,
            **self.message_type(channel, target),
        }
        result = self.client(channel).post(f"{self._api_account(channel)}/messages", json_body=body)
        mid = str(result.get("message_id") or "")
        if not mid:
            # Accepted (2xx) but no id: unknown, the echo or the conversation settles it.
            raise ConnectorError(f"{self.platform.label} accepted the message without its id")
        return mid

    def find_existing_reply(
        self, channel: ChannelConfig, target: ReplyTarget, text: str
    ) -> str | None:
        """Our message with this text in the customer's conversation, sent since the unknown
        attempt began (an older identical "Thank you" is not this reply)."""
        own = self._own_id(channel)
        since_raw = target.extra.get("unknown_since")
        since = datetime.fromisoformat(since_raw) - CLOCK_SKEW if since_raw else None
        found = self.client(channel).get(
            f"{self._api_account(channel)}/conversations",
            {
                "platform": self.platform.conversations_platform,
                "user_id": target.author_id,
                "fields": "messages.limit(25){id,message,from,created_time}",
            },
        )
        wanted = normalise(text)
        for conversation in found.get("data") or ():
            messages = as_dict(as_dict(conversation).get("messages")).get("data")
            for item in messages if isinstance(messages, list) else ():
                try:
                    if str(as_dict(item.get("from")).get("id")) != own:
                        continue
                    if normalise(str(item.get("message") or "")) != wanted:
                        continue
                    if since and parse_time(item.get("created_time")) < since:
                        continue
                    return str(item["id"])
                except MALFORMED:
                    continue
        return None

    def hide(self, channel: ChannelConfig, external_id: str, hidden: bool) -> None:
        raise ConnectorError(f"{self.platform.label} messages cannot be hidden", transient=False)


class InstagramDirectConnector(MessengerConnector):
    kind = "instagram_direct"
    max_length = 1000
