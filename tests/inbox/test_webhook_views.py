"""Push endpoints end to end: real requests through Django into the real ingest service."""

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.test import Client
from django.urls import include, path, reverse

from inbox.channels.credentials import encrypt_credentials
from inbox.channels.webhook import sign
from inbox.models import Channel, Conversation, Direction, Message, Status
from inbox.views import webhooks

# The project includes inbox.webhook_urls under "hooks/"; this module routes the
# same way so the tests stand on their own.
urlpatterns = [path("hooks/", include("inbox.webhook_urls"))]
pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
APP_SECRET = "meta-app-secret"
SECRET = "whsec_4f1c9a"
NOW = datetime(2025, 3, 14, 9, 45, tzinfo=UTC)


@pytest.fixture(autouse=True)
def local_cache(settings):
    # The replay guard uses the cache: keep it per test, not in the shared Redis.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # One process-wide dict: emptied, or a signature seen by an earlier test (on SQLite the
    # same channel id and second again) reads as a replay.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)  # machines have no CSRF token


@pytest.fixture
def facebook(db):
    return Channel.objects.create(
        kind="facebook",
        name="Facebook Woonstad",
        own_handles=["woonstadnl"],
        config={"page_id": "104328765432101"},
        credentials_encrypted=encrypt_credentials(
            {"access_token": "EAAB", "app_secret": APP_SECRET, "verify_token": "vt-123"}
        ),
    )


@pytest.fixture
def instagram(db):
    return Channel.objects.create(
        kind="instagram",
        name="Instagram Woonstad",
        own_handles=["woonstad"],
        config={"ig_user_id": "17841405822304914"},
        credentials_encrypted=encrypt_credentials(
            {"access_token": "EAAB", "app_secret": APP_SECRET}
        ),
    )


@pytest.fixture
def hook(db):
    return Channel.objects.create(
        kind="webhook",
        name="Klantportaal",
        own_handles=["woonstadnl"],
        credentials_encrypted=encrypt_credentials({"secret": SECRET}),
    )


def meta_url(channel):
    return reverse("hooks:meta", args=[channel.pk])


def generic_url(channel):
    return reverse("hooks:generic", args=[channel.pk])


def meta_post(client, channel, body, secret=APP_SECRET, **extra):
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        meta_url(channel),
        data=body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature},
        **extra,
    )


def generic_post(client, channel, body, at=None, secret=SECRET):
    ts = int((at or datetime.now(UTC)).timestamp())
    return client.post(
        generic_url(channel),
        data=body,
        content_type="application/json",
        headers={"X-Webcare-Timestamp": str(ts), "X-Webcare-Signature": sign(secret, ts, body)},
    )


def test_endpoints_are_declared_public_and_csrf_exempt():
    for view in (webhooks.meta_webhook, webhooks.generic_webhook):
        assert view.access_rule == "public"
        assert view.csrf_exempt


# --- Meta --------------------------------------------------------------------------------


def test_meta_handshake(client, facebook):
    params = {"hub.mode": "subscribe", "hub.verify_token": "vt-123", "hub.challenge": "1158201444"}
    response = client.get(meta_url(facebook), params)
    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")


def test_meta_handshake_with_wrong_token_is_refused(client, facebook, caplog):
    params = {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "<script>"}
    response = client.get(meta_url(facebook), params)
    assert response.status_code == 403
    assert b"<script>" not in response.content
    assert "handshake refused" in caplog.text


