"""LinkedIn's versioned REST API over HTTP: one place for the headers every call needs, the
timeouts, and the mapping of LinkedIn's error bodies to the connector errors the poller and the
outbox understand.

LinkedIn answers errors as {"status": 401, "serviceErrorCode": 65601, "code":
"EXPIRED_ACCESS_TOKEN", "message": "..."}; validation errors of Rest.li 2.0 as {"status": 400,
"message": "...", "errorDetailType": "...", "errorDetails": {"inputErrors": [...]}}.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests

from inbox.channels.base import AuthFailed, ConnectorError, RateLimited
from inbox.channels.meta.graph import TIMEOUT

API_URL = "https://api.linkedin.com/rest"
# The Marketing version pinned when this connector was written; a channel may set its own
# ("api_version": "YYYYMM") when LinkedIn sunsets this one (each lives about a year).
DEFAULT_API_VERSION = "202511"
# Codes that mean a person must act on the token or the page role, not "try again".
AUTH_CODES = frozenset({"EXPIRED_ACCESS_TOKEN", "INVALID_ACCESS_TOKEN", "REVOKED_ACCESS_TOKEN"})


def urn_path(urn: str) -> str:
    """A URN as one path segment: Rest.li 2.0 wants ':', '(', ')' and ',' percent-encoded."""
    return quote(urn, safe="")


def next_midnight_utc(now: datetime | None = None) -> datetime:
    """LinkedIn's daily application and member throttles reset at midnight UTC."""
    now = now or datetime.now(UTC)
    return (
        (now + timedelta(days=1)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    )


def rate_limit_reset(headers: Any, now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    retry_after = str(headers.get("Retry-After") or "").strip()
    # isdecimal, not isdigit: "²" is a digit int() refuses. A day at most: a longer wait
    # is a garbled header, and the daily throttle resets at midnight anyway.
    if retry_after.isascii() and retry_after.isdecimal():
        return now + timedelta(seconds=min(int(retry_after), 86_400))
    return next_midnight_utc(now)


def raise_for_linkedin_error(response: requests.Response) -> dict[str, Any]:
    """The JSON body of a successful answer ({} for an empty 201/204), else a ConnectorError."""
    status = response.status_code
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = None
    if response.ok:
        if isinstance(body, dict):
            return body
        raise ConnectorError(
            f"LinkedIn answered {status} without a JSON object", status_code=status
        )
    error = body if isinstance(body, dict) else {}
    code = error.get("code")
    code = code if isinstance(code, str) else ""
    service_code = error.get("serviceErrorCode")
    message = (
        f"LinkedIn API error {status} {code or '-'}/{service_code}: "
        + str(error.get("message") or response.reason or "")[:500]
    )
    if status == 429:
        raise RateLimited(message, reset_at=rate_limit_reset(response.headers))
    if status == 401 or code in AUTH_CODES:
        raise AuthFailed(message, status_code=status)
    if status == 403:
        # ACCESS_DENIED: a revoked permission, or the token's member is no page admin any more.
        raise AuthFailed(message, status_code=status)
    if status >= 500 or status in (408, 504):
        raise ConnectorError(message, transient=True, status_code=status)
    # 400/422 validation (text too long), 404 a deleted post or comment: retrying will not help.
    raise ConnectorError(message, transient=False, status_code=status)


class LinkedInClient:
    def __init__(self, access_token: str, api_version: str = "", session: Any = None):
        if not access_token:
            raise AuthFailed("No LinkedIn access token configured for this channel")
        self.access_token = access_token
        self.api_version = api_version or DEFAULT_API_VERSION
        self.session = session or requests.Session()

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.access_token}",
            "LinkedIn-Version": self.api_version,
            "X-Restli-Protocol-Version": "2.0.0",
        }

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self._request("GET", path, params=params)
        return raise_for_linkedin_error(response)

    def post(self, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The answer's body and its x-restli-id header (the new entity's id, where given)."""
        response = self._request("POST", path, json=body)
        result = raise_for_linkedin_error(response)
        return result, str(response.headers.get("x-restli-id") or "")

    def delete(self, path: str, params: dict[str, Any] | None = None) -> None:
        raise_for_linkedin_error(self._request("DELETE", path, params=params))

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        # Query values are URNs with ':' '(' ')': encoded here once, as Rest.li 2.0 expects.
        params = kwargs.pop("params", None)
        url = f"{API_URL}/{path}"
        if params:
            url += "?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
        try:
            return self.session.request(
                method, url, headers=self._headers(), timeout=TIMEOUT, **kwargs
            )
        except requests.RequestException as exc:
            raise ConnectorError(f"LinkedIn API unreachable ({type(exc).__name__})") from None
