"""The webhook settings pages: admins only (tests/webcare/test_url_access.py has every role),
the secret shown once, the test event button, the delivery log paged by keyset, the audit."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from integrations.models import (
    PING,
    DeliveryAttempt,
    WebhookChange,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from integrations.services.delivery import deliver_due, secret_of
from tests.integrations.conftest import subscribe


def test_the_secret_is_shown_once(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("integrations:webhook_new"),
        {
            "name": "Gemeente",
            "url": "https://zaken.example.org/webcare",
            "event_types": ["conversation.forwarded", "threat.flagged"],
        },
    )
    assert response.status_code == 200
    subscription = WebhookSubscription.objects.get()
    secret = secret_of(subscription)
    assert secret.startswith("whsec_") and secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert secret not in subscription.secret_encrypted  # stored encrypted
    for name in ("webhook_log", "webhook_edit"):
        page = client.get(reverse(f"integrations:{name}", args=[subscription.pk]))
        assert page.status_code == 200 and secret not in page.content.decode()
    assert secret not in client.get(reverse("integrations:webhooks")).content.decode()
    assert subscription.event_types == ["conversation.forwarded", "threat.flagged"]
    change = WebhookChange.objects.get()
    assert (change.action, change.actor, change.subscription_id) == (
        "created",
        admin_user,
        subscription.pk,
    )


def test_bad_input_is_refused_with_a_reason_and_kept(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("integrations:webhook_new"),
        {"name": "Chat", "url": "ftp://example.org/x", "event_types": []},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Choose at least one event." in body and "Enter a valid URL." in body
    assert 'value="Chat"' in body
    assert not WebhookSubscription.objects.exists()


def test_edit_disable_enable_delete_are_audited(client, admin_user):
    subscription, _ = subscribe(admin_user, "https://example.org/a", "reply.sent")
    client.force_login(admin_user)
    response = client.post(
        reverse("integrations:webhook_edit", args=[subscription.pk]),
        {"name": "Chat", "url": "https://example.org/b", "event_types": ["spike.alert"]},
    )
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.url, subscription.event_types) == (
        "https://example.org/b",
        ["spike.alert"],
    )
    client.post(reverse("integrations:webhook_active", args=[subscription.pk]), {"active": "0"})
    subscription.refresh_from_db()
    assert not subscription.is_active and subscription.disabled_reason
    client.post(reverse("integrations:webhook_active", args=[subscription.pk]), {"active": "1"})
    subscription.refresh_from_db()
    assert subscription.is_active and not subscription.disabled_reason
    client.post(reverse("integrations:webhook_delete", args=[subscription.pk]))
    assert not WebhookSubscription.objects.exists()
    actions = list(WebhookChange.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["created", "changed", "disabled", "enabled", "deleted"]
    assert WebhookChange.objects.get(action="changed").data == {
        "name": "Chat",
        "url": "https://example.org/b",
        "event_types": ["spike.alert"],
    }


def test_the_test_button_pings_that_subscription_only_and_the_log_shows_it(
    client, admin_user, receiver
):
    subscription, secret = subscribe(admin_user, receiver.url, "reply.sent")
    other, _ = subscribe(admin_user, receiver.url, "reply.sent", name="Ander")
    # Even a disabled subscription can be tested before it is enabled again.
    WebhookSubscription.objects.filter(pk=subscription.pk).update(is_active=False)
    client.force_login(admin_user)
    response = client.post(reverse("integrations:webhook_test", args=[subscription.pk]))
    assert response.status_code == 302
    event = WebhookEvent.objects.get(type=PING)
    assert list(WebhookDelivery.objects.values_list("subscription_id", flat=True)) == [
        subscription.pk
    ]
    receiver.statuses = [500]
    assert deliver_due().tried == 1
    assert receiver.requests[0].headers["Webcare-Event-Id"] == str(event.event_id)
    # A test event is tried once: the log is its answer, and it counts for nothing.
    assert WebhookDelivery.objects.get().state == "failed"
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 0
    page = client.get(reverse("integrations:webhook_log", args=[subscription.pk])).content.decode()
    assert str(event.event_id) in page and "HTTP 500" in page
    other_page = client.get(reverse("integrations:webhook_log", args=[other.pk])).content.decode()
    assert str(event.event_id) not in other_page


def test_the_delivery_log_pages_by_keyset(client, admin_user, django_assert_max_num_queries):
    subscription, _ = subscribe(admin_user, "https://example.org/a", "reply.sent")
    event = WebhookEvent.objects.create(type=PING, payload={})
    delivery = WebhookDelivery.objects.create(
        event=event, subscription=subscription, state="pending", next_attempt_at=timezone.now()
    )
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(
            delivery=delivery,
            subscription=subscription,
            number=n,
            started_at=timezone.now(),
            status_code=500,
            error=f"fout-{n:03d}",
        )
        for n in range(1, 61)
    )
    client.force_login(admin_user)
    url = reverse("integrations:webhook_log", args=[subscription.pk])
    with django_assert_max_num_queries(12):
        first = client.get(url)
    rows = first.context["attempts"]
    assert [a.number for a in rows] == list(range(60, 10, -1))
    second = client.get(url, {"before": first.context["next_before"]})
    assert [a.number for a in second.context["attempts"]] == list(range(10, 0, -1))
    assert second.context["next_before"] is None


def test_settings_links_to_webhooks_for_admins_only(client, admin_user, manager):
    client.force_login(admin_user)
    link = reverse("integrations:webhooks")
    assert link in client.get(reverse("settings")).content.decode()
    client.force_login(manager)
    assert link not in client.get(reverse("settings")).content.decode()
    assert client.get(link).status_code == 403
