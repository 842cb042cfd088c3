"""Messenger and Instagram Direct end to end: recorded deliveries through the real Meta endpoint
into ingest, the messaging windows (24 hours, the human-agent tag up to 7 days) in the reply
service and the composer, sends through the outbox (Send API replayed with responses), receipts
and echoes updating the replies and settling an unknown outcome, and the channel's health."""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses
import time_machine
from django.test import Client
from django.urls import reverse

from inbox.channels.credentials import encrypt_credentials
from inbox.channels.meta import GRAPH_URL
from inbox.models import (
    AttemptOutcome,
    Channel,
    ChannelStatus,
    Conversation,
    ConversationEvent,
    DeliveryStatus,
    Direction,
    Message,
    ReplyState,
)
from inbox.services import replies as reply_services
from inbox.services.channels import poll_channel_once
from inbox.services.outbox import deliver_reply
from inbox.services.refusals import ActionRefused
from inbox.views import webhooks

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "messenger"
APP_SECRET = "meta-app-secret"
PAGE = "104532178952341"
PSID = "6754321098765432"
IG = "17841405822304914"
SEND_URL = f"{GRAPH_URL}/{PAGE}/messages"
SENT_ID = "m_sent_by_us_7Gd2Lp0W"
FIRST = datetime(2025, 12, 6, 9, 0, tzinfo=UTC)


def raw(name: str, reply: int | None = None) -> bytes:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return text.replace("{REPLY}", str(reply)).encode()


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)


def make_channel(kind="messenger", **config):
    account = {"page_id": PAGE} if kind == "messenger" else {"ig_user_id": IG, "page_id": PAGE}
    return Channel.objects.create(
        kind=kind,
        name="Pakketdienst Snel" if kind == "messenger" else "@pakketdienst",
        config={**account, **config},
        credentials_encrypted=encrypt_credentials(
            {"access_token": "EAAG", "app_secret": APP_SECRET, "verify_token": "vt-fb"}
        ),
    )


@pytest.fixture
def channel(db):
    return make_channel()


def post(client, channel, body: bytes, secret: str = APP_SECRET):
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        reverse("hooks:meta", args=[channel.pk]),
        data=body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature},
    )


def chat(client, channel, team_a, staff_a):
    with time_machine.travel(FIRST + timedelta(seconds=2), tick=False):
        assert post(client, channel, raw("webhook_text.json")).status_code == 200
    conv = Conversation.objects.get(channel=channel)
    Conversation.objects.filter(pk=conv.pk).update(
        department=team_a, assignee=staff_a, status="assigned"
    )
    conv.refresh_from_db()
    return conv


@pytest.fixture
def conversation(client, channel, team_a, staff_a):
    """The customer's chat, ingested from the recorded text message and given to staff A."""
    return chat(client, channel, team_a, staff_a)


def queue(conversation, staff_a, text="Wij sturen het pakket morgen opnieuw.", hours=1):
    with time_machine.travel(FIRST + timedelta(hours=hours), tick=False):
        return reply_services.save_and_submit_reply(
            conversation=conversation, text=text, acting_user=staff_a
        )


# --- the endpoint ---------------------------------------------------------------------------


def test_the_endpoint_is_public_and_csrf_exempt():
    assert webhooks.meta_webhook.access_rule == "public"
    assert webhooks.meta_webhook.csrf_exempt


def test_the_verification_challenge(client, channel):
    url = reverse("hooks:meta", args=[channel.pk])
    params = {"hub.mode": "subscribe", "hub.verify_token": "vt-fb", "hub.challenge": "4471"}
    answer = client.get(url, params)
    assert answer.status_code == 200 and answer.content == b"4471"
    assert client.get(url, {**params, "hub.verify_token": "guess"}).status_code == 403


def test_a_forged_delivery_is_refused_and_stores_nothing(client, channel):
    assert post(client, channel, raw("webhook_text.json"), secret="wrong").status_code == 403
    unsigned = client.post(
        reverse("hooks:meta", args=[channel.pk]),
        data=raw("webhook_text.json"),
        content_type="application/json",
    )
    assert unsigned.status_code == 403
    assert not Message.objects.exists()