def test_meta_delivery_lands_in_the_inbox_fast(client, facebook):
    body = (FIXTURES / "meta" / "webhook_page_feed.json").read_bytes()
    started = time.perf_counter()
    response = meta_post(client, facebook, body)
    elapsed = time.perf_counter() - started

    assert response.status_code == 200, response.content
    assert response.json() == {"received": 3}
    assert elapsed < 5  # pushed mention visible in the inbox within 5 s (DESIGN.md budget)
    messages = Message.objects.filter(channel=facebook).order_by("created_at")
    assert [m.external_id for m in messages] == [
        "823456789012345_1187654321098765",
        "823456789012345_1187654321098999",
        "823456789012345_1187654321098111",
    ]
    complaint, own_reply, anonymous = messages
    assert own_reply.direction == Direction.OUTBOUND
    assert own_reply.conversation_id == complaint.conversation_id  # threaded under the comment
    assert anonymous.conversation_id != complaint.conversation_id
    assert anonymous.text.startswith("مرحبا")
    assert Conversation.objects.filter(channel=facebook).count() == 2
    assert set(Conversation.objects.filter(channel=facebook).values_list("status", flat=True)) <= {
        Status.NEW,
        Status.ANSWERED,
    }


def test_meta_delivery_twice_creates_nothing_new(client, facebook):
    body = (FIXTURES / "meta" / "webhook_page_feed.json").read_bytes()
    assert meta_post(client, facebook, body).status_code == 200
    assert meta_post(client, facebook, body).status_code == 200
    assert Message.objects.filter(channel=facebook).count() == 3
    assert Conversation.objects.filter(channel=facebook).count() == 2


def test_instagram_delivery(client, instagram):
    body = (FIXTURES / "meta" / "webhook_instagram_comments.json").read_bytes()
    response = meta_post(client, instagram, body)
    assert response.status_code == 200
    assert Message.objects.filter(channel=instagram).count() == 2
    assert Conversation.objects.filter(channel=instagram).count() == 1


@pytest.mark.parametrize("secret", ["forged-secret", ""])
def test_forged_meta_signature_is_refused_and_logged(client, facebook, caplog, secret):
    body = (FIXTURES / "meta" / "webhook_page_feed.json").read_bytes()
    if secret:
        response = meta_post(client, facebook, body, secret=secret)
    else:
        response = client.post(meta_url(facebook), data=body, content_type="application/json")
    assert response.status_code == 403
    assert response.json() == {"error": "invalid signature"}
    assert "Forged or unsigned Meta delivery" in caplog.text
    assert not Message.objects.exists()


def test_meta_malformed_json_is_a_clear_400(client, facebook):
    response = meta_post(client, facebook, b'{"object": "page", "entry": [')
    assert response.status_code == 400
    assert response.json()["error"].startswith("malformed JSON")


def test_meta_json_that_is_no_delivery_is_a_400(client, facebook):
    response = meta_post(client, facebook, b'["not", "a", "delivery"]')
    assert response.status_code == 400
    assert "entry" in response.json()["error"]


def test_meta_non_utf8_body_is_a_400(client, facebook):
    response = meta_post(client, facebook, b"\xff\xfe{}")
    assert response.status_code == 400


