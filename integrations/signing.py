"""Signing outgoing webhooks, and how a receiver checks a signature (pure, no database).

Every request carries three headers:

    Webcare-Event-Id:   the event's UUID, the same on every try (dedupe on it)
    Webcare-Timestamp:  unix seconds when this try was signed
    Webcare-Signature:  t=<timestamp>,v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

A receiver verifies with the secret it was shown when the subscription was created:

    >>> ok = verify(secret, body, request.headers["Webcare-Signature"], now=time.time())

i.e. it recomputes the HMAC over the timestamp, a dot and the raw request body (bytes as
received, before any JSON parsing), compares in constant time, and refuses a timestamp
more than five minutes from its own clock, so a captured request cannot be replayed later.
docs/webhooks.md has the same in a few lines of Python and of shell.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def body_bytes(payload: dict[str, Any]) -> bytes:
    """The request body: compact JSON, keys sorted, so the stored payload gives the same bytes
    on every try."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(
    secret: str, body: bytes, header: str, *, now: float, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """Whether header (Webcare-Signature) signs body with secret, within tolerance of now."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), parts.get("v1", ""))
