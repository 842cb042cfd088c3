"""The Messenger / Instagram Direct parsers against random and malformed input (5,000 cases each):
the webhook parser, the Send API error mapping and find_existing_reply's reading of the
Conversations API. Each returns well-formed data or raises its one documented error."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import requests
import responses
from hypothesis import given
from hypothesis import strategies as st

from inbox.channels import messenger
from inbox.channels.base import ChannelConfig, ConnectorError, IncomingMessage, ReplyTarget
from inbox.channels.meta import GRAPH_URL
from tests.fuzz.strategies import FUZZ, FUZZ_WHOLE, fixture_json, payloads

pytestmark = pytest.mark.slow

PAGE = "104532178952341"
IG = "17841405822304914"
SEEDS = [
    fixture_json("messenger", name)
    for name in (
        "webhook_text.json",
        "webhook_two_messages.json",
        "webhook_attachments.json",
        "webhook_echo_outside_app.json",
        "webhook_echo_ours.json",
        "webhook_deliveries.json",
        "webhook_delivery_watermark.json",
        "webhook_read.json",
        "ig_webhook_text.json",
        "ig_webhook_media_reply.json",
        "ig_webhook_deleted.json",
        "ig_webhook_seen.json",
        "ig_webhook_echo.json",
    )
]


def _config(kind: str) -> ChannelConfig:
    return ChannelConfig(
        id=1,
        kind=kind,
        credentials={"access_token": "EAAG", "app_secret": "s"},
        settings={"page_id": PAGE, "ig_user_id": IG},
    )


def _check(message: IncomingMessage) -> None:
    assert isinstance(message, IncomingMessage)
    assert isinstance(message.external_id, str) and 0 < len(message.external_id) <= 255
    assert isinstance(message.text, str) and message.text
    assert isinstance(message.created_at, datetime) and message.created_at.tzinfo is not None
    assert message.is_public is False
    assert message.conversation_external_id.startswith(("fbm:", "igd:"))
    assert len(message.conversation_external_id) <= 255
    assert len(message.parent_external_id) <= 255
    assert isinstance(message.raw, dict)


@FUZZ
@given(
    kind=st.sampled_from(["messenger", "instagram_direct"]),
    payload=st.one_of(*(payloads(seed) for seed in SEEDS)),
)
def test_parse_delivery(kind, payload):
    try:
        delivery = messenger.parse_delivery(_config(kind), payload)
    except ValueError:
        return
    for message in delivery.messages:
        _check(message)
    for status in delivery.statuses:
        assert status.status in ("sent", "delivered", "read")
        assert isinstance(status.external_id, str) and 0 < len(status.external_id) <= 255
        assert status.at.tzinfo is not None
        assert status.reply_id is None or isinstance(status.reply_id, int)
    for mark in delivery.watermarks:
        assert mark.status in ("delivered", "read") and mark.at.tzinfo is not None
        assert len(mark.thread_key) <= 255
    assert all(isinstance(mid, str) and mid for mid in delivery.unsent)


@FUZZ
@given(
    body=st.one_of(
        st.none(),
        st.binary(max_size=300),
        payloads(fixture_json("messenger", "error_outside_window.json")),
        payloads(fixture_json("messenger", "error_rate_limit_80006.json")),
    ),
    status=st.sampled_from([200, 400, 401, 403, 429, 500, 503]),
    usage=st.one_of(
        st.none(),
        st.text(max_size=40),
        payloads(fixture_json("messenger", "business_use_case_usage.json")),
    ),
)
def test_send_error_mapping(body, status, usage):
    response = requests.Response()
    response.status_code = status
    if isinstance(body, bytes | type(None)):
        response._content = body or b""
    else:
        response._content = json.dumps(body).encode()
    if usage is not None:
        response.headers["X-Business-Use-Case-Usage"] = (
            usage if isinstance(usage, str) else json.dumps(usage)
        )
    try:
        result = messenger.raise_for_send_error(response)
    except ConnectorError as exc:
        assert str(exc)
    else:
        assert isinstance(result, dict)


@FUZZ_WHOLE
@given(body=payloads(fixture_json("messenger", "conversations.json")))
def test_find_existing_reply_reads_any_conversations_answer(body):
    connector = messenger.MessengerConnector()
    target = ReplyTarget(
        conversation_id=1,
        in_reply_to_external_id="m_x",
        author_id="6754321098765432",
        extra={"unknown_since": "2025-12-06T09:59:00+00:00"},
    )
    with responses.RequestsMock() as mock:
        mock.get(f"{GRAPH_URL}/{PAGE}/conversations", json=body)
        try:
            found = connector.find_existing_reply(
                _config("messenger"), target, "Wij sturen het pakket morgen opnieuw."
            )
        except ConnectorError:
            return
    assert found is None or isinstance(found, str)
