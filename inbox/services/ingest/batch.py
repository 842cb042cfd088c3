"""ingest_messages: split into batches (one transaction each), enrich the next batch in a thread
while this one is written, then apply the routing rules to the new conversations."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from inbox.channels.base import IncomingMessage
from inbox.models import (
    Channel,
    Message,
)
from inbox.services.ingest.cleaning import aware, clip, without_surrogates
from inbox.services.ingest.contacts import author_key, upsert_contacts
from inbox.services.ingest.enrichment import enrich_messages
from inbox.services.ingest.records import Conv, Enriched, IngestResult, Problems, Row
from inbox.services.ingest.threads import existing_external_ids, thread
from inbox.services.ingest.writes import save_channel, write
from integrations.models import EventType
from integrations.services.events import conversation_data, emit_many, wants
from routing.rules.apply import apply_routing
from routing.sla.policies import record_policy_failures
from webcare.jobs import enqueue

# Rows per transaction: large enough that round trips vanish, small enough that
# one statement's arrays stay a few MB.
BATCH_SIZE = 5000


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
        message = without_surrogates(message)
        unique.setdefault(clip(message.external_id, 255), message)
    ordered = _parents_first(
        sorted(unique.values(), key=lambda m: (aware(m.created_at), m.external_id)), unique
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
        pending = pool.submit(enrich_messages, _not_stored(channel.pk, chunks[0]), own)
        for index, chunk in enumerate(chunks):
            enriched = pending
            last = index == len(chunks) - 1
            if not last:
                upcoming = _not_stored(channel.pk, chunks[index + 1])
                pending = pool.submit(enrich_messages, upcoming, own)
            # The batch waits for its enrichment only once its reads are done.
            result.merge(
                _ingest_batch(channel.pk, chunk, cursor if last else None, enriched=enriched)
            )
    _route(channel.pk, result)
    return result


def _route(channel_id: int, result: IngestResult) -> None:
    """New conversations go through the routing rules (suggest, auto-forward, priority), and
    new messages are queued for suggestions (assist.update_similar).

    After the batches committed: a conversation a rule fails for stays unrouted, and counts
    on the channel's health with its messages.
    """
    if result.created:
        # Suggestions (assist): the worker embeds the new messages, never the ingest itself.
        enqueue("assist.update_similar")
    if not result.new_conversation_ids:
        return
    failed: dict[int, Exception] = {}
    apply_routing(conversation_ids=result.new_conversation_ids, on_error=failed.__setitem__)
    if failed:
        # Only on failure: how many stored messages the failed conversations hold.
        count = Message.objects.filter(conversation_id__in=list(failed)).count()
        error = next(reversed(failed.values()))
        problems = Problems()
        problems.add(gettext("Routing rules"), count, error)
        problems.save(channel_id, timezone.now())
        result.problems += count


def _not_stored(channel_id: int, chunk: list[IncomingMessage]) -> list[IncomingMessage]:
    """Messages of chunk not in the database yet (read without a lock: enrichment is a hint)."""
    existing = existing_external_ids(channel_id, [clip(m.external_id, 255) for m in chunk])
    return [m for m in chunk if clip(m.external_id, 255) not in existing]


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
            ext = clip(current.external_id, 255)
            if ext in emitted or ext in on_stack:
                break
            stack.append(current)
            on_stack.add(ext)
            current = by_id.get(clip(current.parent_external_id, 255))
        for item in reversed(stack):
            out.append(item)
            emitted.add(clip(item.external_id, 255))
    return out


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
        existing = existing_external_ids(channel_id, [clip(m.external_id, 255) for m in batch])
        new = [m for m in batch if clip(m.external_id, 255) not in existing]
        result.duplicates = len(batch) - len(new)
        problems = Problems()
        if new:
            _store(channel, new, result, enriched, problems)
        save_channel(channel, cursor, result.created, problems)
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
    problems: Problems,
) -> None:
    """pending: the enrichment of (most of) these messages, running in another thread."""
    now = timezone.now()
    contacts, contact_flags, result.contacts_created = upsert_contacts(channel, new, now)
    enriched = pending.result() if pending is not None else {}

    rows = []
    for m in new:
        author = author_key(m)
        rows.append(
            Row(
                msg=m,
                external_id=clip(m.external_id, 255),
                created_at=aware(m.created_at),
                contact_id=contacts[author],
                own=bool(m.is_own),
            )
        )
    missing = [r.msg for r in rows if not r.own and r.external_id not in enriched]
    if missing:
        enriched = {**enriched, **enrich_messages(missing, tuple(channel.own_handles or ()))}
    unenriched = []
    for row in rows:
        if not row.own:
            (
                row.language,
                row.sentiment,
                row.flags,
                error,
                row.needs_reply,
                row.needs_reply_reasons,
            ) = enriched[row.external_id]
            if error:
                unenriched.append(error)
    if unenriched:
        problems.add(gettext("Enrichment"), len(unenriched), unenriched[-1])
    for row in rows:
        row.flags |= contact_flags.get(row.contact_id, 0)

    convs = thread(channel.pk, rows)
    write(channel, rows, convs, now, result, problems)
    _emit_mentions(convs, now)


def _emit_mentions(convs: dict[str, Conv], now) -> None:
    """One "mention received" webhook event per new inbound message of the batch, in its
    transaction. While nobody subscribes, one cached lookup per batch and nothing more."""
    if not wants(EventType.MENTION_RECEIVED):
        return
    # conv.messages holds what write() stored (a message someone else stored meanwhile is gone).
    stored = [(conv, row) for conv in convs.values() for row in conv.messages if not row.own]
    if not stored:
        return
    found = conversation_data({conv.pk for conv, _row in stored})
    items = [
        {
            **found[conv.pk],
            "external_id": row.external_id,
            "created_at": row.created_at.isoformat(),
            "new_conversation": conv.is_new,
            "language": row.language,
            "sentiment": str(row.sentiment),
        }
        for conv, row in stored
        if conv.pk in found
    ]
    emit_many(EventType.MENTION_RECEIVED, items, occurred_at=now)
