"""Turn IncomingMessages from a connector into Messages, Conversations and Contacts.

ingest_messages() is the only way messages enter the database. It is idempotent
(unique (channel, external_id), so a replayed or doubly delivered batch creates
nothing), saves the connector's cursor in the same transaction as the messages,
threads replies into their parent's conversation, reopens or follows up closed
conversations, puts a conversation waiting on the customer back to work when the
customer answers, and enriches new inbound messages.

Speed matters (>= 5,000 messages/s, DESIGN.md): work is set-based. On
PostgreSQL every write is one INSERT ... SELECT FROM unnest(arrays) or one
UPDATE ... FROM unnest(arrays) per batch, a handful of round trips per few
thousand messages. Other databases (the embedded SQLite default) take the
portable Django path (bulk_create / bulk_update) with the same decisions.

Concurrency: the channel row is locked (SELECT ... FOR UPDATE) for the whole
batch, so two workers ingesting one channel serialise instead of racing on the
threading decisions; the unique constraints stay the last line of defence.

Fail-safe: settings and heuristics never stop ingest. An SLA policy or calendar that
fails for a conversation, a routing rule that fails for one, or enrichment that
fails for a message is logged, and the message is stored all the same: without that
clock, unrouted, or unenriched. Each such message counts on the channel's health
(Channel.ingest_problem_count, last_ingest_problem) and a failing policy on the
policy (SlaPolicy.failure_count), where the settings pages show them.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from inbox.channels.base import IncomingMessage
from inbox.models import (
    OPEN_STATUSES,
    Channel,
    Contact,
    ContactTag,
    Conversation,
    ConversationEvent,
    Direction,
    Flag,
    Message,
    Sentiment,
    Status,
)
from routing.rules.apply import apply_routing
from routing.sla.clocks import SLA_FIELDS, fetch_with_sla_fields
from routing.sla.hooks import (
    PendingClocks,
    on_customer_message,
    on_status_changed,
    plan_ingested,
    save_clocks_of_new,
    start_clocks_of_new,
)
from routing.sla.policies import SlaContext, SlaFailure, record_policy_failures
from webcare.db import bulk_insert, bulk_update, on_postgres, pg_cursor, plain

logger = logging.getLogger(__name__)

# Rows per transaction: large enough that round trips vanish, small enough that
# one statement's arrays stay a few MB.
BATCH_SIZE = 5000
SNIPPET_LENGTH = 280
ANONYMOUS_AUTHOR = "anonymous"
_OPEN = frozenset(str(s) for s in OPEN_STATUSES)


@dataclass
class IngestResult:
    created: int = 0
    duplicates: int = 0
    # Every conversation that received a message in this call.
    conversation_ids: list[int] = field(default_factory=list)
    new_conversation_ids: list[int] = field(default_factory=list)
    reopened_ids: list[int] = field(default_factory=list)
    contacts_created: int = 0
    # Messages stored with a step skipped: no SLA clock, not routed or not enriched (see above).
    problems: int = 0

    def merge(self, other: IngestResult) -> None:
        self.created += other.created
        self.duplicates += other.duplicates
        self.contacts_created += other.contacts_created
        self.problems += other.problems
        self.new_conversation_ids += other.new_conversation_ids
        self.reopened_ids += other.reopened_ids
        self.conversation_ids = sorted(set(self.conversation_ids) | set(other.conversation_ids))


def reopen_window() -> timedelta:
    return timedelta(days=settings.REOPEN_WINDOW_DAYS)


def ingest_messages(
    *,
    channel: Channel,
    messages: Sequence[IncomingMessage],
    cursor: dict[str, Any] | None = None,
) -> IngestResult:
    """Store messages for channel; save cursor (if given) with the last batch.

    Messages may come in any order and may repeat. Large inputs are split into
    batches of BATCH_SIZE, each its own transaction: a crash between batches
    leaves the old cursor, and the rerun skips what was already stored.
    """
    unique: dict[str, IncomingMessage] = {}
    for message in messages:
        message = _without_surrogates(message)
        unique.setdefault(_clip(message.external_id, 255), message)
    ordered = _parents_first(
        sorted(unique.values(), key=lambda m: (_aware(m.created_at), m.external_id)), unique
    )
    result = IngestResult(duplicates=len(messages) - len(unique))
    chunks = [ordered[i : i + BATCH_SIZE] for i in range(0, len(ordered), BATCH_SIZE)] or [[]]
    if len(chunks) == 1:
        result.merge(_ingest_batch(channel.pk, chunks[0], cursor, enriched=None))
        _route(channel.pk, result)
        return result
    # Pipeline: enrich the next batch in a thread while this one is written.
    # Language detection (lingua) releases the GIL and PostgreSQL works in its
    # own process, so the two overlap even on two cores.
    own = tuple(channel.own_handles or ())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-enrich") as pool:
        pending = pool.submit(_enrich_messages, _not_stored(channel.pk, chunks[0]), own)
        for index, chunk in enumerate(chunks):
            enriched = pending
            last = index == len(chunks) - 1
            if not last:
                upcoming = _not_stored(channel.pk, chunks[index + 1])
                pending = pool.submit(_enrich_messages, upcoming, own)
            # The batch waits for its enrichment only once its reads are done.
            result.merge(
                _ingest_batch(channel.pk, chunk, cursor if last else None, enriched=enriched)
            )
    _route(channel.pk, result)
    return result


def _route(channel_id: int, result: IngestResult) -> None:
    """New conversations go through the routing rules (suggest, auto-forward, priority).

    After the batches committed: a conversation a rule fails for stays unrouted, and counts
    on the channel's health with its messages.
    """
    if not result.new_conversation_ids:
        return
    failed: dict[int, Exception] = {}
    apply_routing(conversation_ids=result.new_conversation_ids, on_error=failed.__setitem__)
    if failed:
        # Only on failure: how many stored messages the failed conversations hold.
        count = Message.objects.filter(conversation_id__in=list(failed)).count()
        error = next(reversed(failed.values()))
        problems = _Problems()
        problems.add(gettext("Routing rules"), count, error)
        problems.save(channel_id, timezone.now())
        result.problems += count


def _not_stored(channel_id: int, chunk: list[IncomingMessage]) -> list[IncomingMessage]:
    """Messages of chunk not in the database yet (read without a lock: enrichment is a hint)."""
    existing = _existing_external_ids(channel_id, [_clip(m.external_id, 255) for m in chunk])
    return [m for m in chunk if _clip(m.external_id, 255) not in existing]


def _parents_first(
    ordered: list[IncomingMessage], by_id: dict[str, IncomingMessage]
) -> list[IncomingMessage]:
    """Oldest first, except that a parent given in the same call always comes before its replies.

    Platform clocks disagree (a reply can carry an earlier timestamp than its
    parent): without this, batching could store a reply before its parent and
    split one thread into two conversations.
    """
    emitted: set[str] = set()
    out: list[IncomingMessage] = []
    for message in ordered:
        stack: list[IncomingMessage] = []
        on_stack: set[str] = set()
        current: IncomingMessage | None = message
        while current is not None:
            ext = _clip(current.external_id, 255)
            if ext in emitted or ext in on_stack:
                break
            stack.append(current)
            on_stack.add(ext)
            current = by_id.get(_clip(current.parent_external_id, 255))
        for item in reversed(stack):
            out.append(item)
            emitted.add(_clip(item.external_id, 255))
    return out


# --------------------------------------------------------------------------
# One batch, one transaction
# --------------------------------------------------------------------------


@dataclass
class _Conv:
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
    messages: list[_Row] = field(default_factory=list)
    # The stored row (with what the SLA rules read); None for a conversation not created yet.
    obj: Conversation | None = None


@dataclass
class _Row:
    msg: IncomingMessage
    external_id: str
    created_at: datetime
    contact_id: int
    own: bool
    language: str = ""
    sentiment: str = Sentiment.NEUTRAL
    flags: int = 0
    conv: _Conv | None = None


@dataclass
class _Problems:
    """What one batch stored with a step skipped (see "Fail-safe" above)."""

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


def _ingest_batch(
    channel_id: int,
    batch: list[IncomingMessage],
    cursor: dict[str, Any] | None,
    *,
    enriched: Future[dict[str, Enriched]] | None,
) -> IngestResult:
    result = IngestResult()
    with transaction.atomic():
        # Serialises ingest per channel: threading decisions below read then write. NO KEY:
        # a plain FOR UPDATE also blocks the foreign-key checks of every other transaction
        # that stores a row of this channel (a reply send's message waited for whole batches).
        channel = (
            Channel.objects.select_for_update(no_key=True)
            .only("id", "kind", "own_handles", "ingest_day", "ingest_day_count")
            .get(pk=channel_id)
        )
        existing = _existing_external_ids(channel_id, [_clip(m.external_id, 255) for m in batch])
        new = [m for m in batch if _clip(m.external_id, 255) not in existing]
        result.duplicates = len(batch) - len(new)
        problems = _Problems()
        if new:
            _store(channel, new, result, enriched, problems)
        _save_channel(channel, cursor, result.created, problems)
        result.problems = problems.messages
        if problems.sla:
            # After commit, so ingest of other channels never waits on a policy's row.
            failures, at = problems.sla, timezone.now()
            transaction.on_commit(lambda: record_policy_failures(failures, at=at), robust=True)
    return result


def _store(
    channel: Channel,
    new: list[IncomingMessage],
    result: IngestResult,
    pending: Future[dict[str, Enriched]] | None,
    problems: _Problems,
) -> None:
    """pending: the enrichment of (most of) these messages, running in another thread."""
    now = timezone.now()
    contacts, contact_flags, result.contacts_created = _upsert_contacts(channel, new, now)
    enriched = pending.result() if pending is not None else {}

    rows = []
    for m in new:
        author = _author_key(m)
        rows.append(
            _Row(
                msg=m,
                external_id=_clip(m.external_id, 255),
                created_at=_aware(m.created_at),
                contact_id=contacts[author],
                own=bool(m.is_own),
            )
        )
    missing = [r.msg for r in rows if not r.own and r.external_id not in enriched]
    if missing:
        enriched = {**enriched, **_enrich_messages(missing, tuple(channel.own_handles or ()))}
    unenriched = []
    for row in rows:
        if not row.own:
            row.language, row.sentiment, row.flags, error = enriched[row.external_id]
            if error:
                unenriched.append(error)
    if unenriched:
        problems.add(gettext("Enrichment"), len(unenriched), unenriched[-1])
    for row in rows:
        row.flags |= contact_flags.get(row.contact_id, 0)

    convs = _thread(channel.pk, rows)
    _write(channel, rows, convs, now, result, problems)


# --------------------------------------------------------------------------
# Threading: a pure decision over loaded state
# --------------------------------------------------------------------------


def _thread(channel_id: int, rows: list[_Row]) -> dict[str, _Conv]:
    """Assign each row a conversation (existing, reopened or new). Returns them by thread key."""
    by_ext = {r.external_id: r for r in rows}
    outside_parents = {
        r.msg.parent_external_id
        for r in rows
        if r.msg.parent_external_id and r.msg.parent_external_id not in by_ext
    }
    parent_keys = _thread_keys_of_messages(channel_id, outside_parents)

    keys: dict[str, str] = {}
    for row in rows:
        if row.external_id in keys:
            continue
        chain: list[_Row] = []
        seen: set[str] = set()
        current = row
        while True:
            chain.append(current)
            seen.add(current.external_id)
            parent = current.msg.parent_external_id
            if current.external_id in keys:
                key = keys[current.external_id]
                break
            if parent and parent in by_ext and parent not in seen:
                current = by_ext[parent]
                continue
            if parent and parent in parent_keys:
                key = parent_keys[parent]
            else:
                # The platform's thread id; else the (not yet seen) parent, which
                # becomes a top-level message keyed by its own id when it arrives.
                key = current.msg.conversation_external_id or parent or current.external_id
            break
        for item in chain:
            keys[item.external_id] = _clip(key, 255)

    convs = _load_conversations(channel_id, set(keys.values()))
    window = reopen_window()
    for row in rows:  # oldest first
        key = keys[row.external_id]
        conv = convs.get(key)
        if conv is None:
            conv = _open(key, row, previous=None)
        elif conv.status in _OPEN or conv.is_new or conv.reopened:
            if not row.own and not conv.has_inbound:
                conv.adopted = True
                conv.has_inbound = True
                conv.contact_id = row.contact_id
                if conv.is_new:
                    # Our post answered by a customer in the same batch: work, as it is when
                    # the answer comes in a later batch (_update_conversations).
                    conv.status = Status.NEW
            elif not row.own and conv.status in _RESUMING and not conv.adopted:
                # The customer wrote again after our answer, or while we waited on them: back
                # to the state the team works from (a pause ends with it, and a next response
                # clock starts, see _plan_sla_of_existing).
                conv.resumed_from = str(conv.status)
                conv.status = _working_status(conv.obj)
        elif row.own:
            pass  # our post in a finished thread stays there; it reopens nothing
        elif (
            conv.status == Status.CLOSED
            and conv.closed_at is not None
            and row.created_at <= conv.closed_at + window
        ):
            conv.reopened = True
            conv.status = Status.NEW
            conv.closed_at = None
        else:
            # Closed too long ago, hidden or needing no reply: a fresh conversation
            # linked to the old one, so history stays one click away.
            conv = _open(key, row, previous=conv.id)
        convs[key] = conv
        row.conv = conv
        conv.messages.append(row)
    return convs


# What a customer's message ends: our answer (the ball was in their court) or our wait on them.
_RESUMING = (Status.ANSWERED, Status.WAITING)


def _working_status(obj: Conversation) -> str:
    """Where a conversation goes when the customer answers while we wait on them: to its
    assignee, else to its team's queue, else to the shared inbox."""
    if obj.assignee_id:
        return Status.ASSIGNED
    if obj.department_id:
        return Status.TRIAGED
    return Status.NEW


