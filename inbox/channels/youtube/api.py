"""The YouTube Data API v3 over HTTP: one place that sends the channel owner's OAuth token,
renews it with the refresh token when Google says it expired, and turns Google's error bodies
({"error": {"code", "message", "errors": [{"reason", "domain"}]}}) into the connector errors
the poller and the outbox understand."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

from inbox.channels.base import AuthFailed, ConnectorError, RateLimited
from inbox.channels.meta.graph import TIMEOUT

API_URL = "https://www.googleapis.com/youtube/v3"
TOKEN_URL = "https://oauth2.googleapis.com/token"
# The daily quota of a Google Cloud project resets at midnight Pacific time.
QUOTA_ZONE = ZoneInfo("America/Los_Angeles")
# Per-minute limits ("too many requests too quickly") pass quickly.
SHORT_RATE_LIMIT_WAIT = timedelta(minutes=1)

QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
SHORT_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
AUTH_REASONS = frozenset(
    {"authError", "invalidCredentials", "insufficientPermissions", "forbidden"}
)
TRANSIENT_REASONS = frozenset({"backendError", "internalError"})


def parse_time(value: Any) -> datetime:
    """RFC 3339 as Google writes it: "2025-03-14T09:26:53Z" (sometimes with fractions)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"missing or invalid time {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"time without a zone: {value!r}")
    return parsed.astimezone(UTC)


def next_quota_reset(now: datetime | None = None) -> datetime:
    """The next midnight in America/Los_Angeles (daylight saving included), in UTC."""
    local = (now or datetime.now(UTC)).astimezone(QUOTA_ZONE)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=QUOTA_ZONE)
    return midnight.astimezone(UTC)


def _retry_after(headers: Mapping[str, str]) -> timedelta:
    """Retry-After in seconds (ASCII digits only, at most a day), else the short default."""
    value = headers.get("Retry-After", "")
    if value.isascii() and value.isdigit():
        return timedelta(seconds=min(int(value), 86_400)) or SHORT_RATE_LIMIT_WAIT
    return SHORT_RATE_LIMIT_WAIT


def _reasons(error: Mapping[str, Any]) -> list[str]:
    errors = error.get("errors")
    if not isinstance(errors, list):
        return []
    return [str(e.get("reason")) for e in errors if isinstance(e, dict) and e.get("reason")]


def raise_for_youtube_error(response: requests.Response) -> dict[str, Any]:
    """The JSON body of a successful answer ({} for 204 No Content), else the matching error."""
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if response.ok and isinstance(body, dict) and not error:
        return body
    status = response.status_code
    if not isinstance(error, dict):
        if response.ok or status >= 500:
            raise ConnectorError(
                f"YouTube API answered {status} without a JSON body", status_code=status
            )
        error = {}
    reasons = set(_reasons(error))
    text = error.get("message") if isinstance(error.get("message"), str) else ""
    message = f"YouTube API error {status} ({', '.join(sorted(reasons)) or '-'}): {text or status}"
    if reasons & QUOTA_REASONS:
        raise RateLimited(
            f"{message} (the daily quota resets at midnight Pacific time)",
            reset_at=next_quota_reset(),
        )
    if reasons & SHORT_RATE_REASONS or status == 429:
        raise RateLimited(message, reset_at=datetime.now(UTC) + _retry_after(response.headers))
    if status == 401 or reasons & AUTH_REASONS:
        raise AuthFailed(
            f"{message} (the channel owner must sign in again or grant the youtube.force-ssl scope)",
            status_code=status,
        )
    if status >= 500 or reasons & TRANSIENT_REASONS:
        raise ConnectorError(message, transient=True, status_code=status)
    # commentsDisabled, commentNotFound, processingFailure, a text YouTube refuses and the
    # rest will not get better by retrying.
    raise ConnectorError(message, transient=False, status_code=status)


class YouTubeClient:
    """Bearer-token calls; on a 401 it renews the access token once, if it may, and retries.

    A renewed token lives as long as this client (connectors never write the channel's
    credentials): a later poll renews again, which costs no YouTube quota.
    """

    def __init__(self, credentials: Mapping[str, Any], session: Any = None):
        self.access_token = str(credentials.get("access_token") or "")
        self.refresh = {
            key: str(credentials.get(key) or "")
            for key in ("refresh_token", "client_id", "client_secret")
        }
        self.session = session or requests.Session()
        if not self.access_token and not self.can_refresh:
            raise AuthFailed("No YouTube access token configured for this channel")

    @property
    def can_refresh(self) -> bool:
        return all(self.refresh.values())

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        return self._call("GET", path, params=params)

    def post(
        self, path: str, params: dict[str, Any], json_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self._call("POST", path, params=params, json=json_body)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if not self.access_token:
            self.renew()
        response = self._send(method, path, **kwargs)
        if response.status_code == 401 and self.can_refresh:
            self.renew()
            response = self._send(method, path, **kwargs)
        return raise_for_youtube_error(response)

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(
                method,
                f"{API_URL}/{path}",
                headers={"Authorization": f"Bearer {self.access_token}"},
                timeout=TIMEOUT,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise ConnectorError(f"YouTube API unreachable ({type(exc).__name__})") from None

    def renew(self) -> None:
        """A new access token from the refresh token (Google's OAuth 2.0 token endpoint)."""
        if not self.can_refresh:
            raise AuthFailed("The YouTube access token expired and no refresh token is configured")
        try:
            response = self.session.request(
                "POST",
                TOKEN_URL,
                data={"grant_type": "refresh_token", **self.refresh},
                timeout=TIMEOUT,
            )
        except requests.RequestException as exc:
            raise ConnectorError(
                f"Google token endpoint unreachable ({type(exc).__name__})"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if response.ok and isinstance(token, str) and token:
            self.access_token = token
            return
        if response.status_code >= 500:
            raise ConnectorError(
                f"Google token endpoint answered {response.status_code}",
                status_code=response.status_code,
            )
        reason = body.get("error") if isinstance(body, dict) else None
        # invalid_grant: the owner revoked our access or the refresh token expired.
        raise AuthFailed(
            f"Renewing the YouTube access token failed ({reason or response.status_code}): "
            "the channel owner must sign in again",
            status_code=response.status_code,
        )