def test_a_delivery_for_the_other_product_is_a_clear_400(client, channel):
    answer = post(client, channel, raw("ig_webhook_text.json"))
    assert answer.status_code == 400
    assert "not a Messenger delivery" in answer.json()["error"]


# --- ingest and threading -------------------------------------------------------------------


def test_messages_of_one_customer_are_one_private_conversation(client, channel):
    with time_machine.travel(FIRST + timedelta(minutes=5), tick=False):
        for name in ("webhook_text.json", "webhook_two_messages.json", "webhook_attachments.json"):
            assert post(client, channel, raw(name)).status_code == 200
        # Meta delivers again after a timeout: nothing doubles.
        post(client, channel, raw("webhook_text.json"))
    conv = Conversation.objects.get()
    assert conv.thread_key == f"fbm:{PAGE}:{PSID}"
    assert conv.is_public is False
    assert conv.contact.external_id == PSID
    messages = list(conv.messages.order_by("created_at"))
    assert len(messages) == 4
    assert all(m.is_public is False and m.direction == Direction.INBOUND for m in messages)
    assert messages[2].parent_external_id == messages[0].external_id
    assert "[file] https://cdn.fbsbx.com/" in messages[3].text


def test_an_echo_written_in_business_suite_is_stored_as_ours(client, conversation):
    post(client, conversation.channel, raw("webhook_echo_outside_app.json"))
    own = Message.objects.get(direction=Direction.OUTBOUND)
    assert own.conversation_id == conversation.pk
    assert own.text == "Goedemorgen, we kijken ernaar!"


def test_an_unsent_instagram_message_is_noted(client, team_a, staff_a):
    channel = make_channel("instagram_direct")
    with time_machine.travel(FIRST + timedelta(seconds=2), tick=False):
        post(client, channel, raw("ig_webhook_text.json"))
    assert post(client, channel, raw("ig_webhook_deleted.json")).status_code == 200
    message = Message.objects.get(channel=channel)
    assert message.raw["unsent"] is True
    assert message.conversation.thread_key == f"igd:{IG}:1223334444555556"
    assert ConversationEvent.objects.filter(kind="message_unsent").count() == 1
    post(client, channel, raw("ig_webhook_deleted.json"))  # a repeat notes nothing more
    assert ConversationEvent.objects.filter(kind="message_unsent").count() == 1


# --- the windows ----------------------------------------------------------------------------


def test_inside_24_hours_a_reply_is_queued_as_a_private_message(conversation, staff_a):
    reply = queue(conversation, staff_a, hours=23)
    assert reply.state == ReplyState.APPROVED
    assert reply.private is True


def test_after_24_hours_without_the_human_agent_permission_it_is_refused(conversation, staff_a):
    with pytest.raises(ActionRefused, match="More than 24 hours have passed") as refused:
        queue(conversation, staff_a, hours=25)
    assert "human_agent" in str(refused.value)
    assert not conversation.replies.exclude(state=ReplyState.DRAFT).exists()


def test_with_the_human_agent_permission_up_to_7_days_then_refused(client, conversation, staff_a):
    Channel.objects.filter(pk=conversation.channel_id).update(
        config={"page_id": PAGE, "human_agent": True}
    )
    conversation.refresh_from_db()
    assert queue(conversation, staff_a, hours=24 * 6).state == ReplyState.APPROVED
    with pytest.raises(ActionRefused, match="More than 7 days have passed"):
        queue(conversation, staff_a, text="Nog iets?", hours=24 * 7 + 1)


def test_the_window_is_checked_again_when_a_reviewer_approves(conversation, staff_a, team_a):
    from routing.models import ReviewPolicy
    from tests.factories import UserFactory

    team_a.review_policy = ReviewPolicy.ALWAYS
    team_a.save()
    reviewer = UserFactory(username="rita", role="staff")
    team_a.memberships.create(user=reviewer)
    reply = queue(conversation, staff_a, hours=20)
    assert reply.state == ReplyState.PENDING_REVIEW
    with (
        time_machine.travel(FIRST + timedelta(hours=25), tick=False),
        pytest.raises(ActionRefused, match="24 hours"),
    ):
        reply_services.approve_reply(reply=reply, acting_user=reviewer)