def _new_status(conv: _Conv) -> str | None:
    """The status this batch gives a stored conversation, or None when it keeps its own."""
    if conv.reopened or conv.adopted:
        return Status.NEW
    if conv.resumed_from:
        return conv.status
    return None


def _open(key: str, row: _Row, *, previous: int | None) -> _Conv:
    return _Conv(
        key=key,
        is_new=True,
        # Our own post (made outside the app) needs no triage until a customer answers it.
        status=Status.ANSWERED if row.own else Status.NEW,
        contact_id=row.contact_id,
        previous_id=previous,
        has_inbound=not row.own,
    )


# --------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------


def _existing_external_ids(channel_id: int, external_ids: list[str]) -> set[str]:
    if not external_ids:
        return set()
    found = Message.objects.filter(channel_id=channel_id, external_id__in_array=external_ids)
    return set(found.values_list("external_id", flat=True))


def _thread_keys_of_messages(channel_id: int, external_ids: set[str]) -> dict[str, str]:
    """external id of an already stored message -> its conversation's thread key."""
    if not external_ids:
        return {}
    found = Message.objects.filter(channel_id=channel_id, external_id__in_array=list(external_ids))
    return dict(found.values_list("external_id", "conversation__thread_key"))


def _load_conversations(channel_id: int, keys: set[str]) -> dict[str, _Conv]:
    """Per thread key: the open conversation, else the most recent finished one.

    Loaded with what the SLA rules read, so the batch's clock decisions need no second read.
    Locked for what we will update so a concurrent close cannot interleave; id order keeps
    two lockers from deadlocking.
    """
    out: dict[str, _Conv] = {}
    for part in _chunks(sorted(keys), 2000):
        found = fetch_with_sla_fields(
            Conversation.objects.filter(channel_id=channel_id, thread_key__in_array=part)
            .order_by("id")
            .select_for_update(no_key=True),
            "thread_key",
            "closed_at",
            "contact_id",
        )
        for obj in found:
            key = obj.thread_key
            known = out.get(key)
            # The open one wins (at most one: a DB constraint); else the newest finished one.
            if known is not None and (
                known.status in _OPEN or (obj.status not in _OPEN and known.id > obj.pk)
            ):
                continue
            out[key] = _Conv(
                key=key,
                id=obj.pk,
                status=obj.status,
                closed_at=obj.closed_at,
                contact_id=obj.contact_id,
                has_inbound=obj.last_inbound_at is not None,
                obj=obj,
            )
    return out