def test_meta_body_over_the_cap_is_a_413(client, facebook, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    body = json.dumps({"object": "page", "entry": [], "pad": "x" * 2000}).encode()
    response = meta_post(client, facebook, body)
    assert response.status_code == 413


def test_meta_unknown_disabled_or_wrong_kind_channel_is_404(client, facebook, hook):
    body = b'{"object": "page", "entry": []}'
    assert (
        client.post(
            reverse("hooks:meta", args=[99999]), data=body, content_type="application/json"
        ).status_code
        == 404
    )
    assert meta_post(client, hook, body).status_code == 404
    Channel.objects.filter(pk=facebook.pk).update(enabled=False)
    assert meta_post(client, facebook, body).status_code == 404


def test_meta_wrong_method(client, facebook):
    assert client.put(meta_url(facebook)).status_code == 405


def test_undecryptable_credentials_are_a_503_not_a_500(client, facebook):
    Channel.objects.filter(pk=facebook.pk).update(credentials_encrypted="not-a-fernet-token")
    response = meta_post(client, facebook, b'{"object": "page", "entry": []}')
    assert response.status_code == 503


def test_ingest_failure_is_a_503_so_meta_retries(client, facebook, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("inbox.services.ingest.ingest_messages", broken)
    body = (FIXTURES / "meta" / "webhook_page_feed.json").read_bytes()
    response = meta_post(client, facebook, body)
    assert response.status_code == 503
    assert "retry" in response.json()["error"]


# --- generic webhook ---------------------------------------------------------------------


def test_generic_delivery_is_ingested(client, hook):
    body = (FIXTURES / "webhook" / "messages.json").read_bytes()
    response = generic_post(client, hook, body)
    assert response.status_code == 200, response.content
    assert response.json() == {"received": 3}
    by_id = {m.external_id: m for m in Message.objects.filter(channel=hook)}
    assert set(by_id) == {"klantportaal-8812-1", "klantportaal-8812-2", "99123"}
    assert by_id["klantportaal-8812-2"].direction == Direction.OUTBOUND
    assert (
        by_id["klantportaal-8812-2"].conversation_id == by_id["klantportaal-8812-1"].conversation_id
    )
    assert by_id["klantportaal-8812-1"].is_public is False


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(("offset", "reason"), [(-301, "older than 300 s"), (301, "in the future")])
def test_generic_stale_or_future_timestamp_is_refused(client, hook, offset, reason, caplog):
    body = (FIXTURES / "webhook" / "messages.json").read_bytes()
    response = generic_post(client, hook, body, at=NOW + timedelta(seconds=offset))
    assert response.status_code == 403
    assert reason in response.json()["error"]
    assert "rejected" in caplog.text
    assert not Message.objects.exists()


def test_generic_forged_signature_is_refused(client, hook):
    body = (FIXTURES / "webhook" / "messages.json").read_bytes()
    response = generic_post(client, hook, body, secret="not-the-secret")
    assert response.status_code == 403
    assert response.json() == {"error": "signature does not match"}


def test_generic_replayed_request_is_not_processed_twice(client, hook):
    body = (FIXTURES / "webhook" / "messages.json").read_bytes()
    ts = int(datetime.now(UTC).timestamp())
    headers = {"X-Webcare-Timestamp": str(ts), "X-Webcare-Signature": sign(SECRET, ts, body)}
    first = client.post(
        generic_url(hook), data=body, content_type="application/json", headers=headers
    )
    again = client.post(
        generic_url(hook), data=body, content_type="application/json", headers=headers
    )
    assert first.json() == {"received": 3}
    assert again.status_code == 200
    assert again.json() == {"received": 0, "duplicate": True}
    assert Message.objects.filter(channel=hook).count() == 3


def test_generic_schema_error_names_the_field(client, hook):
    body = (FIXTURES / "webhook" / "missing_author_id.json").read_bytes()
    response = generic_post(client, hook, body)
    assert response.status_code == 400
    assert response.json() == {"error": "messages[0].author.id: required"}
    # Sent again unchanged, it gets the same answer rather than "duplicate".
    assert generic_post(client, hook, body).status_code == 400


def test_generic_malformed_json(client, hook):
    body = (FIXTURES / "webhook" / "malformed.json").read_bytes()
    response = generic_post(client, hook, body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("malformed JSON: Unterminated string")


def test_generic_needs_post_and_a_known_channel(client, hook, facebook):
    assert client.get(generic_url(hook)).status_code == 405
    body = b'{"messages": []}'
    assert generic_post(client, facebook, body).status_code == 404
    Channel.objects.filter(pk=hook.pk).update(enabled=False)
    assert generic_post(client, hook, body).status_code == 404


def test_generic_body_over_the_cap(client, hook, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 100
    body = json.dumps({"messages": [], "pad": "x" * 200}).encode()
    assert generic_post(client, hook, body).status_code == 413


def test_generic_huge_text_with_emoji_under_the_cap(client, hook):
    item = {
        "id": "big-1",
        "text": "Help 🆘 " * 50_000 + "\u200b\u202eRTL override",
        "created_at": "2025-03-14T09:00:00Z",
        "author": {"id": "x"},
    }
    body = json.dumps({"messages": [item]}, ensure_ascii=False).encode()
    assert len(body) < 1024 * 1024
    response = generic_post(client, hook, body)
    assert response.status_code == 200
    assert Message.objects.get(channel=hook).text == item["text"]
