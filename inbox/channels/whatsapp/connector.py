"""Sending on WhatsApp: free text inside the customer-service window, a template outside it.

POST /{phone-number-id}/messages with ``messaging_product: whatsapp``; the answer holds the
new message's wamid. Every send carries ``biz_opaque_callback_data`` = "reply:<id>:<part>",
which Meta echoes in the message's status callbacks: that is how a callback finds its reply,
and how a send whose outcome is unknown (the worker died after the call) is settled.

WhatsApp cannot list the messages we sent, so ``find_existing_reply`` has nothing to ask:
until the earlier attempt's status callback arrives it answers "not known yet" (the outbox
keeps the reply unknown and asks again later); only when no callback came within
``status_grace_minutes`` (Meta reports "sent" within seconds of accepting a message) does it
conclude the message was never accepted, and the outbox sends it.

Channel settings: ``phone_number_id``; ``templates`` (approved templates: name, language,
parameters, optional body preview); optional ``status_grace_minutes`` (default 30).
Credentials: ``access_token`` (a system user token), ``app_secret`` (webhook signatures and
appsecret_proof), ``verify_token`` (the webhook handshake).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from inbox.channels.base import (
    ChannelConfig,
    ConnectorError,
    FetchResult,
    RateLimited,
    ReplyTarget,
)
from inbox.channels.meta.graph import GraphClient, raise_for_graph_error, rate_limit_reset
from inbox.channels.whatsapp.webhook import as_dict, callback_data

# WhatsApp's own error codes (Cloud API "error codes" reference).
WINDOW_CLOSED = 131047  # re-engagement message: more than 24 h since the customer wrote
RATE_LIMIT_CODES = frozenset({80007, 130429, 131056})  # WABA, throughput, pair rate limits
MEDIA_CODES = frozenset({131052, 131053})  # media download / upload error (too large, bad type)
DEFAULT_GRACE_MINUTES = 30
WINDOW = timedelta(hours=24)
HEALTH_CHECK_EVERY = timedelta(minutes=10)


class WindowClosed(ConnectorError):
    def __init__(self, message: str):
        super().__init__(message, transient=False, status_code=400)


def raise_for_whatsapp_error(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(error, dict) and isinstance(code, int) and not isinstance(code, bool):
        data = as_dict(error.get("error_data"))
        details = data.get("details") or error.get("message") or ""
        message = f"WhatsApp error {code}: {details}"
        if code == WINDOW_CLOSED:
            raise WindowClosed(
                f"{message} (the 24-hour window is closed: only a template message can be sent)"
            )
        if code in RATE_LIMIT_CODES:
            raise RateLimited(message, reset_at=rate_limit_reset(response.headers))
        if code in MEDIA_CODES:
            raise ConnectorError(message, transient=False, status_code=response.status_code)
    # Tokens (190), permissions (10, 200-299), app rate limits (4) and the rest: as all of Meta.
    return raise_for_graph_error(response)


class WhatsAppClient(GraphClient):
    raise_for_error = staticmethod(raise_for_whatsapp_error)


class WhatsAppConnector:
    kind = "whatsapp"
    can_reply = True
    # Every WhatsApp message is private: a reply is always a private message.
    can_reply_privately = True
    can_hide = False
    max_length = 4096  # characters of a text message body

    def __init__(self, session: Any = None):
        self._session = session

    def client(self, channel: ChannelConfig) -> WhatsAppClient:
        return WhatsAppClient(
            str(channel.credentials.get("access_token") or ""),
            str(channel.credentials.get("app_secret") or ""),
            self._session,
        )

    def fetch(self, channel: ChannelConfig, cursor: dict[str, Any]) -> FetchResult:
        """Messages come by webhook only; the poll is the channel's health check instead.

        Every HEALTH_CHECK_EVERY it reads the phone number from the Graph API, so an expired
        token, a revoked permission or a rate limit shows in Settings -> Channels (and alerts
        the admins) before a reply fails on it. The number's quality rating is kept.
        """
        checked = cursor.get("checked_at")
        now = datetime.now(UTC)
        if checked and now - datetime.fromisoformat(checked) < HEALTH_CHECK_EVERY:
            return FetchResult(messages=[], cursor=dict(cursor))
        number = str(channel.settings.get("phone_number_id") or "")
        if not number:
            raise ConnectorError("Channel setting 'phone_number_id' is missing", transient=False)
        info = self.client(channel).get(
            number, {"fields": "display_phone_number,verified_name,quality_rating"}
        )
        health = {k: str(info.get(k) or "") for k in ("display_phone_number", "quality_rating")}
        return FetchResult(messages=[], cursor={**cursor, "checked_at": now.isoformat(), **health})

    def send_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        number = str(channel.settings.get("phone_number_id") or "")
        if not number:
            raise ConnectorError("Channel setting 'phone_number_id' is missing", transient=False)
        if not target.author_id:
            raise ConnectorError("The customer's WhatsApp number is unknown", transient=False)
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": target.author_id,
        }
        template = target.extra.get("template")
        if template:
            body["type"] = "template"
            body["template"] = template_payload(template)
        else:
            body["type"] = "text"
            body["text"] = {"body": text, "preview_url": False}
        if target.extra.get("reply_id") is not None:
            body["biz_opaque_callback_data"] = callback_data(
                int(target.extra["reply_id"]), int(target.extra.get("part_index") or 0)
            )
        result = self.client(channel).post(f"{number}/messages", json_body=body)
        messages = result.get("messages")
        if not (isinstance(messages, list) and messages and isinstance(messages[0], dict)):
            # Accepted (2xx) but no id to show for it: treat as unknown, the callback settles it.
            raise ConnectorError("WhatsApp accepted the message without returning its id")
        return str(messages[0].get("id") or "")

    def find_existing_reply(
        self, channel: ChannelConfig, target: ReplyTarget, text: str
    ) -> str | None:
        """No API lists sent messages: wait for the status callback, then conclude "not sent"."""
        since = target.extra.get("unknown_since")
        grace = timedelta(
            minutes=float(channel.settings.get("status_grace_minutes", DEFAULT_GRACE_MINUTES))
        )
        if since and datetime.now(UTC) - datetime.fromisoformat(since) < grace:
            raise ConnectorError(
                "WhatsApp cannot list sent messages: waiting for the earlier attempt's status callback"
            )
        return None

    def hide(self, channel: ChannelConfig, external_id: str, hidden: bool) -> None:
        raise ConnectorError("WhatsApp messages cannot be hidden", transient=False)


def template_payload(template: dict[str, Any]) -> dict[str, Any]:
    """The Cloud API's template object: name, language, the body's text parameters in order."""
    payload: dict[str, Any] = {
        "name": str(template["name"]),
        "language": {"code": str(template.get("language") or "nl")},
    }
    parameters = [str(p) for p in template.get("parameters") or ()]
    if parameters:
        payload["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}
        ]
    return payload