# --------------------------------------------------------------------------
# Contacts
# --------------------------------------------------------------------------


def _author_key(m: IncomingMessage) -> str:
    return _clip(m.author_id or m.author_handle or ANONYMOUS_AUTHOR, 255)


def _upsert_contacts(
    channel: Channel, new: list[IncomingMessage], now: datetime
) -> tuple[dict[str, int], dict[int, int], int]:
    """One Contact per author per channel. Returns author -> id, id -> flags, number created."""
    authors: dict[str, IncomingMessage] = {}
    for m in new:  # the newest message wins for name and avatar
        authors[_author_key(m)] = m
    known = _load_contacts(channel.pk, list(authors))
    ids = {ext: row[0] for ext, row in known.items()}
    flags = {row[0]: row[1] for row in known.values()}

    missing = [ext for ext in authors if ext not in known]
    created = 0
    if missing:
        values = {
            "channel_id": [channel.pk] * len(missing),
            "external_id": missing,
            "handle": [_clip(authors[e].author_handle, 255) for e in missing],
            "name": [_clip(authors[e].author_name, 255) for e in missing],
            "avatar_url": [_web_url(authors[e].author_avatar_url) for e in missing],
            "profile_url": [_web_url(authors[e].author_profile_url) for e in missing],
            "is_own_account": [bool(authors[e].is_own) for e in missing],
        }
        returned = bulk_insert(
            Contact,
            values,
            now=now,
            conflict_target=("channel_id", "external_id"),
            returning=("id", "external_id"),
        )
        created = len(returned)
        for cid, ext in returned:
            ids[ext] = cid
            flags[cid] = 0
        lost = [e for e in missing if e not in ids]
        if lost:  # created meanwhile by another path: read them back
            for ext, row in _load_contacts(channel.pk, lost).items():
                ids[ext] = row[0]
                flags[row[0]] = row[1]

    # Refresh names and avatars that changed (rare); never touch anonymised contacts.
    changed = [
        (known[e][0], authors[e])
        for e in known
        if not known[e][3]
        and (
            (authors[e].author_handle and authors[e].author_handle != known[e][2][0])
            or (authors[e].author_name and authors[e].author_name != known[e][2][1])
        )
    ]
    if changed:
        objs = [
            Contact(
                pk=cid,
                handle=_clip(m.author_handle, 255),
                name=_clip(m.author_name, 255),
                avatar_url=_web_url(m.author_avatar_url),
                profile_url=_web_url(m.author_profile_url),
            )
            for cid, m in changed
        ]
        Contact.objects.bulk_update(objs, ["handle", "name", "avatar_url", "profile_url"])
    return ids, flags, created


