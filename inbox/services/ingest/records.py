"""What one ingest call works on: the result it returns, the rows of a batch, the conversations
they thread into, and the problems a fail-safe step records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import F

from inbox.channels.base import IncomingMessage
from inbox.models import (
    OPEN_STATUSES,
    Channel,
    Conversation,
    Sentiment,
    Status,
)
from routing.sla.policies import SlaFailure

OPEN = frozenset(str(s) for s in OPEN_STATUSES)


@dataclass
class IngestResult:
    created: int = 0
    duplicates: int = 0
    # Every conversation that received a message in this call.
    conversation_ids: list[int] = field(default_factory=list)
    new_conversation_ids: list[int] = field(default_factory=list)
    reopened_ids: list[int] = field(default_factory=list)
    contacts_created: int = 0
    # Messages stored with a step skipped: no SLA clock, not routed or not enriched (see "Fail-safe"
    # in the package docstring).
    problems: int = 0

    def merge(self, other: IngestResult) -> None:
        self.created += other.created
        self.duplicates += other.duplicates
        self.contacts_created += other.contacts_created
        self.problems += other.problems
        self.new_conversation_ids += other.new_conversation_ids
        self.reopened_ids += other.reopened_ids
        self.conversation_ids = sorted(set(self.conversation_ids) | set(other.conversation_ids))


@dataclass
class Conv:
    """What the threading decision needs of a conversation (loaded or about to be created)."""

    key: str
    id: int | None = None
    status: str = Status.NEW
    closed_at: datetime | None = None
    contact_id: int | None = None
    previous_id: int | None = None
    has_inbound: bool = True
    is_new: bool = False
    reopened: bool = False
    adopted: bool = False  # first inbound message in a conversation our own post opened
    resumed_from: str = ""  # answered or waiting, when the customer wrote again
    messages: list[Row] = field(default_factory=list)
    # The stored row (with what the SLA rules read); None for a conversation not created yet.
    obj: Conversation | None = None

    @property
    def pk(self) -> int:
        """id, for a conversation stored (loaded, or inserted by write)."""
        if self.id is None:
            raise ValueError(f"conversation {self.key!r} is not stored yet")
        return self.id

    @property
    def row(self) -> Conversation:
        """obj, for a conversation loaded from the database."""
        if self.obj is None:
            raise ValueError(f"conversation {self.key!r} was not loaded")
        return self.obj


@dataclass
class Row:
    msg: IncomingMessage
    external_id: str
    created_at: datetime
    contact_id: int
    own: bool
    language: str = ""
    sentiment: str = Sentiment.NEUTRAL
    flags: int = 0
    needs_reply: int | None = None
    needs_reply_reasons: str = ""
    conv: Conv | None = None

    @property
    def thread(self) -> Conv:
        """conv, once the row is threaded."""
        if self.conv is None:
            raise ValueError(f"message {self.external_id!r} is not threaded yet")
        return self.conv


@dataclass
class Problems:
    """What one batch stored with a step skipped (see "Fail-safe" in the package docstring)."""

    messages: int = 0
    last: str = ""
    sla: list[SlaFailure] = field(default_factory=list)

    def add(self, step: str, messages: int, error: Exception | str) -> None:
        if isinstance(error, Exception):
            error = f"{type(error).__name__}: {error}"
        self.messages += messages
        self.last = f"{step}: {error}"[:2000]

    def channel_fields(self, now: datetime) -> dict[str, Any]:
        if not self.messages:
            return {}
        return {
            "ingest_problem_count": F("ingest_problem_count") + self.messages,
            "last_ingest_problem": self.last,
            "last_ingest_problem_at": now,
        }

    def save(self, channel_id: int, now: datetime) -> None:
        """Outside a batch (routing runs after commit): one UPDATE of the channel's counters."""
        if self.messages:
            Channel.objects.filter(pk=channel_id).update(**self.channel_fields(now))


# (language, sentiment, flags, error, needs_reply, needs_reply_reasons): the error is "" when
# enrichment worked, else why it failed (the message is stored with no language, neutral
# sentiment, no flags and no "needs a reply" score).
Enriched = tuple[str, str, int, str, int | None, str]
