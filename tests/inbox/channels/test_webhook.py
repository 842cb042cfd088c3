"""The generic signed webhook: signature, replay window and schema, as pure functions."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inbox.channels.base import ChannelConfig, ConnectorError, ReplyTarget
from inbox.channels.registry import get_connector
from inbox.channels.webhook import WebhookRejected, parse_payload, sign, verify_request

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "webhook"
NOW = datetime(2025, 3, 14, 9, 45, tzinfo=UTC)
SECRET = "whsec_4f1c9a"
CONFIG = ChannelConfig(
    id=5, kind="webhook", own_handles=("woonstadnl",), credentials={"secret": SECRET}
)


def headers_for(body, at=NOW, secret=SECRET):
    ts = int(at.timestamp())
    return {"X-Webcare-Timestamp": str(ts), "X-Webcare-Signature": sign(secret, ts, body)}


def load(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


# --- verify_request ----------------------------------------------------------------------


def test_a_signed_fresh_request_passes():
    body = (FIXTURES / "messages.json").read_bytes()
    verify_request(SECRET, body, headers_for(body), NOW)
    # Header names are case-insensitive, as in HTTP.
    lower = {k.lower(): v for k, v in headers_for(body).items()}
    verify_request(SECRET, body, lower, NOW)


def test_signature_is_over_timestamp_dot_body():
    import hashlib
    import hmac

    body = b'{"messages": []}'
    expected = hmac.new(SECRET.encode(), b"1741945500." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1741945500, body) == f"sha256={expected}"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b, h: (b + b" ", h), "signature does not match"),
        (
            lambda b, h: (
                b,
                {**h, "X-Webcare-Signature": sign("wrong", h["X-Webcare-Timestamp"], b)},
            ),
            "signature does not match",
        ),
        (
            lambda b, h: (b, {**h, "X-Webcare-Signature": "sha256=" + "0" * 64}),
            "signature does not match",
        ),
        (
            lambda b, h: (b, {k: v for k, v in h.items() if k != "X-Webcare-Signature"}),
            "missing X-Webcare-Signature",
        ),
        (
            lambda b, h: (b, {k: v for k, v in h.items() if k != "X-Webcare-Timestamp"}),
            "missing X-Webcare-Timestamp",
        ),
        (lambda b, h: (b, {**h, "X-Webcare-Timestamp": "1e9"}), "unix seconds"),
        (lambda b, h: (b, {**h, "X-Webcare-Timestamp": "-5"}), "unix seconds"),
    ],
)
def test_forged_requests_are_rejected(mutate, reason):
    body = (FIXTURES / "messages.json").read_bytes()
    body, headers = mutate(body, headers_for(body))
    with pytest.raises(WebhookRejected, match=reason):
        verify_request(SECRET, body, headers, NOW)


def test_timestamp_swapped_under_a_valid_signature_is_rejected():
    # Replaying an old signed body with a fresh timestamp breaks the signature.
    body = b'{"messages": []}'
    old = headers_for(body, at=NOW - timedelta(hours=1))
    replay = {**old, "X-Webcare-Timestamp": str(int(NOW.timestamp()))}
    with pytest.raises(WebhookRejected, match="signature"):
        verify_request(SECRET, body, replay, NOW)


@pytest.mark.parametrize(
    ("offset", "ok"),
    [(0, True), (-300, True), (300, True), (-301, False), (301, False), (-86400, False)],
)
def test_replay_window_is_300_seconds_both_ways(offset, ok):
    body = b'{"messages": []}'
    headers = headers_for(body, at=NOW + timedelta(seconds=offset))
    if ok:
        verify_request(SECRET, body, headers, NOW)
    else:
        with pytest.raises(WebhookRejected, match="older|future"):
            verify_request(SECRET, body, headers, NOW)


def test_channel_without_secret_rejects_everything():
    body = b"{}"
    with pytest.raises(WebhookRejected, match="no webhook secret"):
        verify_request("", body, headers_for(body, secret=""), NOW)


# --- parse_payload -----------------------------------------------------------------------


def test_payload_becomes_messages():
    first, reply, rtl = parse_payload(CONFIG, load("messages.json"))
    assert first.external_id == "klantportaal-8812-1"
    assert first.created_at == datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
    assert first.author_id == "cust-42"
    assert first.author_handle == "jdevries"
    assert first.author_avatar_url.endswith("/42.png")
    assert first.conversation_external_id == "klantportaal-8812"
    assert first.url.endswith("#c1")
    assert first.is_public is False
    assert first.text.endswith("🙁💧")
    assert not first.is_own
    assert reply.parent_external_id == first.external_id
    assert reply.is_own  # "WoonstadNL" is one of our handles, whatever the case
    # Numeric ids become their text; RTL and zero-width characters are kept as sent.
    assert rtl.external_id == "99123" and rtl.author_id == "5150"
    assert rtl.is_public is True
    assert "\u200f" in rtl.text and "\u200b" in rtl.text
    assert rtl.created_at.microsecond == 123456


def test_empty_batch_is_fine():
    assert parse_payload(CONFIG, {"messages": []}) == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "body must be a JSON object"),
        ({}, "messages: required"),
        ({"messages": {}}, "messages: required, must be a list"),
        ({"messages": ["x"]}, r"messages\[0\]: must be an object"),
        (load("missing_author_id.json"), r"messages\[0\]\.author\.id: required"),
        (load("naive_created_at.json"), r"messages\[0\]\.created_at: needs a UTC offset"),
    ],
)
def test_schema_errors_name_the_field(payload, message):
    with pytest.raises(WebhookRejected, match=message):
        parse_payload(CONFIG, payload)


def _one(**overrides):
    item = {
        "id": "m1",
        "text": "hallo",
        "created_at": "2025-03-14T09:00:00Z",
        "author": {"id": "a1"},
    }
    item.update(overrides)
    return {
        "messages": [
            {"id": "ok", "text": "", "created_at": "2025-03-14T09:00:00Z", "author": {"id": "a"}},
            item,
        ]
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"id": ""}, r"messages\[1\]\.id: must not be empty"),
        ({"id": "x" * 256}, r"messages\[1\]\.id: at most 255"),
        ({"id": None}, r"messages\[1\]\.id: required"),
        ({"text": 42}, r"messages\[1\]\.text: must be a string"),
        ({"text": None}, r"messages\[1\]\.text: required"),
        ({"text": "nul\x00byte"}, r"messages\[1\]\.text: must not contain NUL"),
        ({"created_at": "gisteren"}, r"messages\[1\]\.created_at: not an ISO-8601"),
        ({"created_at": 1741945500}, r"messages\[1\]\.created_at: must be a string"),
        ({"author": "jan"}, r"messages\[1\]\.author: required, must be an object"),
        (
            {"author": {"id": "a", "avatar_url": "javascript:alert(1)"}},
            r"author\.avatar_url: must be an http\(s\) URL",
        ),
        ({"url": "https://x.example/" + "a" * 1000}, r"messages\[1\]\.url: at most 1000"),
        ({"public": "yes"}, r"messages\[1\]\.public: must be true or false"),
        ({"parent_id": ["x"]}, r"messages\[1\]\.parent_id: must be a string"),
    ],
)
def test_field_errors(overrides, message):
    with pytest.raises(WebhookRejected, match=message):
        parse_payload(CONFIG, _one(**overrides))


def test_huge_text_is_accepted_whole():
    _, message = parse_payload(CONFIG, _one(text="🔥" * 200_000))
    assert len(message.text) == 200_000


def test_too_many_messages():
    item = {"id": "m", "text": "", "created_at": "2025-03-14T09:00:00Z", "author": {"id": "a"}}
    with pytest.raises(WebhookRejected, match="at most 1000"):
        parse_payload(CONFIG, {"messages": [item] * 1001})


# --- the connector -----------------------------------------------------------------------


def test_connector_is_push_only():
    connector = get_connector("webhook")
    result = connector.fetch(CONFIG, {"x": 1})
    assert result.messages == [] and result.cursor == {"x": 1}
    assert connector.can_reply is False and connector.can_hide is False
    with pytest.raises(ConnectorError):
        connector.send_reply(
            CONFIG, ReplyTarget(conversation_id=1, in_reply_to_external_id="m"), "x"
        )
    assert (
        connector.find_existing_reply(
            CONFIG, ReplyTarget(conversation_id=1, in_reply_to_external_id="m"), "x"
        )
        is None
    )