def _load_contacts(
    channel_id: int, external_ids: list[str]
) -> dict[str, tuple[int, int, tuple[str, str], bool]]:
    """external id -> (id, flags it lends its conversations, (handle, name), anonymised)."""
    found = Contact.objects.filter(channel_id=channel_id, external_id__in_array=external_ids)
    rows = [
        (cid, ext, handle, name, ContactTag.VIP in tags, ContactTag.PRESS in tags, fake, anon)
        for cid, ext, handle, name, tags, fake, anon in found.values_list(
            "id", "external_id", "handle", "name", "tags", "is_fake", "anonymised_at"
        )
    ]
    out = {}
    for cid, ext, handle, name, vip, press, is_fake, anonymised in rows:
        bits = 0
        if is_fake:
            bits |= Flag.FAKE_ACCOUNT
        if vip:
            bits |= Flag.VIP
        if press:
            bits |= Flag.PRESS
        out[ext] = (cid, int(bits), (handle, name), bool(anonymised))
    return out


# --------------------------------------------------------------------------
# Enrichment
# --------------------------------------------------------------------------


# (language, sentiment, flags, error): the error is "" when enrichment worked, else why it
# failed (the message is stored with no language, neutral sentiment and no flags).
Enriched = tuple[str, str, int, str]


def _enrich_messages(
    messages: list[IncomingMessage], own_handles: tuple[str, ...]
) -> dict[str, Enriched]:
    """external id -> Enriched for inbound messages. Pure: no database.

    One batch call; if it fails, message by message, so one message the enrichers choke on
    costs only its own enrichment (logged, and counted by _store).
    """
    from inbox.lib.enrich import enrich_batch

    inbound = [m for m in messages if not m.is_own]
    if not inbound:
        return {}
    items = [(m.text or "", m.author_handle, m.author_name) for m in inbound]
    try:
        results = enrich_batch(items, own_handles=own_handles)
    except Exception:
        logger.exception("enrichment of %s messages failed; retrying one by one", len(items))
        results = []
        for message, item in zip(inbound, items, strict=True):
            try:
                results.extend(enrich_batch([item], own_handles=own_handles))
            except Exception as exc:
                logger.exception("enrichment of message %r failed", message.external_id)
                results.append(exc)
    out: dict[str, Enriched] = {}
    for m, e in zip(inbound, results, strict=True):
        if isinstance(e, Exception):
            out[_clip(m.external_id, 255)] = ("", Sentiment.NEUTRAL, 0, f"{type(e).__name__}: {e}")
        else:
            out[_clip(m.external_id, 255)] = (
                (e.language or "")[:8],
                e.sentiment or Sentiment.NEUTRAL,
                int(e.flags or 0),
                "",
            )
    return out


