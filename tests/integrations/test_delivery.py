"""Delivery: at least once, the same event id on every try, signed, backoff, a dead receiver
disabled after a day with the administrators told. A real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from inbox.models import Notification
from inbox.services.triage import forward_conversation
from integrations import signing
from integrations.models import (
    DeliveryAttempt,
    DeliveryState,
    EventType,
    WebhookChange,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from integrations.services.delivery import claim_next, deliver_due, retry_delay
from integrations.services.subscriptions import set_active
from tests.factories import ConversationFactory
from tests.integrations.conftest import subscribe

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FORWARDED = EventType.CONVERSATION_FORWARDED


def forward(conversation, team, user):
    return forward_conversation(
        conversation=conversation, department=team, acting_user=user, version=conversation.version
    )


def test_the_retry_schedule_doubles_up_to_an_hour():
    minutes = [retry_delay(n).total_seconds() / 60 for n in range(1, 10)]
    assert minutes == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_a_receiver_that_fails_twice_gets_the_event_with_the_same_id_every_try(
    receiver, admin_user, coordinator, team_a
):
    receiver.statuses = [500, 503, 200]
    with time_machine.travel(NOW, tick=False) as clock:
        subscription, secret = subscribe(admin_user, receiver.url, FORWARDED)
        forward(ConversationFactory(), team_a, coordinator)
        event = WebhookEvent.objects.get()

        assert deliver_due().tried == 1  # 500
        clock.shift(timedelta(seconds=59))
        assert deliver_due().tried == 0  # the first retry waits a minute
        clock.shift(timedelta(seconds=1))
        assert deliver_due().tried == 1  # 503
        clock.shift(timedelta(minutes=1))
        assert deliver_due().tried == 0  # then two
        clock.shift(timedelta(minutes=1))
        assert deliver_due().delivered == 1  # 200
        clock.shift(timedelta(hours=2))
        assert deliver_due().tried == 0  # delivered: never again

    assert len(receiver.requests) == 3
    ids = {r.headers["Webcare-Event-Id"] for r in receiver.requests}
    assert ids == {str(event.event_id)}
    assert len({r.body for r in receiver.requests}) == 1  # the same bytes every try
    for request in receiver.requests:
        header = request.headers["Webcare-Signature"]
        sent_at = int(request.headers["Webcare-Timestamp"])
        assert header.startswith(f"t={sent_at},v1=")
        assert signing.verify(secret, request.body, header, now=sent_at)
        assert not signing.verify("whsec_wrong", request.body, header, now=sent_at)
    body = json.loads(receiver.requests[-1].body)
    assert body["id"] == str(event.event_id) and body["type"] == "conversation.forwarded"
    assert body["data"]["department_id"] == team_a.pk

    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)
    tries = list(DeliveryAttempt.objects.order_by("id").values_list("number", "status_code", "ok"))
    assert tries == [(1, 500, False), (2, 503, False), (3, 200, True)]
    subscription.refresh_from_db()
    assert subscription.is_active and subscription.consecutive_failures == 0
    assert subscription.failing_since is None


def test_every_event_arrives_once_the_receiver_recovers(receiver, admin_user, coordinator, team_a):
    receiver.statuses = [500, 500, 200]
    with time_machine.travel(NOW, tick=False) as clock:
        subscribe(admin_user, receiver.url, FORWARDED)
        for _ in range(2):
            forward(ConversationFactory(), team_a, coordinator)
        assert deliver_due().delivered == 0  # both fail: the receiver's two failures
        clock.shift(timedelta(minutes=1))
        assert deliver_due().delivered == 2
        clock.shift(timedelta(days=1))
        assert deliver_due().tried == 0
    sent = Counter(r.headers["Webcare-Event-Id"] for r in receiver.requests)
    # Each event twice: once refused, once taken, under its one id.
    assert sorted(sent.values()) == [2, 2]
    assert set(sent) == {str(e) for e in WebhookEvent.objects.values_list("event_id", flat=True)}


def test_a_receiver_down_for_a_day_is_disabled_and_the_admins_are_told(
    closed_port_url,
    admin_user,
    coordinator,
    team_a,
    eager_celery,
    django_capture_on_commit_callbacks,
    settings,
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    admin_user.email = "ada@example.org"
    admin_user.save(update_fields=["email"])
    with time_machine.travel(NOW, tick=False) as clock:
        subscription, _secret = subscribe(admin_user, closed_port_url, FORWARDED)
        forward(ConversationFactory(), team_a, coordinator)
        delivery = WebhookDelivery.objects.get()
        tries = 0
        while True:
            with django_capture_on_commit_callbacks(execute=True):
                assert deliver_due().tried == 1
            tries += 1
            subscription.refresh_from_db()
            if not subscription.is_active:
                break
            assert tries < 40
            assert not Notification.objects.filter(kind="webhook_disabled").exists()
            delivery.refresh_from_db()
            clock.move_to(delivery.next_attempt_at)

        # Disabled at the first failure a day after the first one, not earlier.
        assert datetime.now(UTC) - NOW >= timedelta(hours=24)
        assert datetime.now(UTC) - NOW < timedelta(hours=25)
        assert subscription.disabled_at is not None and "24 hours" in subscription.disabled_reason
        assert subscription.consecutive_failures == tries
        note = Notification.objects.get(kind="webhook_disabled")
        assert note.user == admin_user and subscription.name in note.text
        assert note.url == subscription.get_absolute_url()
        assert [m.to for m in mail.outbox] == [["ada@example.org"]]
        assert subscription.name in mail.outbox[0].subject
        assert WebhookChange.objects.filter(action="disabled", actor=None).count() == 1

        # Its deliveries wait: kept, not tried, not given up.
        clock.shift(timedelta(hours=3))
        assert deliver_due().tried == 0
        delivery.refresh_from_db()
        assert delivery.state == DeliveryState.PENDING and delivery.attempts == tries

        # Enabling it again resumes them at once, with a fresh day of retries.
        set_active(subscription=subscription, active=True, acting_user=admin_user)
        assert deliver_due().tried == 1
        subscription.refresh_from_db()
        assert subscription.is_active and subscription.consecutive_failures == 1


def test_a_delivery_refused_for_a_day_by_a_working_receiver_is_given_up(
    receiver, admin_user, coordinator, team_a
):
    """One event the receiver always refuses, while others go through: it is not retried
    forever, and the subscription stays active."""
    with time_machine.travel(NOW, tick=False) as clock:
        subscribe(admin_user, receiver.url, FORWARDED)
        forward(ConversationFactory(), team_a, coordinator)
        poison = WebhookDelivery.objects.get()
        receiver.statuses = [422]
        deliver_due()
        for _ in range(40):
            poison.refresh_from_db()
            if poison.state != DeliveryState.PENDING:
                break
            clock.move_to(poison.next_attempt_at)
            # A success of another delivery resets the subscription's run of failures.
            WebhookSubscription.objects.update(failing_since=None)
            deliver_due()
        assert poison.state == DeliveryState.FAILED
        assert WebhookSubscription.objects.get().is_active


@pytest.mark.django_db
def test_a_claimed_delivery_is_not_claimed_twice_until_its_lease_ends(
    receiver, admin_user, coordinator, team_a
):
    with time_machine.travel(NOW, tick=False) as clock:
        subscribe(admin_user, receiver.url, FORWARDED)
        forward(ConversationFactory(), team_a, coordinator)
        first = claim_next(NOW)
        assert first is not None
        assert claim_next(NOW) is None  # held by the first worker
        clock.shift(timedelta(seconds=61))  # the holder died: the lease is over
        assert claim_next(datetime.now(UTC)) == first


def test_a_disabled_subscription_gets_no_new_events(receiver, admin_user, coordinator, team_a):
    subscription, _ = subscribe(admin_user, receiver.url, FORWARDED)
    set_active(subscription=subscription, active=False, acting_user=admin_user)
    forward(ConversationFactory(), team_a, coordinator)
    assert not WebhookEvent.objects.exists()
