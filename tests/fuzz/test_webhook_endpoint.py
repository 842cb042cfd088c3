"""The public webhook endpoints under fire: random, malformed, forged and oversized requests.

Contract: never a 5xx; every refusal is a 4xx with a JSON {"error": ...};
bodies over WEBHOOK_MAX_BODY_BYTES get 413; what is accepted is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from inbox.channels.credentials import encrypt_credentials
from inbox.channels.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from inbox.models import Channel, Message
from tests.fuzz.strategies import FUZZ, any_text, fixture_json, payloads

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

SECRET = "whsec_fuzz"
APP_SECRET = "meta-fuzz-secret"
LIMIT = 150_000  # bytes; a 100 KB text fits once, two do not


@pytest.fixture(autouse=True)
def small_limit_and_local_cache(settings):
    settings.WEBHOOK_MAX_BODY_BYTES = LIMIT
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.fixture
def hook(db):
    return Channel.objects.create(
        kind="webhook",
        name="Fuzz webhook",
        credentials_encrypted=encrypt_credentials({"secret": SECRET}),
    )


@pytest.fixture
def facebook(db):
    return Channel.objects.create(
        kind="facebook",
        name="Fuzz Facebook",
        config={"page_id": "104328765432101"},
        credentials_encrypted=encrypt_credentials({"access_token": "x", "app_secret": APP_SECRET}),
    )


@pytest.fixture
def whatsapp_channel(db):
    return Channel.objects.create(
        kind="whatsapp",
        name="Fuzz WhatsApp",
        config={"phone_number_id": "106540352242922"},
        credentials_encrypted=encrypt_credentials({"access_token": "x", "app_secret": APP_SECRET}),
    )


def _encode(payload) -> bytes:
    # surrogatepass: a lone surrogate reaches the server as the invalid UTF-8 a buggy sender sends.
    return json.dumps(payload, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


@st.composite
def bodies(draw, seed):
    how = draw(st.integers(0, 9))
    if how == 0:
        return draw(st.binary(max_size=500))  # anything at all, invalid UTF-8 included
    if how == 1:
        return draw(any_text).encode("utf-8", "surrogatepass")
    if how == 2:  # valid JSON, cut short
        raw = _encode(draw(payloads(seed)))
        return raw[: draw(st.integers(0, len(raw)))]
    if how == 3:  # oversized
        return b'{"messages": [' + b" " * LIMIT + b"]}"
    return _encode(draw(payloads(seed)))


def _assert_clear(response, body: bytes) -> None:
    assert response.status_code < 500, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    data = json.loads(response.content)
    if response.status_code >= 400:
        assert isinstance(data.get("error"), str) and data["error"]
    if len(body) > LIMIT:
        assert response.status_code == 413


@FUZZ
@given(
    body=bodies(fixture_json("webhook", "messages.json")),
    signing=st.sampled_from(["right", "right", "right", "wrong", "none", "old", "junk"]),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded"]
    ),
)
def test_generic_webhook_never_fails_unclearly(hook, body, signing, content_type):
    client = Client(enforce_csrf_checks=True)
    timestamp = str(int(time.time()) - (3600 if signing == "old" else 0))
    headers = {}
    if signing in ("right", "old"):
        headers = {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(SECRET, timestamp, body)}
    elif signing == "wrong":
        headers = {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign("other", timestamp, body)}
    elif signing == "junk":
        headers = {TIMESTAMP_HEADER: "¹²³", SIGNATURE_HEADER: "sha256=\u202e"}
    response = client.post(
        reverse("hooks:generic", args=[hook.pk]), body, content_type=content_type, headers=headers
    )
    _assert_clear(response, body)
    if signing in ("wrong", "none", "old", "junk") and len(body) <= LIMIT:
        assert response.status_code == 403
    if response.status_code == 200 and json.loads(response.content).get("received"):
        assert Message.objects.filter(channel=hook).exists()


@FUZZ
@given(
    body=bodies(fixture_json("meta", "webhook_page_feed.json")),
    signed=st.sampled_from([True, True, True, False]),
)
def test_meta_webhook_never_fails_unclearly(facebook, body, signed):
    client = Client(enforce_csrf_checks=True)
    headers = {}
    if signed:
        digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-Hub-Signature-256": f"sha256={digest}"}
    response = client.post(
        reverse("hooks:meta", args=[facebook.pk]),
        body,
        content_type="application/json",
        headers=headers,
    )
    _assert_clear(response, body)
    if not signed and len(body) <= LIMIT:
        assert response.status_code == 403


@FUZZ
@given(
    body=st.one_of(
        bodies(fixture_json("whatsapp", "webhook_media.json")),
        bodies(fixture_json("whatsapp", "webhook_status_failed.json")),
    ),
    signed=st.sampled_from([True, True, True, False]),
)
def test_whatsapp_webhook_never_fails_unclearly(whatsapp_channel, body, signed):
    client = Client(enforce_csrf_checks=True)
    headers = {}
    if signed:
        digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-Hub-Signature-256": f"sha256={digest}"}
    response = client.post(
        reverse("hooks:whatsapp", args=[whatsapp_channel.pk]),
        body,
        content_type="application/json",
        headers=headers,
    )
    _assert_clear(response, body)
    if not signed and len(body) <= LIMIT:
        assert response.status_code == 403


def test_an_oversized_body_is_refused_before_it_is_read(hook):
    client = Client(enforce_csrf_checks=True)
    body = b"x" * (LIMIT + 1)
    response = client.post(
        reverse("hooks:generic", args=[hook.pk]), body, content_type="application/json"
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "text",
    ids=["emoji", "rtl-override", "zero-width", "hebrew", "100kb", "script"],
    argvalues=[
        "👩‍👩‍👧‍👦 " * 10,
        "\u202eevil\u202c",
        "\u200b" * 50,
        "שלום @woonstad",
        "x" * 100_000,
        "<script>x</script>",
    ],
)
def test_hostile_but_valid_texts_are_stored_as_written(hook, text):
    payload = fixture_json("webhook", "messages.json")
    payload["messages"] = payload["messages"][:1]
    payload["messages"][0]["text"] = text
    body = _encode(payload)
    timestamp = str(int(time.time()))
    response = Client().post(
        reverse("hooks:generic", args=[hook.pk]),
        body,
        content_type="application/json",
        headers={TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(SECRET, timestamp, body)},
    )
    assert response.status_code == 200, response.content
    assert Message.objects.get(channel=hook).text == text


@pytest.mark.parametrize("where", ["text", "id", "author"])
def test_an_escaped_lone_surrogate_is_a_clear_400(hook, where):
    """JSON may spell a lone surrogate as \\ud800; UTF-8 (and PostgreSQL) cannot hold it."""
    payload = fixture_json("webhook", "messages.json")
    payload["messages"] = payload["messages"][:1]
    if where == "author":
        payload["messages"][0]["author"]["name"] = "Jan \ud800"
    else:
        payload["messages"][0][where] = "x\ud800y"
    body = json.dumps(payload).encode()  # ensure_ascii: the body itself is valid ASCII
    timestamp = str(int(time.time()))
    response = Client().post(
        reverse("hooks:generic", args=[hook.pk]),
        body,
        content_type="application/json",
        headers={TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(SECRET, timestamp, body)},
    )
    assert response.status_code == 400, response.content
    assert "surrogate" in response.json()["error"] or "UTF-8" in response.json()["error"]