# --------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------


def _write(
    channel: Channel,
    rows: list[_Row],
    convs: dict[str, _Conv],
    now: datetime,
    result: IngestResult,
    problems: _Problems,
) -> None:
    channel_id = channel.pk
    touched = [c for c in convs.values() if c.messages]
    fresh = [c for c in touched if c.is_new]
    responded: dict[int, datetime] = {}
    # The SLA fields of new conversations are decided before their INSERT (see
    # start_clocks_of_new); the rows carry them, the clocks follow once ids exist.
    fresh_aggs = [_aggregate(c) for c in fresh]
    sla_rows = _sla_rows(channel, fresh, fresh_aggs)
    for obj, conv in zip(sla_rows, fresh, strict=True):
        own = [r.created_at for r in conv.messages if r.own]
        if own:
            responded[obj.pk] = max(own)
    # A policy that fails for a conversation leaves it without clocks (sla.failures).
    sla = SlaContext(isolate_failures=True)
    sla_step = gettext("SLA policy")
    by_sla_pk = {obj.pk: conv for obj, conv in zip(sla_rows, fresh, strict=True)}
    try:
        pending = start_clocks_of_new(conversations=sla_rows, responded=responded, ctx=sla)
    except Exception as exc:
        # Not one policy: the planning itself failed. The new conversations go without clocks.
        logger.exception("SLA planning of %s new conversations failed", len(fresh))
        pending = _without_clocks(sla_rows)
        problems.add(sla_step, sum(len(c.messages) for c in fresh), exc)
    if fresh:
        _insert_conversations(channel_id, fresh, fresh_aggs, sla_rows, now)
        for obj, conv in zip(sla_rows, fresh, strict=True):
            obj.pk = conv.id

    msg_values = {
        "channel_id": [channel_id] * len(rows),
        "conversation_id": [r.conv.id for r in rows],
        "external_id": [r.external_id for r in rows],
        "parent_external_id": [_clip(r.msg.parent_external_id, 255) for r in rows],
        "direction": [Direction.OUTBOUND if r.own else Direction.INBOUND for r in rows],
        "contact_id": [r.contact_id for r in rows],
        "text": [_clean(r.msg.text) for r in rows],
        "url": [_web_url(r.msg.url) for r in rows],
        "is_public": [bool(r.msg.is_public) for r in rows],
        "language": [r.language for r in rows],
        "sentiment": [r.sentiment for r in rows],
        "flags": [r.flags for r in rows],
        "created_at": [r.created_at for r in rows],
        "raw": [r.msg.raw or {} for r in rows],
    }
    inserted = bulk_insert(
        Message,
        msg_values,
        now=now,
        conflict_target=("channel_id", "external_id"),
        returning=("external_id",),
    )
    result.created = len(inserted)
    if len(inserted) != len(rows):
        # Only possible if something other than ingest wrote these ids meanwhile
        # (the channel lock keeps ingest itself serial): keep the counts honest.
        stored = {e for (e,) in inserted}
        for conv in touched:
            conv.messages = [r for r in conv.messages if r.external_id in stored]
        result.duplicates += len(rows) - len(inserted)

    existing = [c for c in touched if not c.is_new and c.messages]
    aggs = [_aggregate(c) for c in existing]
    plan = PendingClocks([], [])
    if existing:
        try:
            with transaction.atomic():  # a savepoint: a failed plan leaves no clock half written
                plan = _plan_sla_of_existing(existing, aggs, sla)
        except Exception as exc:
            logger.exception("SLA planning of %s stored conversations failed", len(existing))
            problems.add(sla_step, sum(len(c.messages) for c in existing), exc)
    by_sla_pk.update((c.id, c) for c in existing)
    if sla.failures:
        failed = {f.conversation_id for f in sla.failures}
        logger.warning(
            "channel %s: SLA policies %s failed for %s conversations, stored without clocks",
            channel_id,
            sorted({f.policy_id or 0 for f in sla.failures}),
            len(failed),
        )
        last = sla.failures[-1]
        names = {p.pk: p.name for p in sla.policies}
        if last.policy_id in names:
            sla_step = gettext("SLA policy “%(name)s”") % {"name": names[last.policy_id]}
        problems.add(
            sla_step,
            sum(len(by_sla_pk[pk].messages) for pk in failed if pk in by_sla_pk),
            last.error,
        )
        problems.sla += sla.failures
    if existing:
        _update_conversations(existing, aggs, now, sla={c.pk for c in plan.changed})

    events = [(c.id, "opened", {"previous": c.previous_id} if c.previous_id else {}) for c in fresh]
    events += [(c.id, "reopened", {}) for c in existing if c.reopened]
    events += [
        (c.id, "customer_replied", {"from": c.resumed_from, "to": str(c.status)})
        for c in existing
        if c.resumed_from
    ]
    if events:
        bulk_insert(
            ConversationEvent,
            {
                "conversation_id": [e[0] for e in events],
                "kind": [e[1] for e in events],
                "data": [{"by": "ingest", **e[2]} for e in events],
            },
            now=now,
        )
    result.conversation_ids = sorted(c.id for c in touched if c.messages)
    result.new_conversation_ids = sorted(c.id for c in fresh)
    result.reopened_ids = sorted(c.id for c in existing if c.reopened)
    save_clocks_of_new(pending)
    save_clocks_of_new(plan)
    _merge_orphans(channel_id, rows, now)