def test_a_text_longer_than_messenger_takes_is_refused(conversation, staff_a):
    with pytest.raises(ActionRefused, match="2001 of 2000"):
        queue(conversation, staff_a, text="a" * 2001)


def test_the_composer_states_the_window(conversation, staff_a):
    browser = Client()
    browser.force_login(staff_a)
    url = reverse("inbox:team_conversation", args=[conversation.pk])
    with time_machine.travel(FIRST + timedelta(hours=2), tick=False):
        html = browser.get(url).content.decode()
    assert 'data-window="open"' in html
    assert "Messenger: the messaging window is open until 7 Dec" in html
    assert 'id="private"' not in html  # a chat is private already
    with time_machine.travel(FIRST + timedelta(days=2), tick=False):
        html = browser.get(url).content.decode()
    assert 'data-window="closed"' in html and "More than 24 hours have passed" in html
    Channel.objects.filter(pk=conversation.channel_id).update(
        config={"page_id": PAGE, "human_agent": True}
    )
    with time_machine.travel(FIRST + timedelta(days=2), tick=False):
        html = browser.get(url).content.decode()
    assert 'data-window="human-agent"' in html
    assert "tagged as a human agent" in html and "until 13 Dec" in html


# --- sending, receipts, unknown outcomes ----------------------------------------------------


@responses.activate
def test_a_reply_is_sent_and_its_receipts_show_on_it(client, channel, conversation, staff_a):
    responses.post(SEND_URL, json=json.loads(raw("send_ok.json")))
    reply = queue(conversation, staff_a)
    with time_machine.travel(FIRST + timedelta(hours=1), tick=False):
        assert deliver_reply(reply_id=reply.pk).kind == "sent"
    reply.refresh_from_db()
    assert reply.state == ReplyState.SENT and reply.external_id == SENT_ID
    body = json.loads(responses.calls[0].request.body)
    assert body["messaging_type"] == "RESPONSE"
    assert body["recipient"] == {"id": PSID}
    assert body["message"]["metadata"] == f"reply:{reply.pk}:0"
    assert Message.objects.get(direction=Direction.OUTBOUND).is_public is False

    # Our own echo: the reply's "sent", never a second message.
    post(client, channel, raw("webhook_echo_ours.json", reply.pk))
    assert Message.objects.filter(direction=Direction.OUTBOUND).count() == 1
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.SENT
    post(client, channel, raw("webhook_deliveries.json"))
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.DELIVERED
    post(client, channel, raw("webhook_read.json"))
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.READ
    # A late delivery receipt never moves the state back.
    post(client, channel, raw("webhook_delivery_watermark.json"))
    post(client, channel, raw("webhook_deliveries.json"))
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.READ


@responses.activate
def test_a_read_watermark_before_the_reply_was_sent_leaves_it(
    client, channel, conversation, staff_a
):
    responses.post(SEND_URL, json=json.loads(raw("send_ok.json")))
    reply = queue(conversation, staff_a, hours=2)
    with time_machine.travel(FIRST + timedelta(hours=2), tick=False):
        deliver_reply(reply_id=reply.pk)
    post(client, channel, raw("webhook_read.json"))  # read up to 10:01, sent at 11:00
    reply.refresh_from_db()
    assert reply.delivery_status == ""


@responses.activate
def test_an_echo_settles_an_unknown_outcome_without_sending_again(
    client, channel, conversation, staff_a, django_capture_on_commit_callbacks
):
    responses.post(
        SEND_URL, json={"error": {"message": "Service unavailable", "code": 2}}, status=503
    )
    responses.get(
        f"{GRAPH_URL}/{PAGE}/conversations", json=json.loads(raw("conversations_empty.json"))
    )
    reply = queue(conversation, staff_a)
    with time_machine.travel(FIRST + timedelta(hours=1), tick=False):
        assert deliver_reply(reply_id=reply.pk).kind == "retry"
    reply.refresh_from_db()
    assert reply.state == ReplyState.UNKNOWN

    with django_capture_on_commit_callbacks() as queued:
        assert post(client, channel, raw("webhook_echo_ours.json", reply.pk)).status_code == 200
    assert len(queued) == 1  # the outbox is asked to finish the reply
    with time_machine.travel(FIRST + timedelta(hours=1, minutes=1), tick=False):
        assert deliver_reply(reply_id=reply.pk).kind == "sent"
    reply.refresh_from_db()
    assert reply.state == ReplyState.SENT and reply.external_id == SENT_ID
    assert len([c for c in responses.calls if c.request.method == "POST"]) == 1
    assert list(reply.attempts.values_list("outcome", flat=True)) == [AttemptOutcome.FOUND]


