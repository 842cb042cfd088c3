"""Threading: which conversation each message joins (existing, reopened, resumed or new), a
pure decision over state read in a few set-based queries."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from inbox.models import (
    Conversation,
    Message,
    Status,
)
from inbox.services.ingest.cleaning import chunks, clip
from inbox.services.ingest.records import OPEN, Conv, Row
from routing.sla.clocks import fetch_with_sla_fields


def reopen_window() -> timedelta:
    return timedelta(days=settings.REOPEN_WINDOW_DAYS)


def thread(channel_id: int, rows: list[Row]) -> dict[str, Conv]:
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
        chain: list[Row] = []
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
            keys[item.external_id] = clip(key, 255)

    convs = _load_conversations(channel_id, set(keys.values()))
    window = reopen_window()
    for row in rows:  # oldest first
        key = keys[row.external_id]
        conv = convs.get(key)
        if conv is None:
            conv = _open(key, row, previous=None)
        elif conv.status in OPEN or conv.is_new or conv.reopened:
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
                conv.status = _working_status(conv.row)
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


def new_status(conv: Conv) -> str | None:
    """The status this batch gives a stored conversation, or None when it keeps its own."""
    if conv.reopened:
        return Status.NEW
    if conv.adopted:
        # A team's conversation waiting for the customer's first message (a handover to
        # private, inbox/services/handover.py) stays with its team and assignee.
        return _working_status(conv.row)
    if conv.resumed_from:
        return conv.status
    return None


def _open(key: str, row: Row, *, previous: int | None) -> Conv:
    return Conv(
        key=key,
        is_new=True,
        # Our own post (made outside the app) needs no triage until a customer answers it.
        status=Status.ANSWERED if row.own else Status.NEW,
        contact_id=row.contact_id,
        previous_id=previous,
        has_inbound=not row.own,
    )


def existing_external_ids(channel_id: int, external_ids: list[str]) -> set[str]:
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


def _load_conversations(channel_id: int, keys: set[str]) -> dict[str, Conv]:
    """Per thread key: the open conversation, else the most recent finished one.

    Loaded with what the SLA rules read, so the batch's clock decisions need no second read.
    Locked for what we will update so a concurrent close cannot interleave; id order keeps
    two lockers from deadlocking.
    """
    out: dict[str, Conv] = {}
    for part in chunks(sorted(keys), 2000):
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
                known.status in OPEN or (obj.status not in OPEN and known.pk > obj.pk)
            ):
                continue
            out[key] = Conv(
                key=key,
                id=obj.pk,
                status=obj.status,
                closed_at=obj.closed_at,
                contact_id=obj.contact_id,
                has_inbound=obj.last_inbound_at is not None,
                obj=obj,
            )
    return out