def _merge_orphans(channel_id: int, rows: list[_Row], now: datetime) -> None:
    """Replies that came before their parent opened a conversation keyed by that parent's id
    (see _thread). Now the parent is here and belongs to another conversation (its own parent's,
    or the platform's thread): those orphans are merged into it, so one thread stays one
    conversation whatever order the platform delivered it in. One query when there is none.
    """
    targets = {
        r.external_id: r.conv for r in rows if r.conv is not None and r.conv.key != r.external_id
    }
    if not targets:
        return
    own = sorted({c.id for c in targets.values()})
    ids = list(
        Conversation.objects.filter(
            channel_id=channel_id, thread_key__in_array=list(targets), status__in=OPEN_STATUSES
        )
        .exclude(pk__in=own)
        .values_list("id", flat=True)
    )
    if not ids:
        return
    orphans = Conversation.objects.filter(pk__in=ids).select_for_update(no_key=True)
    for orphan in orphans.order_by("id"):
        target = targets[orphan.thread_key]
        moved = Message.objects.filter(conversation_id=orphan.pk).update(conversation_id=target.id)
        old_status = orphan.status
        orphan.status, orphan.closed_at, orphan.merged_into_id = Status.CLOSED, now, target.id
        Conversation.objects.filter(pk=orphan.pk).update(
            status=Status.CLOSED,
            closed_at=now,
            merged_into_id=target.id,
            version=F("version") + 1,
            updated_at=now,
        )
        on_status_changed(orphan, old_status, Status.CLOSED, now)  # its clocks stop
        merged = Conversation.objects.get(pk=target.id)
        merged.message_count += moved
        merged.flags |= orphan.flags
        merged.received_at = min(merged.received_at, orphan.received_at)
        merged.last_message_at = max(merged.last_message_at, orphan.last_message_at)
        if orphan.last_inbound_at is not None:
            merged.last_inbound_at = max(
                filter(None, [merged.last_inbound_at, orphan.last_inbound_at])
            )
        merged.version += 1
        merged.updated_at = now
        merged.save(
            update_fields=[
                "message_count",
                "flags",
                "received_at",
                "last_message_at",
                "last_inbound_at",
                "version",
                "updated_at",
            ]
        )
        if orphan.last_inbound_at is not None:
            on_customer_message(merged, orphan.last_inbound_at)
        ConversationEvent.objects.create(
            conversation_id=target.id,
            kind="merged",
            data={"by": "ingest", "source_id": orphan.pk, "moved_messages": moved},
        )


def _plan_sla_of_existing(existing: list[_Conv], aggs: list[dict[str, Any]], ctx: SlaContext):
    """The SLA hooks for stored conversations, decided in memory before their one UPDATE.

    The loaded rows are brought to what _update_conversations will write (the fields the
    rules read), then routing decides; the changed SLA fields go into the same UPDATE.
    (New conversations got theirs from start_clocks_of_new.)
    """
    for conv, agg in zip(existing, aggs, strict=True):
        obj = conv.obj
        if (status := _new_status(conv)) is not None:
            obj.status = status
        if conv.reopened:
            obj.closed_at = None
        if agg["last_inbound_at"] is not None:
            obj.last_inbound_at = max(filter(None, [obj.last_inbound_at, agg["last_inbound_at"]]))
        obj.flags |= agg["flags"]
        if conv.adopted:
            obj.received_at = _adopt(conv, agg, "received_at")
    responded = {}
    for conv in existing:
        own = [r.created_at for r in conv.messages if r.own]
        if own:
            responded[conv.id] = max(own)
    customer = sorted({c.id for c in existing for r in c.messages if not r.own})
    return plan_ingested(
        conversations={c.id: c.obj for c in existing},
        opened=[],
        customer=customer,
        responded=responded,
        ctx=ctx,
    )


def _aggregate(conv: _Conv) -> dict[str, Any]:
    msgs = conv.messages
    inbound = [r for r in msgs if not r.own]
    flags = 0
    for r in msgs:
        flags |= r.flags
    return {
        "count": len(msgs),
        "last_message_at": max(r.created_at for r in msgs),
        "last_inbound_at": max((r.created_at for r in inbound), default=None),
        "flags": flags,
        "first": inbound[0] if inbound else msgs[0],
        "first_inbound": inbound[0] if inbound else None,
    }