@responses.activate
def test_an_unknown_outcome_is_settled_by_the_conversations_api(conversation, staff_a):
    responses.post(SEND_URL, body=ConnectionError("reset after the request left"))
    responses.get(f"{GRAPH_URL}/{PAGE}/conversations", json=json.loads(raw("conversations.json")))
    reply = queue(conversation, staff_a)
    with time_machine.travel(FIRST + timedelta(hours=1), tick=False):
        assert deliver_reply(reply_id=reply.pk).kind == "retry"
        reply.refresh_from_db()
        assert reply.state == ReplyState.UNKNOWN
        assert deliver_reply(reply_id=reply.pk).kind == "sent"
    reply.refresh_from_db()
    assert reply.external_id == SENT_ID
    assert len([c for c in responses.calls if c.request.method == "POST"]) == 1
    assert list(reply.attempts.values_list("outcome", flat=True)) == [AttemptOutcome.FOUND]


@responses.activate
def test_an_unknown_outcome_not_in_the_conversation_is_sent_again(conversation, staff_a):
    responses.post(
        SEND_URL, json={"error": {"message": "Service unavailable", "code": 2}}, status=503
    )
    responses.post(SEND_URL, json=json.loads(raw("send_ok.json")))
    responses.get(
        f"{GRAPH_URL}/{PAGE}/conversations", json=json.loads(raw("conversations_empty.json"))
    )
    reply = queue(conversation, staff_a)
    with time_machine.travel(FIRST + timedelta(hours=1), tick=False):
        assert deliver_reply(reply_id=reply.pk).kind == "retry"
        assert deliver_reply(reply_id=reply.pk).kind == "sent"
    assert list(reply.attempts.values_list("outcome", flat=True)) == [
        AttemptOutcome.NOT_FOUND,
        AttemptOutcome.SENT,
    ]


@responses.activate
def test_a_reply_approved_in_time_but_sent_after_the_window_fails_without_a_call(
    conversation, staff_a
):
    responses.post(SEND_URL, json=json.loads(raw("send_ok.json")))
    reply = queue(conversation, staff_a, hours=23)
    with time_machine.travel(FIRST + timedelta(hours=24, minutes=1), tick=False):
        assert deliver_reply(reply_id=reply.pk).kind == "failed"
    reply.refresh_from_db()
    assert reply.state == ReplyState.FAILED and "window is closed" in reply.last_error
    assert len(responses.calls) == 0


# --- health ---------------------------------------------------------------------------------


@responses.activate
def test_an_expired_token_shows_in_the_channels_health(channel):
    responses.get(
        f"{GRAPH_URL}/{PAGE}", json=json.loads(raw("error_token_expired.json")), status=400
    )
    assert poll_channel_once(channel_id=channel.pk).status == "auth_failed"
    channel.refresh_from_db()
    assert channel.status == ChannelStatus.ERROR
    assert "Session has expired" in channel.last_error


@responses.activate
def test_a_rate_limited_send_shows_its_reset(conversation, staff_a):
    responses.post(
        SEND_URL,
        json=json.loads(raw("error_rate_limit_613.json")),
        status=400,
        headers={"X-Business-Use-Case-Usage": raw("business_use_case_usage.json").decode()},
    )
    reply = queue(conversation, staff_a)
    with time_machine.travel(FIRST + timedelta(hours=1), tick=False):
        outcome = deliver_reply(reply_id=reply.pk)
    assert outcome.kind == "retry"
    assert outcome.retry_at == FIRST + timedelta(hours=1, minutes=17)
