"""The WhatsApp connector against recorded Cloud API payloads: webhook deliveries (messages and
status callbacks) parsed, sends and their errors replayed with responses."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses
import time_machine

from inbox.channels import meta, whatsapp
from inbox.channels.base import AuthFailed, ChannelConfig, ConnectorError, RateLimited, ReplyTarget
from inbox.channels.registry import get_connector

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "whatsapp"
NUMBER = "106540352242922"
CUSTOMER = "31612345678"
URL = f"{meta.GRAPH_URL}/{NUMBER}/messages"


def fixture(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def config(**settings):
    return ChannelConfig(
        id=7,
        kind="whatsapp",
        credentials={"access_token": "EAAG-system-user", "app_secret": "s3cret"},
        settings={"phone_number_id": NUMBER, **settings},
    )


def target(**extra):
    return ReplyTarget(
        conversation_id=3,
        in_reply_to_external_id="wamid.in",
        thread_external_id=f"wa:{NUMBER}:{CUSTOMER}",
        author_id=CUSTOMER,
        private=True,
        extra={"reply_id": 42, "part_index": 0, **extra},
    )


# --- inbound --------------------------------------------------------------------------------


def test_a_text_message_is_a_private_message_in_the_customers_chat():
    delivery = whatsapp.parse_delivery(config(), fixture("webhook_text.json"))
    [message] = delivery.messages
    assert delivery.statuses == []
    assert message.external_id.startswith("wamid.")
    assert message.text == "Mijn vlucht KL1234 is geannuleerd, wat nu?"
    assert message.created_at == datetime(2025, 12, 6, 9, 0, tzinfo=UTC)
    assert message.author_id == CUSTOMER
    assert message.author_handle == f"+{CUSTOMER}"
    assert message.author_name == "Sanne de Vries"
    assert message.conversation_external_id == f"wa:{NUMBER}:{CUSTOMER}"
    assert message.parent_external_id == ""
    assert message.is_public is False
    assert message.is_own is False


def test_media_keeps_its_caption_and_says_what_it_is():
    image, document = whatsapp.parse_delivery(config(), fixture("webhook_media.json")).messages
    assert image.text == "[image] Zo zag mijn koffer eruit"
    assert document.text == "[document: boeking-ABC123.pdf] De boekingsbevestiging"
    assert image.raw["image"]["id"] == "1003383421387256"  # to fetch the file later


def test_a_location_is_the_place_and_a_map_link():
    [message] = whatsapp.parse_delivery(config(), fixture("webhook_location.json")).messages
    assert message.text == (
        "[location] Schiphol Plaza, Evert van de Beekstraat 202, 1118 CP Schiphol "
        "https://maps.google.com/?q=52.3105,4.7683"
    )


def test_a_reply_to_our_message_points_at_it_and_stays_in_the_chat():
    [message] = whatsapp.parse_delivery(config(), fixture("webhook_reply_context.json")).messages
    assert (
        message.parent_external_id == "wamid.HBgLMzE2MTIzNDU2NzgVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
    )
    assert message.conversation_external_id == f"wa:{NUMBER}:{CUSTOMER}"


def test_a_message_whatsapp_could_not_pass_on_is_not_lost():
    [message] = whatsapp.parse_delivery(
        config(), fixture("webhook_unsupported_media.json")
    ).messages
    assert message.text == "[unsupported not received: Message type unknown]"


def test_another_numbers_delivery_is_not_this_channels():
    assert whatsapp.parse_delivery(config(phone_number_id="999"), fixture("webhook_text.json")) == (
        whatsapp.Delivery(messages=[], statuses=[])
    )


def test_status_callbacks_name_our_reply():
    payload = json.loads(
        (FIXTURES / "webhook_status_delivered_read.json").read_text().replace("{REPLY}", "42")
    )
    delivered, read = whatsapp.parse_delivery(config(), payload).statuses
    assert (delivered.status, delivered.reply_id, delivered.part_index) == ("delivered", 42, 0)
    assert read.status == "read"
    assert read.at == datetime(2025, 12, 6, 9, 5, tzinfo=UTC)


def test_a_failed_status_carries_whatsapps_explanation():
    payload = json.loads(
        (FIXTURES / "webhook_status_failed.json").read_text().replace("{REPLY}", "42")
    )
    [failed] = whatsapp.parse_delivery(config(), payload).statuses
    assert failed.status == "failed"
    assert failed.error.startswith("131047 Re-engagement message: Message failed to send because")


def test_a_delivery_that_is_no_whatsapp_delivery_is_refused():
    with pytest.raises(ValueError):
        whatsapp.parse_delivery(config(), {"object": "page", "entry": []})
    with pytest.raises(ValueError):
        whatsapp.parse_delivery(config(), [])


def test_a_malformed_message_costs_only_itself():
    payload = fixture("webhook_media.json")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = None
    [document] = whatsapp.parse_delivery(config(), payload).messages
    assert document.text.startswith("[document")


# --- outbound -------------------------------------------------------------------------------


@responses.activate
def test_a_text_reply_is_sent_with_our_reply_id_for_the_callbacks():
    responses.post(URL, json=fixture("send_text.json"))
    new_id = get_connector("whatsapp").send_reply(config(), target(), "Wij boeken u om.")
    assert new_id == "wamid.HBgLMzE2MTIzNDU2NzgVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
    body = json.loads(responses.calls[0].request.body)
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "text",
        "text": {"body": "Wij boeken u om.", "preview_url": False},
        "biz_opaque_callback_data": "reply:42:0",
    }


@responses.activate
def test_a_template_reply_sends_name_language_and_parameters():
    responses.post(URL, json=fixture("send_template.json"))
    template = {"name": "vlucht_update", "language": "nl", "parameters": ["Sanne", "KL1234"]}
    new_id = get_connector("whatsapp").send_reply(
        config(), target(template=template), "preview text, not sent"
    )
    assert new_id == "wamid.HBgLMzE2MTIzNDU2NzgVAgARGBJGNzYzRjk5M0E3NzY1RUE0ODUA"
    body = json.loads(responses.calls[0].request.body)
    assert body["type"] == "template"
    assert "text" not in body
    assert body["template"] == {
        "name": "vlucht_update",
        "language": {"code": "nl"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Sanne"},
                    {"type": "text", "text": "KL1234"},
                ],
            }
        ],
    }


@pytest.mark.parametrize(
    ("name", "status", "error", "transient"),
    [
        ("error_window_closed.json", 400, whatsapp.WindowClosed, False),
        ("error_token_expired.json", 401, AuthFailed, False),
        ("error_permission.json", 403, AuthFailed, False),
        ("error_media_too_large.json", 400, ConnectorError, False),
        ("error_rate_limit.json", 400, RateLimited, True),
    ],
)
@responses.activate
def test_send_errors(name, status, error, transient):
    responses.post(URL, json=fixture(name), status=status)
    with pytest.raises(error) as exc:
        get_connector("whatsapp").send_reply(config(), target(), "x")
    assert exc.value.transient is transient
    # A 4xx: the outbox knows nothing was sent and never asks for an unknown outcome.
    assert 400 <= (exc.value.status_code or 0) < 500


@responses.activate
def test_the_window_closed_error_says_why():
    responses.post(URL, json=fixture("error_window_closed.json"), status=400)
    with pytest.raises(whatsapp.WindowClosed, match="only a template message can be sent"):
        get_connector("whatsapp").send_reply(config(), target(), "x")


@time_machine.travel(datetime(2026, 12, 6, 12, 0, tzinfo=UTC), tick=False)
@responses.activate
def test_a_rate_limit_names_its_reset():
    responses.post(
        URL,
        json=fixture("error_rate_limit.json"),
        status=400,
        headers={
            "X-Business-Use-Case-Usage": json.dumps(
                {NUMBER: [{"type": "whatsapp", "estimated_time_to_regain_access": 2}]}
            )
        },
    )
    with pytest.raises(RateLimited) as exc:
        get_connector("whatsapp").send_reply(config(), target(), "x")
    assert exc.value.reset_at == datetime(2026, 12, 6, 12, 2, tzinfo=UTC)


@time_machine.travel(datetime(2026, 12, 6, 12, 0, tzinfo=UTC), tick=False)
def test_an_unknown_outcome_waits_for_the_status_callback_then_concludes_not_sent():
    connector = get_connector("whatsapp")
    recent = (datetime(2026, 12, 6, 11, 50, tzinfo=UTC)).isoformat()
    with pytest.raises(ConnectorError, match="status callback") as exc:
        connector.find_existing_reply(config(), target(unknown_since=recent), "x")
    assert exc.value.transient
    old = (datetime(2026, 12, 6, 12, 0, tzinfo=UTC) - timedelta(minutes=31)).isoformat()
    assert connector.find_existing_reply(config(), target(unknown_since=old), "x") is None


# --- health ---------------------------------------------------------------------------------


@time_machine.travel(datetime(2026, 12, 6, 12, 0, tzinfo=UTC), tick=False)
@responses.activate
def test_the_poll_checks_the_number_and_its_token():
    responses.get(f"{meta.GRAPH_URL}/{NUMBER}", json=fixture("phone_number.json"))
    result = get_connector("whatsapp").fetch(config(), {})
    assert result.messages == []
    assert result.cursor == {
        "checked_at": "2026-12-06T12:00:00+00:00",
        "display_phone_number": "+31 85 123 4567",
        "quality_rating": "GREEN",
    }
    # Checked a minute ago: no call.
    with time_machine.travel(datetime(2026, 12, 6, 12, 1, tzinfo=UTC), tick=False):
        assert get_connector("whatsapp").fetch(config(), result.cursor).cursor == result.cursor
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("name", "status", "error"),
    [
        ("error_token_expired.json", 401, AuthFailed),
        ("error_permission.json", 403, AuthFailed),
        ("error_rate_limit.json", 400, RateLimited),
    ],
)
@responses.activate
def test_the_health_check_reports_a_lost_token_or_a_rate_limit(name, status, error):
    responses.get(f"{meta.GRAPH_URL}/{NUMBER}", json=fixture(name), status=status)
    with pytest.raises(error):
        get_connector("whatsapp").fetch(config(), {})
