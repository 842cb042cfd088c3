"""The one interface every connector shares (see DESIGN.md).

Connectors talk to a platform and return plain dataclasses; they never touch
the ORM. inbox.services.ingest_messages turns IncomingMessages into rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    external_id: str
    text: str
    created_at: datetime  # timezone-aware, UTC
    author_id: str
    author_handle: str = ""
    author_name: str = ""
    author_avatar_url: str = ""
    author_profile_url: str = ""
    # The message this one answers (empty for a new top-level mention).
    parent_external_id: str = ""
    # The platform's thread id (X conversation_id, e-mail root Message-ID, post id).
    conversation_external_id: str = ""
    url: str = ""
    is_public: bool = True
    # True when one of our own accounts wrote it (outside the app): stored as outbound.
    is_own: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """What a connector may know about its channel: no ORM object crosses the boundary."""

    id: int
    kind: str
    own_handles: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    credentials: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FetchResult:
    messages: list[IncomingMessage]
    cursor: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """What send_reply needs to know of a conversation."""

    conversation_id: int
    in_reply_to_external_id: str
    thread_external_id: str = ""
    author_id: str = ""
    author_handle: str = ""
    private: bool = False
    subject: str = ""
    # Extra platform references (Bluesky root/parent uri+cid, e-mail References...).
    extra: dict[str, Any] = field(default_factory=dict)


class ConnectorError(Exception):
    """A platform call failed. transient=True means retry later; False means a person must act."""

    def __init__(self, message: str, *, transient: bool = True, status_code: int | None = None):
        super().__init__(message)
        self.transient = transient
        self.status_code = status_code


class RateLimited(ConnectorError):
    def __init__(self, message: str, *, reset_at: datetime | None):
        super().__init__(message, transient=True, status_code=429)
        self.reset_at = reset_at


class AuthFailed(ConnectorError):
    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message, transient=False, status_code=status_code)


class Connector(Protocol):
    # What the platform allows; the UI and services check these before offering an action.
    can_reply: bool
    can_reply_privately: bool
    can_hide: bool
    max_length: int | None  # characters per post (X 280, Mastodon 500, Bluesky 300 graphemes)

    def fetch(self, channel: ChannelConfig, cursor: dict[str, Any]) -> FetchResult: ...

    def send_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        """Post text and return the platform's id of the new post."""
        ...

    def find_existing_reply(
        self, channel: ChannelConfig, target: ReplyTarget, text: str
    ) -> str | None:
        """For an attempt whose outcome is unknown: the id of our reply if it was posted, else None."""
        ...

    def hide(self, channel: ChannelConfig, external_id: str, hidden: bool) -> None:
        """Hide (or unhide) a comment on the platform, where can_hide is True."""
        ...
