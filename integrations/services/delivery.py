"""Deliver webhook events: at least once, signed, with backoff, and give up on a dead receiver.

The protocol for each due delivery (pending, next_attempt_at passed, subscription active):

1. Claim it: pick one due row (PostgreSQL: FOR UPDATE SKIP LOCKED, so workers pass each other
   by; SQLite ignores the lock and writes one at a time), then a conditional UPDATE that pushes
   next_attempt_at forward by LEASE. Only one worker's UPDATE matches, on both databases; a
   worker that dies mid-try leaves the delivery due again once the lease is over.
2. POST the stored payload, signed (integrations.signing), no redirects followed, short
   timeouts, outside any transaction.
3. Record the try (DeliveryAttempt) and its outcome in one transaction. 2xx: delivered.
   Anything else (3xx, 4xx, 5xx, a timeout, a refused connection): try again after 1, 2, 4,
   ... minutes, at most an hour apart (retry_delay: the same schedule every time, no jitter).

The same event id goes with every try, so a receiver dedupes on it (Webcare-Event-Id).

A subscription whose tries have failed without a single success for DISABLE_AFTER (a day) is
disabled: its pending deliveries wait, every administrator gets a notification and an e-mail
(after commit), and re-enabling it (integrations.services.subscriptions) resumes them. A single
delivery that keeps failing for a day while other deliveries to the same receiver succeed is
given up (failed), so one event the receiver refuses cannot be retried forever.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox.channels.credentials import decrypt_credentials
from integrations import signing, targets
from integrations.models import (
    PING,
    DeliveryAttempt,
    DeliveryState,
    WebhookChange,
    WebhookDelivery,
    WebhookSubscription,
)
from webcare.db import update_returning_pks
from webcare.jobs import enqueue

log = logging.getLogger(__name__)

DISABLE_AFTER = timedelta(hours=24)
# Longer than the HTTP timeouts below: a worker takes over only when the holder cannot still
# be waiting on the receiver.
LEASE = timedelta(seconds=60)
TIMEOUT = (3.05, 10)  # connect, read (seconds)
# Deliveries per task run; a full run queues the next one.
BATCH = 50
USER_AGENT = "Webcare-Webhooks/1"


@dataclass
class DeliveryRun:
    tried: int = 0
    delivered: int = 0
    more: bool = False


def retry_delay(failures: int) -> timedelta:
    """How long after the failures-th failed try the next one goes: 1 min, 2, 4, ... 1 h."""
    return timedelta(seconds=min(60 * 2 ** min(max(failures - 1, 0), 10), 3600))


def _due(now: datetime):
    # Uses index: delivery_due_idx (next_attempt_at WHERE state = 'pending').
    # A ping (the test button) goes to its subscription even while it is disabled.
    return WebhookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)


def claim_next(now: datetime) -> int | None:
    """The id of a due delivery this caller now holds for LEASE, or None when none is due."""
    for _round in range(5):
        with transaction.atomic():
            candidate = (
                _due(now)
                .filter(Q(subscription__is_active=True) | Q(event__type=PING))
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("next_attempt_at", "id")
                .values_list("pk", flat=True)
                .first()
            )
            if candidate is None:
                return None
            if update_returning_pks(_due(now).filter(pk=candidate), next_attempt_at=now + LEASE):
                return candidate
        # Another worker took it between our read and our write (SQLite): look again.
    return None


def deliver_due(*, limit: int = BATCH) -> DeliveryRun:
    """Try every due delivery, up to limit. Safe to run in any number of workers at once."""
    run = DeliveryRun()
    while run.tried < limit:
        delivery_id = claim_next(timezone.now())
        if delivery_id is None:
            return run
        run.tried += 1
        run.delivered += deliver_one(delivery_id)
    run.more = True
    return run


def deliver_one(delivery_id: int) -> bool:
    """One try of a claimed delivery; True when the receiver took it."""
    delivery = WebhookDelivery.objects.select_related("event", "subscription").get(pk=delivery_id)
    subscription = delivery.subscription
    body = signing.body_bytes(delivery.event.payload)
    started = timezone.now()
    timestamp = int(started.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Webcare-Event-Id": str(delivery.event.event_id),
        "Webcare-Event-Type": delivery.event.type,
        "Webcare-Timestamp": str(timestamp),
        "Webcare-Signature": signing.signature_header(secret_of(subscription), timestamp, body),
    }
    status: int | None = None
    clock = time.perf_counter()
    try:
        # stream: the receiver's answer is not read, only its status (a huge body costs nothing).
        with (
            targets.session(TIMEOUT) as http,
            http.post(
                subscription.url,
                data=body,
                headers=headers,
                timeout=TIMEOUT,
                allow_redirects=False,
                stream=True,
            ) as response,
        ):
            status = response.status_code
        ok = 200 <= status < 300
        error = "" if ok else f"HTTP {status} {response.reason or ''}".strip()
    except targets.InvalidIPAddress as exc:
        ok = False
        error = _(
            "Refused: the target resolves to %(address)s, a private, local or reserved address "
            "(WEBHOOK_ALLOW_PRIVATE_TARGETS)."
        ) % {"address": exc}
    except requests.RequestException as exc:
        ok, error = False, f"{type(exc).__name__}: {exc}"
    duration_ms = int((time.perf_counter() - clock) * 1000)
    _record(delivery, ok=ok, status=status, error=error, started=started, duration_ms=duration_ms)
    return ok


def secret_of(subscription: WebhookSubscription) -> str:
    return decrypt_credentials(subscription.secret_encrypted)["secret"]


@transaction.atomic
def _record(
    delivery: WebhookDelivery,
    *,
    ok: bool,
    status: int | None,
    error: str,
    started: datetime,
    duration_ms: int,
) -> None:
    now = timezone.now()
    number = delivery.attempts + 1
    error = error[:500]
    DeliveryAttempt.objects.create(
        delivery=delivery,
        subscription_id=delivery.subscription_id,
        number=number,
        started_at=started,
        duration_ms=duration_ms,
        status_code=status,
        ok=ok,
        error=error,
    )
    common = {"attempts": number, "last_status_code": status, "last_error": error}
    mine = WebhookDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING)
    ping = delivery.event.type == PING
    if ok:
        mine.update(**common, state=DeliveryState.DELIVERED, delivered_at=now, failing_since=None)
        if not ping:
            WebhookSubscription.objects.filter(pk=delivery.subscription_id).update(
                consecutive_failures=0, failing_since=None, last_success_at=now
            )
        return
    if ping:
        # The test button's answer is the log entry; a test event is tried once.
        mine.update(**common, state=DeliveryState.FAILED)
        return
    WebhookSubscription.objects.filter(pk=delivery.subscription_id).update(
        consecutive_failures=F("consecutive_failures") + 1,
        failing_since=Coalesce(F("failing_since"), Value(now)),
        last_failure_at=now,
    )
    subscription = WebhookSubscription.objects.only("id", "name", "failing_since", "is_active").get(
        pk=delivery.subscription_id
    )
    failing_since = delivery.failing_since or now
    since = subscription.failing_since or now
    if subscription.is_active and since <= now - DISABLE_AFTER:
        disable_failing(subscription, last_error=error, now=now)
    elif failing_since <= now - DISABLE_AFTER:
        mine.update(**common, state=DeliveryState.FAILED, failing_since=failing_since)
        log.warning("webhook delivery %s given up after %s tries", delivery.pk, number)
        return
    # Pending: tried again on schedule (a disabled subscription's once it is enabled again).
    mine.update(**common, failing_since=failing_since, next_attempt_at=now + retry_delay(number))


def disable_failing(subscription: WebhookSubscription, *, last_error: str, now: datetime) -> bool:
    """Disable a subscription whose receiver failed for a day; tell every administrator.

    Conditional, so of several workers failing at once exactly one disables and notifies."""
    from inbox.services.notifications import notify_users
    from webcare.accounts.models import Role, User

    reason = _("The receiver failed for 24 hours. Last error: %(error)s") % {"error": last_error}
    won = WebhookSubscription.objects.filter(pk=subscription.pk, is_active=True).update(
        is_active=False, disabled_reason=reason[:500], disabled_at=now
    )
    if not won:
        return False
    WebhookChange.objects.create(
        subscription_id=subscription.pk, actor=None, action="disabled", data={"reason": reason}
    )
    admins = User.objects.filter(Q(role=Role.ADMIN) | Q(is_superuser=True), is_active=True)
    notify_users(
        users=admins,
        kind="webhook_disabled",
        text=_("Webhook %(name)s was disabled: its receiver failed for 24 hours.")
        % {"name": subscription.name},
        url=reverse("integrations:webhook_log", args=[subscription.pk]),
        dedupe_key=f"webhook-disabled:{subscription.pk}:{now.isoformat()}",
        email=False,  # the mail goes from a task (mail_disabled), after commit
    )
    enqueue("integrations.mail_webhook_disabled", subscription.pk)
    log.warning("webhook subscription %s disabled after a day of failures", subscription.pk)
    return True


def mail_disabled(*, subscription_id: int) -> int:
    """E-mail the administrators that a subscription was disabled (run by a task after commit).
    In the site's language: one mail to several people. Returns how many were addressed."""
    from django.core.mail import send_mail
    from django.template.loader import render_to_string
    from django.utils import translation

    from webcare.accounts.models import Role, User

    subscription = WebhookSubscription.objects.filter(pk=subscription_id, is_active=False).first()
    if subscription is None:
        return 0  # enabled again (or deleted) meanwhile: nothing to tell
    addresses = sorted(
        User.objects.filter(Q(role=Role.ADMIN) | Q(is_superuser=True), is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
        .distinct()
    )
    if not addresses:
        return 0
    context = {"subscription": subscription, "url": subscription.get_absolute_url()}
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string("emails/webhook-disabled-subject.txt", context)
        body = render_to_string("emails/webhook-disabled-body.txt", context)
    send_mail(" ".join(subject.split())[:150], body, settings.DEFAULT_FROM_EMAIL, addresses)
    return len(addresses)
