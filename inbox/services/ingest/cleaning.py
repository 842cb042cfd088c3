"""Making platform input storable: lone surrogates out, lengths clipped, only web links kept,
times made aware."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from inbox.channels.base import IncomingMessage

SNIPPET_LENGTH = 280


ANONYMOUS_AUTHOR = "anonymous"


def chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


_SURROGATE = re.compile("[\ud800-\udfff]")


_TEXT_FIELDS = (
    "external_id",
    "text",
    "author_id",
    "author_handle",
    "author_name",
    "author_avatar_url",
    "author_profile_url",
    "parent_external_id",
    "conversation_external_id",
    "url",
)


def without_surrogates(message: IncomingMessage) -> IncomingMessage:
    """Lone surrogates (JSON may escape one: "\\ud800") as U+FFFD (raw: in _json).

    Neither UTF-8, PostgreSQL nor the enrichers accept them; left in, one such
    message failed its whole batch on every poll (found by tests/fuzz).
    """
    values = [getattr(message, name) or "" for name in _TEXT_FIELDS]
    if not _SURROGATE.search("".join(values)):  # nearly always: one search, not ten
        return message
    dirty: dict[str, Any] = {
        name: _SURROGATE.sub("\ufffd", value)
        for name, value in zip(_TEXT_FIELDS, values, strict=True)
        if _SURROGATE.search(value)
    }
    return dataclasses.replace(message, **dirty)


def clip(value: str | None, length: int) -> str:
    if not value:
        return ""
    value = str(value).replace("\x00", "")
    return value[:length]


def web_url(value: str | None) -> str:
    """Only http(s) links are kept: the templates put these URLs in href/src, where a
    platform-supplied `javascript:` or `data:` URL would run."""
    value = clip(value, 1000).strip()
    return value if value.lower().startswith(("https://", "http://")) else ""


def clean(text: str | None) -> str:
    # PostgreSQL text cannot hold NUL; everything else is kept as written.
    return (text or "").replace("\x00", "")


def snippet(text: str | None) -> str:
    return " ".join(clean(text).split())[:SNIPPET_LENGTH]


def aware(value: datetime) -> datetime:
    if timezone.is_naive(value):
        return value.replace(tzinfo=UTC)
    return value
