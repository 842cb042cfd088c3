"""The Meta Graph API over HTTP: one pinned version, one place that turns its answers into data
or the connector errors the poller understands (rate limits with their reset, lost tokens, and
the rest), and the time formats it speaks."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from inbox.channels.base import AuthFailed, ConnectorError, RateLimited

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


# What reading a malformed Graph object raises (a field missing, of the wrong type, an
# impossible time such as an infinite timestamp): each means "skip this one item".
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, OverflowError, OSError)


def parse_time(value: Any) -> datetime:
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
        return self.raise_for_error(response)

    # A product with codes of its own (WhatsApp) maps those first, then falls back on this.
    raise_for_error = staticmethod(lambda response: raise_for_graph_error(response))


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
    if not isinstance(code, int) or isinstance(code, bool):
        code = None  # a code that is no number ([] or {} included) matches no rule below
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
