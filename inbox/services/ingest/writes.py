"""Writing one batch: messages, new and updated conversations, their SLA fields and clocks, the
channel's counters. Set-based (webcare.db): a handful of statements per few thousand messages.

Size: the conversation INSERT and UPDATE and the SLA planning they carry share the aggregates of
one batch; apart they would pass them through half a dozen signatures."""

from __future__ import annotations

import copy
import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from inbox.models import (
    OPEN_STATUSES,
    Channel,
    Conversation,
    ConversationEvent,
    Direction,
    Message,
    Status,
)
from inbox.services.ingest.cleaning import clean, clip, snippet, web_url
from inbox.services.ingest.records import Conv, IngestResult, Problems, Row
from inbox.services.ingest.threads import new_status
from routing.sla.clocks import SLA_FIELDS
from routing.sla.hooks import (
    PendingClocks,
    on_customer_message,
    on_status_changed,
    plan_ingested,
    save_clocks_of_new,
    start_clocks_of_new,
)
from routing.sla.policies import SlaContext
from webcare.db import bulk_insert, bulk_update, on_postgres, pg_cursor, plain

logger = logging.getLogger(__name__)


def write(
    channel: Channel,
    rows: list[Row],
    convs: dict[str, Conv],
    now: datetime,
    result: IngestResult,
    problems: Problems,
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
            obj.pk = conv.pk

    msg_values: dict[str, list[Any]] = {
        "channel_id": [channel_id] * len(rows),
        "conversation_id": [r.thread.pk for r in rows],
        "external_id": [r.external_id for r in rows],
        "parent_external_id": [clip(r.msg.parent_external_id, 255) for r in rows],
        "direction": [Direction.OUTBOUND if r.own else Direction.INBOUND for r in rows],
        "contact_id": [r.contact_id for r in rows],
        "text": [clean(r.msg.text) for r in rows],
        "url": [web_url(r.msg.url) for r in rows],
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
    by_sla_pk.update((c.pk, c) for c in existing)
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

    events: list[tuple[int, str, dict[str, Any]]] = [
        (c.pk, "opened", {"previous": c.previous_id} if c.previous_id else {}) for c in fresh
    ]
    events += [(c.pk, "reopened", {}) for c in existing if c.reopened]
    events += [
        (c.pk, "customer_replied", {"from": c.resumed_from, "to": str(c.status)})
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
    result.conversation_ids = sorted(c.pk for c in touched if c.messages)
    result.new_conversation_ids = sorted(c.pk for c in fresh)
    result.reopened_ids = sorted(c.pk for c in existing if c.reopened)
    save_clocks_of_new(pending)
    save_clocks_of_new(plan)
    _merge_orphans(channel_id, rows, now)


def _merge_orphans(channel_id: int, rows: list[Row], now: datetime) -> None:
    """Replies that came before their parent opened a conversation keyed by that parent's id
    (see thread). Now the parent is here and belongs to another conversation (its own parent's,
    or the platform's thread): those orphans are merged into it, so one thread stays one
    conversation whatever order the platform delivered it in. One query when there is none.
    """
    targets = {
        r.external_id: r.conv for r in rows if r.conv is not None and r.conv.key != r.external_id
    }
    if not targets:
        return
    own = sorted({c.pk for c in targets.values()})
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
        moved = Message.objects.filter(conversation_id=orphan.pk).update(conversation_id=target.pk)
        old_status = orphan.status
        orphan.status, orphan.closed_at, orphan.merged_into_id = Status.CLOSED, now, target.pk
        Conversation.objects.filter(pk=orphan.pk).update(
            status=Status.CLOSED,
            closed_at=now,
            merged_into_id=target.pk,
            version=F("version") + 1,
            updated_at=now,
        )
        on_status_changed(orphan, old_status, Status.CLOSED, now)  # its clocks stop
        merged = Conversation.objects.get(pk=target.pk)
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
            conversation_id=target.pk,
            kind="merged",
            data={"by": "ingest", "source_id": orphan.pk, "moved_messages": moved},
        )


def _plan_sla_of_existing(existing: list[Conv], aggs: list[dict[str, Any]], ctx: SlaContext):
    """The SLA hooks for stored conversations, decided in memory before their one UPDATE.

    The loaded rows are brought to what _update_conversations will write (the fields the
    rules read), then routing decides; the changed SLA fields go into the same UPDATE.
    (New conversations got theirs from start_clocks_of_new.)
    """
    for conv, agg in zip(existing, aggs, strict=True):
        obj = conv.row
        if (status := new_status(conv)) is not None:
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
            responded[conv.pk] = max(own)
    customer = sorted({c.pk for c in existing for r in c.messages if not r.own})
    return plan_ingested(
        conversations={c.pk: c.row for c in existing},
        opened=[],
        customer=customer,
        responded=responded,
        ctx=ctx,
    )


def _aggregate(conv: Conv) -> dict[str, Any]:
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
        # The conversation's "needs a reply" hint is its latest customer message's.
        "latest_inbound": max(inbound, key=lambda r: r.created_at) if inbound else None,
    }


def _insert_conversations(
    channel_id: int,
    fresh: list[Conv],
    aggs: list[dict[str, Any]],
    sla_rows: list[Conversation],
    now: datetime,
) -> None:
    values: dict[str, list[Any]] = {
        "channel_id": [channel_id] * len(fresh),
        "contact_id": [c.contact_id for c in fresh],
        "thread_key": [c.key for c in fresh],
        "status": [c.status for c in fresh],
        "language": [a["first"].language for a in aggs],
        "sentiment": [a["first"].sentiment for a in aggs],
        "flags": [a["flags"] for a in aggs],
        "snippet": [snippet(a["first"].msg.text) for a in aggs],
        "is_public": [a["first"].msg.is_public for a in aggs],
        "message_count": [a["count"] for a in aggs],
        "received_at": [a["first"].created_at for a in aggs],
        "last_message_at": [a["last_message_at"] for a in aggs],
        "last_inbound_at": [a["last_inbound_at"] for a in aggs],
        "previous_id": [c.previous_id for c in fresh],
        "needs_reply": [_hint(a)[0] for a in aggs],
        "needs_reply_reasons": [_hint(a)[1] or "" for a in aggs],
        **{name: [plain(getattr(obj, name)) for obj in sla_rows] for name in SLA_FIELDS},
    }
    returned = bulk_insert(Conversation, values, now=now, returning=("id", "thread_key"))
    ids = {key: cid for cid, key in returned}
    for conv in fresh:
        conv.id = ids[conv.key]


def _update_conversations(
    convs: list[Conv], aggs: list[dict[str, Any]], now: datetime, *, sla: set[int]
) -> None:
    """Add this batch's messages to stored conversations (relative updates on PostgreSQL).

    sla: ids whose SLA_FIELDS (decided in memory, see _plan_sla_of_existing) are written too.
    """
    if on_postgres():
        # Relative (count + n, GREATEST, OR) so concurrent writers of other
        # fields keep their changes; status only changes on reopen, adoption or a customer
        # answering while we waited (decided on the row locked in _load_conversations).
        arrays = [
            ([c.pk for c in convs], "bigint"),
            ([a["count"] for a in aggs], "integer"),
            ([a["last_message_at"] for a in aggs], "timestamptz"),
            ([a["last_inbound_at"] for a in aggs], "timestamptz"),
            ([a["flags"] for a in aggs], "integer"),
            ([c.reopened for c in convs], "boolean"),
            ([new_status(c) for c in convs], "text"),
            ([c.contact_id if c.adopted else None for c in convs], "bigint"),
            (
                [_adopt(c, a, "received_at") for c, a in zip(convs, aggs, strict=True)],
                "timestamptz",
            ),
            ([_adopt(c, a, "snippet") for c, a in zip(convs, aggs, strict=True)], "text"),
            ([_adopt(c, a, "language") for c, a in zip(convs, aggs, strict=True)], "text"),
            ([_adopt(c, a, "sentiment") for c, a in zip(convs, aggs, strict=True)], "text"),
            ([c.pk in sla for c in convs], "boolean"),
            ([_hint(a)[0] for a in aggs], "smallint"),
            ([_hint(a)[1] for a in aggs], "text"),
            *(
                ([plain(getattr(c.row, name)) for c in convs], _SLA_TYPES[name])
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
                needs_reply = CASE WHEN u.last_in >= COALESCE(c.last_inbound_at, u.last_in)
                    THEN u.needs_reply ELSE c.needs_reply END,
                needs_reply_reasons = CASE WHEN u.last_in >= COALESCE(c.last_inbound_at, u.last_in)
                    THEN u.reasons ELSE c.needs_reply_reasons END,
                {sla_sets},
                updated_at = %s
            FROM unnest({", ".join(f"%b::{t}[]" for _, t in arrays)})
                AS u(id, n, last_at, last_in, flags, reopen, status, contact_id, received_at,
                     snippet, language, sentiment, sla, needs_reply, reasons,
                     {", ".join(SLA_FIELDS)})
            WHERE c.id = u.id
        """
        with pg_cursor() as cur:
            cur.execute(sql, [now] + [values for values, _ in arrays])
        return

    stored = Conversation.objects.in_bulk([c.pk for c in convs])
    for conv, agg in zip(convs, aggs, strict=True):
        obj = stored[conv.pk]
        if conv.pk in sla:  # decided in memory on conv.obj (_plan_sla_of_existing)
            for name in SLA_FIELDS:
                setattr(obj, name, getattr(conv.row, name))
        obj.message_count += agg["count"]
        obj.last_message_at = max(obj.last_message_at, agg["last_message_at"])
        latest = agg["last_inbound_at"]
        if latest is not None and (obj.last_inbound_at is None or latest >= obj.last_inbound_at):
            obj.needs_reply, reasons = _hint(agg)
            obj.needs_reply_reasons = reasons or ""
        if agg["last_inbound_at"] is not None:
            obj.last_inbound_at = max(
                filter(None, [obj.last_inbound_at, agg["last_inbound_at"]]), default=None
            )
        obj.flags |= agg["flags"]
        obj.updated_at = now
        if (status := new_status(conv)) is not None:
            obj.status = status
            obj.version += 1
        if conv.reopened:
            obj.closed_at = None
        if conv.adopted:
            assert conv.contact_id is not None  # set with adopted (threads.thread)
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
            "needs_reply",
            "needs_reply_reasons",
            "updated_at",
            *SLA_FIELDS,
        ],
    )


def _hint(agg: dict[str, Any]) -> tuple[int | None, str | None]:
    """(score, reasons) of the batch's latest customer message; (None, None) without one."""
    latest = agg["latest_inbound"]
    if latest is None:
        return None, None
    return latest.needs_reply, latest.needs_reply_reasons


def _adopt(conv: Conv, agg: dict[str, Any], what: str) -> Any:
    """For a conversation our own post opened: the first customer message takes over the lead."""
    first = agg["first_inbound"]
    if not conv.adopted or first is None:
        return None
    return {
        "received_at": first.created_at,
        "snippet": snippet(first.msg.text),
        "language": first.language,
        "sentiment": first.sentiment,
    }[what]


def save_channel(
    channel: Channel, cursor: dict[str, Any] | None, created: int, problems: Problems
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


_SLA_TYPES = {name: "text" if name == "sla_state" else "timestamptz" for name in SLA_FIELDS}


def _without_clocks(sla_rows: list[Conversation]) -> PendingClocks:
    """The new conversations' SLA fields back to "no SLA", and no clock to write."""
    blank = Conversation()
    for row in sla_rows:
        for name in SLA_FIELDS:
            setattr(row, name, getattr(blank, name))
    return PendingClocks([], [])


def _sla_rows(
    channel: Channel, fresh: list[Conv], aggs: list[dict[str, Any]]
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