def _insert_conversations(
    channel_id: int,
    fresh: list[_Conv],
    aggs: list[dict[str, Any]],
    sla_rows: list[Conversation],
    now: datetime,
) -> None:
    values = {
        "channel_id": [channel_id] * len(fresh),
        "contact_id": [c.contact_id for c in fresh],
        "thread_key": [c.key for c in fresh],
        "status": [c.status for c in fresh],
        "language": [a["first"].language for a in aggs],
        "sentiment": [a["first"].sentiment for a in aggs],
        "flags": [a["flags"] for a in aggs],
        "snippet": [_snippet(a["first"].msg.text) for a in aggs],
        "is_public": [a["first"].msg.is_public for a in aggs],
        "message_count": [a["count"] for a in aggs],
        "received_at": [a["first"].created_at for a in aggs],
        "last_message_at": [a["last_message_at"] for a in aggs],
        "last_inbound_at": [a["last_inbound_at"] for a in aggs],
        "previous_id": [c.previous_id for c in fresh],
        **{name: [plain(getattr(obj, name)) for obj in sla_rows] for name in SLA_FIELDS},
    }
    returned = bulk_insert(Conversation, values, now=now, returning=("id", "thread_key"))
    ids = {key: cid for cid, key in returned}
    for conv in fresh:
        conv.id = ids[conv.key]


def _update_conversations(
    convs: list[_Conv], aggs: list[dict[str, Any]], now: datetime, *, sla: set[int]
) -> None:
    """Add this batch's messages to stored conversations (relative updates on PostgreSQL).

    sla: ids whose SLA_FIELDS (decided in memory, see _plan_sla_of_existing) are written too.
    """
    if on_postgres():
        # Relative (count + n, GREATEST, OR) so concurrent writers of other
        # fields keep their changes; status only changes on reopen, adoption or a customer
        # answering while we waited (decided on the row locked in _load_conversations).
        arrays = [
            ([c.id for c in convs], "bigint"),
            ([a["count"] for a in aggs], "integer"),
            ([a["last_message_at"] for a in aggs], "timestamptz"),
            ([a["last_inbound_at"] for a in aggs], "timestamptz"),
            ([a["flags"] for a in aggs], "integer"),
            ([c.reopened for c in convs], "boolean"),
            ([_new_status(c) for c in convs], "text"),
            ([c.contact_id if c.adopted else None for c in convs], "bigint"),
            (
                [_adopt(c, a, "received_at") for c, a in zip(convs, aggs, strict=True)],
                "timestamptz",
            ),
            ([_adopt(c, a, "snippet") for c, a in zip(convs, aggs, strict=True)], "text"),
            ([_adopt(c, a, "language") for c, a in zip(convs, aggs, strict=True)], "text"),
            ([_adopt(c, a, "sentiment") for c, a in zip(convs, aggs, strict=True)], "text"),
            ([c.id in sla for c in convs], "boolean"),
            *(
                ([plain(getattr(c.obj, name)) for c in convs], _SLA_TYPES[name])
                for name in SLA_FIELDS
            ),
        ]
        # The row lock taken in _load_conversations keeps the SLA fields as they were read.
        sla_sets = ",\n".join(
            f"{name} = CASE WHEN u.sla THEN u.{name} ELSE c.{name} END" for name in SLA_FIELDS
        )
        sql = f"""
            UPDATE inbox_conversation AS c SET
                message_count = c.message_count + u.n,
                last_message_at = GREATEST(c.last_message_at, u.last_at),
                last_inbound_at = GREATEST(c.last_inbound_at, u.last_in),
                flags = c.flags | u.flags,
                status = COALESCE(u.status, c.status),
                closed_at = CASE WHEN u.reopen THEN NULL ELSE c.closed_at END,
                version = c.version + CASE WHEN u.status IS NOT NULL THEN 1 ELSE 0 END,
                contact_id = COALESCE(u.contact_id, c.contact_id),
                received_at = COALESCE(u.received_at, c.received_at),
                snippet = COALESCE(u.snippet, c.snippet),
                language = COALESCE(u.language, c.language),
                sentiment = COALESCE(u.sentiment, c.sentiment),
                {sla_sets},
                updated_at = %s
            FROM unnest({", ".join(f"%b::{t}[]" for _, t in arrays)})
                AS u(id, n, last_at, last_in, flags, reopen, status, contact_id, received_at,
                     snippet, language, sentiment, sla, {", ".join(SLA_FIELDS)})
            WHERE c.id = u.id
        """
        with pg_cursor() as cur:
            cur.execute(sql, [now] + [values for values, _ in arrays])
        return

    stored = Conversation.objects.in_bulk([c.id for c in convs])
    for conv, agg in zip(convs, aggs, strict=True):
        obj = stored[conv.id]
        if conv.id in sla:  # decided in memory on conv.obj (_plan_sla_of_existing)
            for name in SLA_FIELDS:
                setattr(obj, name, getattr(conv.obj, name))
        obj.message_count += agg["count"]
        obj.last_message_at = max(obj.last_message_at, agg["last_message_at"])
        if agg["last_inbound_at"] is not None:
            obj.last_inbound_at = max(
                filter(None, [obj.last_inbound_at, agg["last_inbound_at"]]), default=None
            )
        obj.flags |= agg["flags"]
        obj.updated_at = now
        if (status := _new_status(conv)) is not None:
            obj.status = status
            obj.version += 1
        if conv.reopened:
            obj.closed_at = None
        if conv.adopted:
            obj.contact_id = conv.contact_id
            obj.received_at = _adopt(conv, agg, "received_at")
            obj.snippet = _adopt(conv, agg, "snippet")
            obj.language = _adopt(conv, agg, "language")
            obj.sentiment = _adopt(conv, agg, "sentiment")
    bulk_update(
        Conversation,
        list(stored.values()),
        [
            "message_count",
            "last_message_at",
            "last_inbound_at",
            "flags",
            "status",
            "closed_at",
            "version",
            "contact_id",
            "received_at",
            "snippet",
            "language",
            "sentiment",
            "updated_at",
            *SLA_FIELDS,
        ],
    )


