"""Emit webhook events: the outbox half of the webhooks.

A service that changes state calls emit() (or emit_many()) inside its own transaction: the
event row and one delivery row per active subscription that wants its type are written with
the change, so a rolled-back change sends nothing and a committed one is delivered at least
once (integrations.services.delivery), by a task queued after commit and by the beat sweep.

Most installations subscribe to nothing: wants() answers from a per-process copy of the
subscribed types (webcare.refcache, refreshed within its TTL), so ingest pays one dictionary
lookup per batch, not a query, while nobody listens.

Payloads carry ids and the few fields a receiver needs to find the item (channel kind, team,
the page's path), never message text, names of customers or secrets; a receiver that needs
more asks the API with the ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from integrations.models import (
    PING,
    DeliveryState,
    EventType,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from webcare import refcache
from webcare.jobs import enqueue

DELIVER_TASK = "integrations.deliver_webhooks"


def _subscribed_types() -> frozenset[str]:
    rows = WebhookSubscription.objects.filter(is_active=True).values_list("event_types", flat=True)
    return frozenset(t for types in rows for t in types or ())


def wants(event_type: str) -> bool:
    """Whether any active subscription may want event_type (cached: see the module docstring).

    A stale True costs one query in emit; a stale False (a subscription made in another
    process within the TTL) misses events until the copy is refreshed."""
    return event_type in refcache.cached(("integrations", "subscribed-types"), _subscribed_types)


def forget_subscribed_types() -> None:
    """This process's copy is out of date (a subscription changed)."""
    refcache.clear()


def payload(event_type: str, event_id: uuid.UUID, occurred_at: datetime, data: dict) -> dict:
    return {
        "id": str(event_id),
        "type": event_type,
        "occurred_at": occurred_at.astimezone(UTC).isoformat(),
        "data": data,
    }


def emit(event_type: str, data: dict[str, Any], *, occurred_at: datetime) -> WebhookEvent | None:
    """Record one event for every active subscription that wants it; None when none does."""
    events = emit_many(event_type, [data], occurred_at=occurred_at)
    return events[0] if events else None


def emit_many(
    event_type: str, items: Sequence[dict[str, Any]], *, occurred_at: datetime
) -> list[WebhookEvent]:
    """One event per item of data, in the caller's transaction; delivered after commit.

    Three statements whatever the number of items: the subscriptions, the events, the
    deliveries. Nothing at all when no active subscription wants the type.
    """
    EventType(event_type)  # a typo is a bug, not an event nobody receives
    if not items or not wants(event_type):
        return []
    return _record(event_type, items, occurred_at, _subscribers(event_type))


def emit_ping(subscription: WebhookSubscription, *, occurred_at: datetime) -> WebhookEvent:
    """The "send test event" button: a ping to this one subscription, active or not."""
    data = {"subscription_id": subscription.pk, "name": subscription.name}
    return _record(PING, [data], occurred_at, [subscription.pk])[0]


def _subscribers(event_type: str) -> list[int]:
    rows = WebhookSubscription.objects.filter(is_active=True).values_list("pk", "event_types")
    return [pk for pk, types in rows if event_type in (types or ())]


def _record(
    event_type: str, items: Sequence[dict[str, Any]], occurred_at: datetime, subscribers: list[int]
) -> list[WebhookEvent]:
    if not subscribers:
        return []
    now = timezone.now()
    events = []
    for data in items:
        event_id = uuid.uuid4()
        events.append(
            WebhookEvent(
                event_id=event_id,
                type=event_type,
                payload=payload(event_type, event_id, occurred_at, data),
            )
        )
    with transaction.atomic():
        # Primary keys come back on PostgreSQL and SQLite (RETURNING) alike.
        WebhookEvent.objects.bulk_create(events, batch_size=1000)
        WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    event=event,
                    subscription_id=pk,
                    state=DeliveryState.PENDING,
                    next_attempt_at=now,
                )
                for event in events
                for pk in subscribers
            ],
            batch_size=1000,
        )
        # One task for the lot, queued once the change commits (nothing if it rolls back).
        enqueue(DELIVER_TASK)
    return events


def conversation_data(conversation_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """What a receiver gets to know of each conversation, by id: one query for all of them."""
    from inbox.models import Conversation

    rows = Conversation.objects.filter(pk__in=list(conversation_ids)).values_list(
        "pk", "channel_id", "channel__kind", "department_id", "department__name", "status"
    )
    return {
        pk: {
            "conversation_id": pk,
            "channel_id": channel_id,
            "channel_kind": kind,
            "department_id": department_id,
            "department": department_name or "",
            "status": status,
            "url_path": reverse("inbox:conversation", args=[pk]),
        }
        for pk, channel_id, kind, department_id, department_name, status in rows
    }


def emit_for_conversations(
    event_type: str,
    conversation_ids: Sequence[int],
    *,
    occurred_at: datetime,
    extra: dict[str, Any] | None = None,
) -> list[WebhookEvent]:
    """emit_many with each conversation's data (read only when someone listens)."""
    if not conversation_ids or not wants(event_type):
        return []
    found = conversation_data(conversation_ids)
    items = [{**found[pk], **(extra or {})} for pk in conversation_ids if pk in found]
    return emit_many(event_type, items, occurred_at=occurred_at)
