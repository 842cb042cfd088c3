"""Create, change, enable, disable and delete webhook subscriptions (administrators only).

Each action writes one WebhookChange (the subscriptions' audit trail) in its transaction. The
signing secret is made here, stored encrypted, and returned once by create_subscription; no
page shows it again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox.channels.credentials import encrypt_credentials
from integrations import signing
from integrations.models import (
    DeliveryState,
    EventType,
    WebhookChange,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from integrations.services.events import DELIVER_TASK, emit_ping, forget_subscribed_types
from webcare.jobs import enqueue

logger = logging.getLogger(__name__)

FIELDS = ("name", "url", "event_types")


def _check(acting_user) -> None:
    if not getattr(acting_user, "is_admin_role", False):
        raise PermissionDenied(_("Only administrators manage webhooks."))


def _audit(subscription_id: int, acting_user, action: str, **data) -> None:
    WebhookChange.objects.create(
        subscription_id=subscription_id, actor=acting_user, action=action, data=data
    )
    logger.info("webhook %s %s by %s", subscription_id, action, getattr(acting_user, "pk", None))
    transaction.on_commit(forget_subscribed_types)


def _types(event_types: Iterable[str]) -> list[str]:
    chosen = set(event_types)
    # Stored in the order of the list of types, whatever order the form sent.
    return [t for t in EventType.values if t in chosen]


def create_subscription(
    *, name: str, url: str, event_types: Iterable[str], acting_user
) -> tuple[WebhookSubscription, str]:
    """A new active subscription, and its signing secret (to be shown this once)."""
    _check(acting_user)
    secret = signing.new_secret()
    with transaction.atomic():
        subscription = WebhookSubscription.objects.create(
            name=name,
            url=url,
            event_types=_types(event_types),
            secret_encrypted=encrypt_credentials({"secret": secret}),
            created_by=acting_user,
        )
        _audit(
            subscription.pk,
            acting_user,
            "created",
            name=name,
            url=url,
            event_types=subscription.event_types,
        )
    return subscription, secret


def update_subscription(
    *,
    subscription: WebhookSubscription,
    name: str,
    url: str,
    event_types: Iterable[str],
    acting_user,
) -> WebhookSubscription:
    _check(acting_user)
    new = {"name": name, "url": url, "event_types": _types(event_types)}
    changed = {k: v for k, v in new.items() if getattr(subscription, k) != v}
    with transaction.atomic():
        for key, value in new.items():
            setattr(subscription, key, value)
        subscription.save(update_fields=[*FIELDS, "updated_at"])
        _audit(subscription.pk, acting_user, "changed", **changed)
    return subscription


def set_active(*, subscription: WebhookSubscription, active: bool, acting_user) -> None:
    """Enable (resuming the pending deliveries at once) or disable by hand."""
    _check(acting_user)
    now = timezone.now()
    with transaction.atomic():
        if active:
            WebhookSubscription.objects.filter(pk=subscription.pk).update(
                is_active=True,
                disabled_reason="",
                disabled_at=None,
                consecutive_failures=0,
                failing_since=None,
                updated_at=now,
            )
            # A fresh start: the day of failures that disabled it does not count again.
            WebhookDelivery.objects.filter(
                subscription_id=subscription.pk, state=DeliveryState.PENDING
            ).update(next_attempt_at=now, failing_since=None)
            enqueue(DELIVER_TASK)
        else:
            WebhookSubscription.objects.filter(pk=subscription.pk).update(
                is_active=False,
                disabled_reason=_("Disabled by %(user)s.") % {"user": acting_user},
                disabled_at=now,
                updated_at=now,
            )
        _audit(subscription.pk, acting_user, "enabled" if active else "disabled")
    subscription.refresh_from_db()


def delete_subscription(*, subscription: WebhookSubscription, acting_user) -> None:
    """Delete it with its deliveries and log; the audit trail keeps what it was."""
    _check(acting_user)
    with transaction.atomic():
        _audit(
            subscription.pk,
            acting_user,
            "deleted",
            name=subscription.name,
            url=subscription.url,
        )
        subscription.delete()


def send_test_event(*, subscription: WebhookSubscription, acting_user) -> WebhookEvent:
    """A ping event to this subscription only, delivered like any other (once, no retries)."""
    _check(acting_user)
    with transaction.atomic():
        event = emit_ping(subscription, occurred_at=timezone.now())
        _audit(subscription.pk, acting_user, "test_sent", event_id=str(event.event_id))
    return event
