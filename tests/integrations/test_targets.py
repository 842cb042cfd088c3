"""Webhooks go to public addresses only: a subscription cannot reach into the network the app
runs in (loopback, the LAN, cloud metadata at 169.254.169.254) unless the server allows it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from inbox.services.triage import forward_conversation
from integrations.models import DeliveryAttempt, EventType, WebhookSubscription
from integrations.services.delivery import deliver_due
from tests.factories import ConversationFactory
from tests.integrations.conftest import subscribe

pytestmark = pytest.mark.django_db

FORWARDED = EventType.CONVERSATION_FORWARDED


def post_form(client, url: str):
    return client.post(
        reverse("integrations:webhook_new"),
        {"name": "Intern", "url": url, "event_types": [FORWARDED]},
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "https://api.localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.1.20/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
def test_the_form_refuses_a_private_or_local_address(client, admin_user, url):
    client.force_login(admin_user)
    response = post_form(client, url)
    assert response.status_code == 200
    assert "private or local address" in response.content.decode()
    assert not WebhookSubscription.objects.exists()


def test_the_form_takes_a_public_address_and_private_ones_when_allowed(
    client, admin_user, settings
):
    client.force_login(admin_user)
    post_form(client, "https://93.184.215.14/hook")
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    post_form(client, "http://192.168.1.20/hook")
    assert sorted(WebhookSubscription.objects.values_list("url", flat=True)) == [
        "http://192.168.1.20/hook",
        "https://93.184.215.14/hook",
    ]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_delivery_to_a_private_address_is_refused_before_anything_is_sent(
    receiver, settings, admin_user, coordinator, team_a, host
):
    # Typed in before the server refused private targets, or a name that resolves to one.
    url = receiver.url.replace("127.0.0.1", host)
    subscribe(admin_user, url, FORWARDED)
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    conversation = ConversationFactory()
    forward_conversation(
        conversation=conversation,
        department=team_a,
        acting_user=coordinator,
        version=conversation.version,
    )
    run = deliver_due()
    assert (run.tried, run.delivered) == (1, 0)
    assert receiver.requests == []
    attempt = DeliveryAttempt.objects.get()
    assert not attempt.ok and attempt.status_code is None
    assert "127.0.0.1" in attempt.error and "WEBHOOK_ALLOW_PRIVATE_TARGETS" in attempt.error

    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # the same receiver, allowed: it arrives
    attempt.delivery.next_attempt_at = attempt.started_at
    attempt.delivery.save(update_fields=["next_attempt_at"])
    assert deliver_due().delivered == 1
    assert len(receiver.requests) == 1
