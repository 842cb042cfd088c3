"""The Messenger and Instagram Direct connector against recorded Meta payloads: webhook events
(messages, attachments, replies, echoes, receipts, unsent messages) parsed, sends in and out of
the messaging windows, the Send API's errors and the Conversations API replayed with responses."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses
import time_machine

from inbox.channels import messenger
from inbox.channels.base import AuthFailed, ChannelConfig, ConnectorError, RateLimited, ReplyTarget
from inbox.channels.meta import GRAPH_URL
from inbox.channels.registry import get_connector
from inbox.channels.whatsapp import WindowClosed

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "messenger"
PAGE = "104532178952341"
PSID = "6754321098765432"
IG = "17841405822304914"
IGSID = "1223334444555556"
FIRST = datetime(2025, 12, 6, 9, 0, tzinfo=UTC)
SEND_URL = f"{GRAPH_URL}/{PAGE}/messages"


def fixture(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def config(kind="messenger", **settings):
    base = {"page_id": PAGE} if kind == "messenger" else {"ig_user_id": IG, "page_id": PAGE}
    return ChannelConfig(
        id=9,
        kind=kind,
        credentials={"access_token": "EAAG-page", "app_secret": "s3cret"},
        settings={**base, **settings},
    )


def target(customer=PSID, wrote=FIRST, **extra):
    return ReplyTarget(
        conversation_id=3,
        in_reply_to_external_id="m_in",
        thread_external_id=f"fbm:{PAGE}:{customer}",
        author_id=customer,
        private=True,
        extra={"reply_id": 42, "part_index": 0, "customer_wrote_at": wrote.isoformat(), **extra},
    )


# --- inbound --------------------------------------------------------------------------------


def test_a_text_message_is_a_private_message_in_the_customers_chat():
    delivery = messenger.parse_delivery(config(), fixture("webhook_text.json"))
    [message] = delivery.messages
    assert delivery.statuses == [] and delivery.watermarks == []
    assert message.external_id.startswith("m_")
    assert message.text == "Mijn pakket is niet bezorgd, ordernummer 4471."
    assert message.created_at == FIRST
    assert message.author_id == PSID
    assert message.conversation_external_id == f"fbm:{PAGE}:{PSID}"
    assert message.is_public is False and message.is_own is False


def test_several_messages_share_one_conversation_and_a_reply_keeps_its_context():
    first = messenger.parse_delivery(config(), fixture("webhook_text.json")).messages[0]
    second, third = messenger.parse_delivery(
        config(), fixture("webhook_two_messages.json")
    ).messages
    assert {second.conversation_external_id, third.conversation_external_id} == {
        first.conversation_external_id
    }
    assert second.parent_external_id == ""
    assert third.parent_external_id == first.external_id


def test_attachments_are_readable_lines_with_their_url():
    [message] = messenger.parse_delivery(config(), fixture("webhook_attachments.json")).messages
    lines = message.text.splitlines()
    assert lines[0].startswith("[image] https://scontent.xx.fbcdn.net/")
    assert lines[1].startswith("[file] https://cdn.fbsbx.com/") and "factuur.pdf" in lines[1]
    assert lines[2].startswith("[audio] https://")
    assert lines[3] == "[video: not available, open it in Messenger]"


def test_an_echo_written_outside_the_app_is_our_own_message_in_the_customers_chat():
    delivery = messenger.parse_delivery(config(), fixture("webhook_echo_outside_app.json"))
    [message] = delivery.messages
    assert message.is_own is True
    assert message.author_id == PAGE
    assert message.conversation_external_id == f"fbm:{PAGE}:{PSID}"
    assert [(s.external_id, s.status) for s in delivery.statuses] == [(message.external_id, "sent")]


def test_an_echo_of_our_reply_is_its_status_not_a_second_message():
    payload = json.loads(json.dumps(fixture("webhook_echo_ours.json")).replace("{REPLY}", "42"))
    delivery = messenger.parse_delivery(config(), payload)
    assert delivery.messages == []
    [status] = delivery.statuses
    assert (status.reply_id, status.part_index, status.status) == (42, 0, "sent")
    assert status.external_id == "m_sent_by_us_7Gd2Lp0W"


def test_deliveries_by_id_and_by_watermark_and_reads_by_watermark():
    by_id = messenger.parse_delivery(config(), fixture("webhook_deliveries.json"))
    assert [(s.external_id, s.status) for s in by_id.statuses] == [
        ("m_sent_by_us_7Gd2Lp0W", "delivered")
    ]
    by_mark = messenger.parse_delivery(config(), fixture("webhook_delivery_watermark.json"))
    assert by_mark.statuses == []
    assert by_mark.watermarks == [
        messenger.Watermark(f"fbm:{PAGE}:{PSID}", "delivered", FIRST + timedelta(seconds=3610))
    ]
    read = messenger.parse_delivery(config(), fixture("webhook_read.json"))
    assert read.watermarks == [
        messenger.Watermark(f"fbm:{PAGE}:{PSID}", "read", FIRST + timedelta(seconds=3700))
    ]


def test_instagram_messages_media_replies_unsupported_and_seen():
    text = messenger.parse_delivery(config("instagram_direct"), fixture("ig_webhook_text.json"))
    [first] = text.messages
    assert first.conversation_external_id == f"igd:{IG}:{IGSID}"
    media, unsupported = messenger.parse_delivery(
        config("instagram_direct"), fixture("ig_webhook_media_reply.json")
    ).messages
    assert media.text.startswith("[image] https://lookaside.fbsbx.com/ig_messaging_cdn/")
    assert media.parent_external_id == first.external_id
    assert unsupported.text == "[message of a kind the API does not show: open it in Instagram]"
    seen = messenger.parse_delivery(config("instagram_direct"), fixture("ig_webhook_seen.json"))
    assert [(s.external_id, s.status) for s in seen.statuses] == [
        ("aWdfZAG1faXRlbTpvdXJfcmVwbHk", "read")
    ]


def test_an_instagram_echo_has_no_metadata_and_is_our_message_matched_by_its_id():
    delivery = messenger.parse_delivery(config("instagram_direct"), fixture("ig_webhook_echo.json"))
    [message] = delivery.messages
    assert message.is_own is True and message.author_id == IG
    assert message.conversation_external_id == f"igd:{IG}:{IGSID}"
    [status] = delivery.statuses
    assert (status.external_id, status.status, status.reply_id) == (
        message.external_id,
        "sent",
        None,
    )


def test_an_unsent_instagram_message_is_reported_not_stored():
    delivery = messenger.parse_delivery(
        config("instagram_direct"), fixture("ig_webhook_deleted.json")
    )
    assert delivery.messages == []
    assert delivery.unsent == [
        fixture("ig_webhook_text.json")["entry"][0]["messaging"][0]["message"]["mid"]
    ]


def test_a_delivery_for_the_other_product_or_another_page_is_refused_or_skipped():
    with pytest.raises(ValueError, match="not a Messenger delivery"):
        messenger.parse_delivery(config(), fixture("ig_webhook_text.json"))
    with pytest.raises(ValueError, match="'entry' must be a list"):
        messenger.parse_delivery(config(), {"object": "page"})
    other = config(page_id="999")
    assert messenger.parse_delivery(other, fixture("webhook_text.json")).messages == []


def test_one_malformed_event_does_not_cost_the_others():
    payload = fixture("webhook_two_messages.json")
    payload["entry"][0]["messaging"][0]["sender"] = {"id": ["not", "an", "id"]}
    [message] = messenger.parse_delivery(config(), payload).messages
    assert message.text == "Ik was de hele dag thuis."


# --- outbound -------------------------------------------------------------------------------


@responses.activate
@pytest.mark.parametrize("kind", ["messenger", "instagram_direct"])
def test_inside_24_hours_a_reply_is_a_response(kind):
    responses.post(SEND_URL, json=fixture("send_ok.json"))
    connector = get_connector(kind)
    with time_machine.travel(FIRST + timedelta(hours=23, minutes=59), tick=False):
        mid = connector.send_reply(config(kind), target(), "Wij sturen het pakket morgen opnieuw.")
    assert mid == "m_sent_by_us_7Gd2Lp0W"
    body = json.loads(responses.calls[0].request.body)
    assert body["recipient"] == {"id": PSID}
    assert body["messaging_type"] == "RESPONSE" and "tag" not in body
    assert body["message"]["text"] == "Wij sturen het pakket morgen opnieuw."
    # Messenger echoes our reply id back in the echo; Instagram's Send API takes no metadata.
    assert body["message"].get("metadata") == ("reply:42:0" if kind == "messenger" else None)
    assert "appsecret_proof=" in responses.calls[0].request.url


@responses.activate
def test_instagram_without_a_linked_page_sends_through_the_ig_account():
    responses.post(f"{GRAPH_URL}/{IG}/messages", json=fixture("ig_send_ok.json"))
    channel = ChannelConfig(
        id=9,
        kind="instagram_direct",
        credentials={"access_token": "EAAG"},
        settings={"ig_user_id": IG},
    )
    with time_machine.travel(FIRST + timedelta(hours=1), tick=False):
        mid = get_connector("instagram_direct").send_reply(channel, target(IGSID), "Hoi!")
    assert mid == "aWdfZAG1faXRlbTpvdXJfcmVwbHk"


@responses.activate
def test_between_24_hours_and_7_days_only_with_the_human_agent_tag():
    responses.post(SEND_URL, json=fixture("send_ok.json"))
    connector = get_connector("messenger")
    with time_machine.travel(FIRST + timedelta(days=3), tick=False):
        with pytest.raises(WindowClosed, match="window is closed"):
            connector.send_reply(config(), target(), "Nog een vraag?")
        assert len(responses.calls) == 0  # refused before any call
        connector.send_reply(config(human_agent=True), target(), "Nog een vraag?")
    body = json.loads(responses.calls[0].request.body)
    assert body["messaging_type"] == "MESSAGE_TAG" and body["tag"] == "HUMAN_AGENT"
    with (
        time_machine.travel(FIRST + timedelta(days=7, seconds=1), tick=False),
        pytest.raises(WindowClosed),
    ):
        connector.send_reply(config(human_agent=True), target(), "Te laat.")
    assert len(responses.calls) == 1


def test_a_customer_who_never_wrote_cannot_be_messaged():
    with pytest.raises(WindowClosed):
        get_connector("messenger").send_reply(
            config(),
            ReplyTarget(conversation_id=1, in_reply_to_external_id="", author_id=PSID),
            "x",
        )


@responses.activate
@pytest.mark.parametrize(
    ("name", "status", "error", "says"),
    [
        ("error_token_expired.json", 400, AuthFailed, "Session has expired"),
        ("error_permission_10.json", 403, AuthFailed, "does not have permission"),
        ("error_permission_200.json", 403, AuthFailed, "pages_messaging"),
        ("error_permission_230.json", 403, AuthFailed, "pages_messaging_subscriptions"),
        ("error_outside_window.json", 400, WindowClosed, "messaging window is closed"),
        ("error_unavailable.json", 400, ConnectorError, "isn't available right now"),
        ("error_attachment_too_large.json", 400, ConnectorError, "attachment is too large"),
    ],
)
def test_send_errors(name, status, error, says):
    responses.post(SEND_URL, json=fixture(name), status=status)
    with (
        time_machine.travel(FIRST + timedelta(hours=1), tick=False),
        pytest.raises(error, match=says) as raised,
    ):
        get_connector("messenger").send_reply(config(), target(), "Hallo")
    assert raised.value.transient is False


@responses.activate
@pytest.mark.parametrize(
    "name", ["error_rate_limit_4.json", "error_rate_limit_613.json", "error_rate_limit_80006.json"]
)
def test_rate_limits_carry_the_reset_from_the_usage_header(name):
    responses.post(
        SEND_URL,
        json=fixture(name),
        status=400,
        headers={"X-Business-Use-Case-Usage": json.dumps(fixture("business_use_case_usage.json"))},
    )
    now = FIRST + timedelta(hours=1)
    with time_machine.travel(now, tick=False), pytest.raises(RateLimited) as raised:
        get_connector("messenger").send_reply(config(), target(), "Hallo")
    assert raised.value.reset_at == now + timedelta(minutes=17)
    assert raised.value.transient is True


# --- an unknown outcome ---------------------------------------------------------------------


@responses.activate
def test_find_existing_reply_finds_our_text_sent_since_the_attempt():
    responses.get(f"{GRAPH_URL}/{PAGE}/conversations", json=fixture("conversations.json"))
    connector = get_connector("messenger")
    since = datetime(2025, 12, 6, 10, 0, tzinfo=UTC).isoformat()
    found = connector.find_existing_reply(
        config(), target(unknown_since=since), "Wij sturen  het pakket morgen opnieuw. "
    )
    assert found == "m_sent_by_us_7Gd2Lp0W"
    request = responses.calls[0].request
    assert "platform=messenger" in request.url and f"user_id={PSID}" in request.url
    # The same words a month ago are an older message, not this reply.
    later = datetime(2025, 12, 6, 11, 0, tzinfo=UTC).isoformat()
    assert (
        connector.find_existing_reply(
            config(), target(unknown_since=later), "Wij sturen het pakket morgen opnieuw."
        )
        is None
    )


@responses.activate
def test_find_existing_reply_without_our_message_is_none_and_asks_instagram_as_instagram():
    responses.get(f"{GRAPH_URL}/{PAGE}/conversations", json=fixture("conversations_empty.json"))
    found = get_connector("instagram_direct").find_existing_reply(
        config("instagram_direct"), target(IGSID), "Ik was de hele dag thuis."
    )
    assert found is None  # the customer's own words are not our reply
    assert "platform=instagram" in responses.calls[0].request.url


# --- health ---------------------------------------------------------------------------------


@responses.activate
def test_the_poll_is_a_health_check_every_ten_minutes():
    responses.get(f"{GRAPH_URL}/{PAGE}", json=fixture("page.json"))
    connector = get_connector("messenger")
    with time_machine.travel(FIRST, tick=False):
        result = connector.fetch(config(), {})
    assert result.messages == [] and result.cursor["account"] == "Pakketdienst Snel"
    with time_machine.travel(FIRST + timedelta(minutes=5), tick=False):
        connector.fetch(config(), result.cursor)
    assert len(responses.calls) == 1
    responses.replace(
        responses.GET, f"{GRAPH_URL}/{PAGE}", json=fixture("error_token_expired.json"), status=400
    )
    with (
        time_machine.travel(FIRST + timedelta(minutes=11), tick=False),
        pytest.raises(AuthFailed),
    ):
        connector.fetch(config(), result.cursor)