def _adopt(conv: _Conv, agg: dict[str, Any], what: str) -> Any:
    """For a conversation our own post opened: the first customer message takes over the lead."""
    first = agg["first_inbound"]
    if not conv.adopted or first is None:
        return None
    return {
        "received_at": first.created_at,
        "snippet": _snippet(first.msg.text),
        "language": first.language,
        "sentiment": first.sentiment,
    }[what]


def _save_channel(
    channel: Channel, cursor: dict[str, Any] | None, created: int, problems: _Problems
) -> None:
    """Cursor, today's counter and the batch's problems, in the same transaction as the
    messages (the channel row is locked already)."""
    today = timezone.localdate()
    update: dict[str, Any] = problems.channel_fields(timezone.now())
    if cursor is not None:
        update["cursor"] = cursor
    if created:
        if channel.ingest_day == today:
            update["ingest_day_count"] = channel.ingest_day_count + created
        else:
            update["ingest_day"] = today
            update["ingest_day_count"] = created
    if update:
        Channel.objects.filter(pk=channel.pk).update(**update)


# --------------------------------------------------------------------------
# SLA (routing owns the logic; ingest only says what happened, in bulk)
# --------------------------------------------------------------------------

_SLA_TYPES = {name: "text" if name == "sla_state" else "timestamptz" for name in SLA_FIELDS}


def _without_clocks(sla_rows: list[Conversation]) -> PendingClocks:
    """The new conversations' SLA fields back to "no SLA", and no clock to write."""
    blank = Conversation()
    for row in sla_rows:
        for name in SLA_FIELDS:
            setattr(row, name, getattr(blank, name))
    return PendingClocks([], [])


def _sla_rows(
    channel: Channel, fresh: list[_Conv], aggs: list[dict[str, Any]]
) -> list[Conversation]:
    """Unsaved Conversations (temporary negative pks) with what the SLA rules read, for
    start_clocks_of_new."""
    # Copies of one blank row: Model.__init__ with keywords costs three times as much.
    blank = Conversation(channel=channel)
    rows = []
    for index, (conv, agg) in enumerate(zip(fresh, aggs, strict=True), start=1):
        row = copy.copy(blank)
        row.pk = -index
        row.status = conv.status
        row.flags = agg["flags"]
        row.received_at = agg["first"].created_at
        row.last_inbound_at = agg["last_inbound_at"]
        row.previous_id = conv.previous_id
        rows.append(row)
    return rows


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def _chunks(items: list, size: int) -> Iterable[list]:
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


def _without_surrogates(message: IncomingMessage) -> IncomingMessage:
    """Lone surrogates (JSON may escape one: "\\ud800") as U+FFFD (raw: in _json).

    Neither UTF-8, PostgreSQL nor the enrichers accept them; left in, one such
    message failed its whole batch on every poll (found by tests/fuzz).
    """
    values = [getattr(message, name) or "" for name in _TEXT_FIELDS]
    if not _SURROGATE.search("".join(values)):  # nearly always: one search, not ten
        return message
    dirty = {
        name: _SURROGATE.sub("\ufffd", value)
        for name, value in zip(_TEXT_FIELDS, values, strict=True)
        if _SURROGATE.search(value)
    }
    return dataclasses.replace(message, **dirty)


def _clip(value: str | None, length: int) -> str:
    if not value:
        return ""
    value = str(value).replace("\x00", "")
    return value[:length]


def _web_url(value: str | None) -> str:
    """Only http(s) links are kept: the templates put these URLs in href/src, where a
    platform-supplied `javascript:` or `data:` URL would run (issue 8, inert markup)."""
    value = _clip(value, 1000).strip()
    return value if value.lower().startswith(("https://", "http://")) else ""


def _clean(text: str | None) -> str:
    # PostgreSQL text cannot hold NUL; everything else is kept as written.
    return (text or "").replace("\x00", "")


def _snippet(text: str | None) -> str:
    return " ".join(_clean(text).split())[:SNIPPET_LENGTH]


def _aware(value: datetime) -> datetime:
    if timezone.is_naive(value):
        return value.replace(tzinfo=UTC)
    return value
