"""WhatsApp end to end: recorded deliveries through the real endpoint into ingest, the 24-hour
window and templates in the reply service, sends through the outbox (Cloud API replayed with
responses) and status callbacks settling and updating the replies."""

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

from inbox.channels import meta
from inbox.channels.credentials import encrypt_credentials
from inbox.models import (
    AttemptOutcome,
    Channel,
    Conversation,
    ConversationEvent,
    DeliveryStatus,
    Direction,
    Message,
    ReplyState,
)
from inbox.services import replies as reply_services
from inbox.services.outbox import deliver_reply
from inbox.services.refusals import ActionRefused
from inbox.views import webhooks

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "whatsapp"
APP_SECRET = "wa-app-secret"
NUMBER = "106540352242922"
CUSTOMER = "31612345678"
SEND_URL = f"{meta.GRAPH_URL}/{NUMBER}/messages"
SENT_ID = "wamid.HBgLMzE2MTIzNDU2NzgVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
# The first recorded message was sent at 2025-12-06 09:00 UTC.
FIRST = datetime(2025, 12, 6, 9, 0, tzinfo=UTC)
TEMPLATES = [
    {
        "name": "vlucht_update",
        "language": "nl",
        "parameters": 2,
        "body": "Beste {{1}}, er is nieuws over uw vlucht {{2}}. Antwoord op dit bericht.",
    },
    {"name": "heropen_gesprek", "language": "en", "parameters": 0},
]


def raw(name: str, reply: int | None = None) -> bytes:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return text.replace("{REPLY}", str(reply)).encode()


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def channel(db):
    return Channel.objects.create(
        kind="whatsapp",
        name="WhatsApp Klantenservice",
        config={"phone_number_id": NUMBER, "templates": TEMPLATES},
        credentials_encrypted=encrypt_credentials(
            {"access_token": "EAAG", "app_secret": APP_SECRET, "verify_token": "vt-wa"}
        ),
    )


def post(client, channel, body: bytes, secret: str = APP_SECRET):
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        reverse("hooks:whatsapp", args=[channel.pk]),
        data=body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature},
    )


@pytest.fixture
def conversation(client, channel, team_a, staff_a):
    """The customer's chat, ingested from the recorded text message and given to staff A."""
    with time_machine.travel(FIRST + timedelta(seconds=2), tick=False):
        assert post(client, channel, raw("webhook_text.json")).status_code == 200
    conv = Conversation.objects.get(channel=channel)
    Conversation.objects.filter(pk=conv.pk).update(
        department=team_a, assignee=staff_a, status="assigned"
    )
    conv.refresh_from_db()
    return conv


# --- the endpoint ---------------------------------------------------------------------------


def test_the_endpoint_is_public_and_csrf_exempt():
    assert webhooks.whatsapp_webhook.access_rule == "public"
    assert webhooks.whatsapp_webhook.csrf_exempt


def test_the_verification_challenge(client, channel):
    url = reverse("hooks:whatsapp", args=[channel.pk])
    params = {"hub.mode": "subscribe", "hub.verify_token": "vt-wa", "hub.challenge": "1158201444"}
    answer = client.get(url, params)
    assert answer.status_code == 200
    assert answer.content == b"1158201444"
    assert answer["Content-Type"].startswith("text/plain")
    assert client.get(url, {**params, "hub.verify_token": "guess"}).status_code == 403


def test_a_forged_delivery_is_refused_and_stores_nothing(client, channel):
    answer = post(client, channel, raw("webhook_text.json"), secret="not-the-secret")
    assert answer.status_code == 403
    assert not Message.objects.exists()


def test_a_delivery_that_is_no_whatsapp_delivery_is_a_clear_400(client, channel):
    answer = post(client, channel, b'{"object": "page", "entry": []}')
    assert answer.status_code == 400
    assert "whatsapp_business_account" in answer.json()["error"]


def test_another_channels_kind_has_no_whatsapp_endpoint(client, db):
    facebook = Channel.objects.create(kind="facebook", name="FB")
    assert post(client, facebook, raw("webhook_text.json")).status_code == 404


# --- ingest and threading -------------------------------------------------------------------


def test_every_kind_of_message_joins_the_customers_private_chat(client, channel):
    with time_machine.travel(FIRST + timedelta(minutes=20), tick=False):
        for name in (
            "webhook_text.json",
            "webhook_media.json",
            "webhook_location.json",
            "webhook_reply_context.json",
            "webhook_unsupported_media.json",
        ):
            assert post(client, channel, raw(name)).status_code == 200, name
        # Meta delivers again when unsure: nothing new.
        assert post(client, channel, raw("webhook_text.json")).json() == {"received": 1}
    conv = Conversation.objects.get()
    assert conv.is_public is False
    assert conv.thread_key == f"wa:{NUMBER}:{CUSTOMER}"
    assert conv.contact.external_id == CUSTOMER
    assert conv.contact.name == "Sanne de Vries"
    assert conv.last_inbound_at == datetime(2025, 12, 6, 9, 6, 40, tzinfo=UTC)
    texts = list(conv.messages.order_by("created_at").values_list("text", "is_public"))
    assert texts == [
        ("Mijn vlucht KL1234 is geannuleerd, wat nu?", False),
        ("[image] Zo zag mijn koffer eruit", False),
        ("[document: boeking-ABC123.pdf] De boekingsbevestiging", False),
        (
            "[location] Schiphol Plaza, Evert van de Beekstraat 202, 1118 CP Schiphol "
            "https://maps.google.com/?q=52.3105,4.7683",
            False,
        ),
        ("[unsupported not received: Message type unknown]", False),
        ("Dank je, de nieuwe vlucht is prima!", False),
    ]
    answer = conv.messages.get(text__startswith="Dank je")
    assert answer.parent_external_id == SENT_ID


# --- the 24-hour window and templates ---------------------------------------------------------


def test_free_text_inside_the_window_is_queued_as_a_private_message(conversation, staff_a):
    with time_machine.travel(FIRST + timedelta(hours=23, minutes=59), tick=False):
        reply = reply_services.save_and_submit_reply(
            conversation=conversation, text="Wij boeken u om op KL1236.", acting_user=staff_a
        )
    assert reply.state == ReplyState.APPROVED
    assert reply.private is True  # a WhatsApp chat has nothing public to answer in
    assert reply.template == {}


def test_free_text_outside_the_window_is_refused_with_the_reason(conversation, staff_a):
    with (
        time_machine.travel(FIRST + timedelta(hours=24, seconds=1), tick=False),
        pytest.raises(ActionRefused, match="24 hours") as refused,
    ):
        reply_services.save_and_submit_reply(
            conversation=conversation, text="Wij boeken u om.", acting_user=staff_a
        )
    assert "template" in str(refused.value)
    assert not conversation.replies.exists()  # refused: nothing written


def test_a_template_outside_the_window_is_sent_with_its_name_and_parameters(conversation, staff_a):
    with time_machine.travel(FIRST + timedelta(days=3), tick=False):
        reply = reply_services.save_and_submit_reply(
            conversation=conversation,
            text="",
            acting_user=staff_a,
            template=("vlucht_update:nl", ["Sanne", "KL1234"]),
        )
    assert reply.state == ReplyState.APPROVED
    assert reply.template == {
        "name": "vlucht_update",
        "language": "nl",
        "parameters": ["Sanne", "KL1234"],
    }
    expected = "Beste Sanne, er is nieuws over uw vlucht KL1234. Antwoord op dit bericht."
    assert reply.text == expected
    assert reply.parts == [expected]  # Meta's text, unsigned


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (("bestaat_niet:nl", []), "approved templates"),
        (("vlucht_update:en", ["a", "b"]), "approved templates"),
        (("vlucht_update:nl", ["Sanne"]), "needs 2 values"),
        (("vlucht_update:nl", ["Sanne", " "]), "needs 2 values"),
        (("vlucht_update:nl", ["Sanne", "KL\n1234"]), "one line"),
    ],
)
def test_a_template_not_configured_or_incomplete_is_refused(
    conversation, staff_a, template, message
):
    with pytest.raises(ActionRefused, match=message):
        reply_services.save_and_submit_reply(
            conversation=conversation, text="", acting_user=staff_a, template=template
        )


def test_the_window_is_checked_again_when_a_reviewer_approves(
    conversation, staff_a, team_a, django_user_model
):
    from routing.models import ReviewPolicy
    from tests.factories import UserFactory

    team_a.review_policy = ReviewPolicy.ALWAYS
    team_a.save()
    reviewer = UserFactory(username="rita", role="staff")
    team_a.memberships.create(user=reviewer)
    with time_machine.travel(FIRST + timedelta(hours=20), tick=False):
        reply = reply_services.save_and_submit_reply(
            conversation=conversation, text="Wij boeken u om.", acting_user=staff_a
        )
    assert reply.state == ReplyState.PENDING_REVIEW
    with (
        time_machine.travel(FIRST + timedelta(hours=25), tick=False),
        pytest.raises(ActionRefused, match="24 hours"),
    ):
        reply_services.approve_reply(reply=reply, acting_user=reviewer)


# --- sending, status callbacks, unknown outcomes --------------------------------------------


def queue(conversation, staff_a, text="Wij boeken u om op KL1236."):
    with time_machine.travel(FIRST + timedelta(hours=1), tick=False):
        return reply_services.save_and_submit_reply(
            conversation=conversation, text=text, acting_user=staff_a
        )


@responses.activate
def test_a_reply_is_sent_and_its_statuses_show_on_it(client, channel, conversation, staff_a):
    responses.post(SEND_URL, json=json.loads(raw("send_text.json")))
    reply = queue(conversation, staff_a)
    assert deliver_reply(reply_id=reply.pk).kind == "sent"
    reply.refresh_from_db()
    assert reply.state == ReplyState.SENT
    assert reply.external_id == SENT_ID
    body = json.loads(responses.calls[0].request.body)
    assert body["to"] == CUSTOMER
    assert body["biz_opaque_callback_data"] == f"reply:{reply.pk}:0"
    outbound = Message.objects.get(direction=Direction.OUTBOUND)
    assert outbound.is_public is False

    assert post(client, channel, raw("webhook_status_sent.json", reply.pk)).status_code == 200
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.SENT
    post(client, channel, raw("webhook_status_delivered_read.json", reply.pk))
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.READ
    assert reply.delivery_updated_at == datetime(2025, 12, 6, 9, 5, tzinfo=UTC)
    # A late or repeated callback never moves the state back.
    post(client, channel, raw("webhook_status_sent.json", reply.pk))
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.READ


@responses.activate
def test_a_failed_status_shows_whatsapps_reason_on_the_reply(
    client, channel, conversation, staff_a
):
    responses.post(SEND_URL, json=json.loads(raw("send_text.json")))
    reply = queue(conversation, staff_a)
    deliver_reply(reply_id=reply.pk)
    post(client, channel, raw("webhook_status_failed.json", reply.pk))
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.FAILED
    assert "more than 24 hours have passed" in reply.delivery_error
    event = ConversationEvent.objects.get(kind="reply_delivery_failed")
    assert event.data["reply"] == reply.pk


@responses.activate
def test_a_status_without_our_reply_id_is_matched_by_the_message_id(
    client, channel, conversation, staff_a
):
    responses.post(SEND_URL, json=json.loads(raw("send_text.json")))
    reply = queue(conversation, staff_a)
    deliver_reply(reply_id=reply.pk)
    body = raw("webhook_status_sent.json", reply.pk).replace(
        f'"reply:{reply.pk}:0"'.encode(), b'""'
    )
    post(client, channel, body)
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.SENT


@responses.activate
def test_a_window_closed_answer_fails_the_reply_with_the_reason(conversation, staff_a):
    responses.post(SEND_URL, json=json.loads(raw("error_window_closed.json")), status=400)
    reply = queue(conversation, staff_a)
    assert deliver_reply(reply_id=reply.pk).kind == "failed"
    reply.refresh_from_db()
    assert reply.state == ReplyState.FAILED
    assert "only a template message can be sent" in reply.last_error


@responses.activate
def test_a_status_callback_settles_an_unknown_outcome_without_sending_again(
    client, channel, conversation, staff_a, django_capture_on_commit_callbacks
):
    # WhatsApp took the message but answered 503: the outcome is unknown.
    responses.post(
        SEND_URL, json={"error": {"message": "Service unavailable", "code": 2}}, status=503
    )
    reply = queue(conversation, staff_a)
    assert deliver_reply(reply_id=reply.pk).kind == "retry"
    reply.refresh_from_db()
    assert reply.state == ReplyState.UNKNOWN
    # WhatsApp cannot be asked: without a callback the outbox waits and sends nothing.
    assert deliver_reply(reply_id=reply.pk).kind == "retry"
    assert len(responses.calls) == 1
    reply.refresh_from_db()
    assert reply.state == ReplyState.UNKNOWN
    assert "status callback" in reply.last_error

    with django_capture_on_commit_callbacks() as queued:
        assert post(client, channel, raw("webhook_status_sent.json", reply.pk)).status_code == 200
    assert len(queued) == 1  # the outbox is asked to finish the reply
    assert deliver_reply(reply_id=reply.pk).kind == "sent"
    reply.refresh_from_db()
    assert reply.state == ReplyState.SENT
    assert reply.external_id == SENT_ID
    assert reply.delivery_status == DeliveryStatus.SENT
    assert len(responses.calls) == 1  # sent exactly once
    assert list(reply.attempts.values_list("outcome", flat=True)) == [AttemptOutcome.FOUND]
    assert Message.objects.get(direction=Direction.OUTBOUND).external_id == SENT_ID


@responses.activate
def test_without_a_callback_an_unknown_outcome_is_sent_after_the_grace(
    channel, conversation, staff_a
):
    responses.post(
        SEND_URL, json={"error": {"message": "Service unavailable", "code": 2}}, status=503
    )
    responses.post(SEND_URL, json=json.loads(raw("send_text.json")))
    reply = queue(conversation, staff_a)
    with time_machine.travel(FIRST + timedelta(hours=1, minutes=1), tick=False):
        assert deliver_reply(reply_id=reply.pk).kind == "retry"
    with time_machine.travel(FIRST + timedelta(hours=1, minutes=32), tick=False):
        assert deliver_reply(reply_id=reply.pk).kind == "sent"
    assert len(responses.calls) == 2
    assert list(reply.attempts.values_list("outcome", flat=True)) == [
        AttemptOutcome.NOT_FOUND,
        AttemptOutcome.SENT,
    ]


# --- the composer ---------------------------------------------------------------------------


def test_the_composer_shows_the_open_window(conversation, staff_a):
    browser = Client()
    browser.force_login(staff_a)
    with time_machine.travel(FIRST + timedelta(hours=2), tick=False):
        page = browser.get(reverse("inbox:team_conversation", args=[conversation.pk]))
    html = page.content.decode()
    assert "customer-service window is open until" in html
    assert 'id="private"' not in html  # a WhatsApp chat is private already
    assert '<option value="vlucht_update:nl">' in html


def test_outside_the_window_the_composer_refuses_text_and_offers_templates(conversation, staff_a):
    browser = Client()
    browser.force_login(staff_a)
    url = reverse("inbox:reply_save", args=[conversation.pk])
    with time_machine.travel(FIRST + timedelta(days=2), tick=False):
        page = browser.get(reverse("inbox:team_conversation", args=[conversation.pk]))
        html = page.content.decode()
        assert "More than 24 hours have passed" in html
        assert '<option value="vlucht_update:nl" selected>' in html
        assert 'name="template_parameter"' in html

        refused = browser.post(
            url, {"text": "Wij boeken u om.", "action": "submit"}, headers={"HX-Request": "true"}
        )
        assert "More than 24 hours have passed" in refused.content.decode()
        assert "Wij boeken u om." in refused.content.decode()  # what was typed stays
        assert not conversation.replies.exists()

        sent = browser.post(
            url,
            {
                "text": "",
                "action": "submit",
                "template": "vlucht_update:nl",
                "template_parameter": ["Sanne", "KL1234"],
            },
            headers={"HX-Request": "true"},
        )
    assert sent.status_code == 200
    reply = conversation.replies.get()
    assert reply.state == ReplyState.APPROVED
    assert reply.template["parameters"] == ["Sanne", "KL1234"]
    assert "template “vlucht_update”" in sent.content.decode()


@responses.activate
def test_the_reply_shows_its_delivery(client, channel, conversation, staff_a):
    responses.post(SEND_URL, json=json.loads(raw("send_text.json")))
    reply = queue(conversation, staff_a)
    deliver_reply(reply_id=reply.pk)
    post(client, channel, raw("webhook_status_failed.json", reply.pk))
    browser = Client()
    browser.force_login(staff_a)
    html = browser.get(reverse("inbox:team_conversation", args=[conversation.pk])).content.decode()
    assert 'data-delivery="failed">Not delivered</span>' in html
    assert "Not delivered: 131047 Re-engagement message" in html


# --- health ---------------------------------------------------------------------------------


@responses.activate
def test_an_expired_token_shows_in_the_channels_health(channel):
    from inbox.models import ChannelStatus
    from inbox.services.channels import poll_channel_once

    responses.get(
        f"{meta.GRAPH_URL}/{NUMBER}", json=json.loads(raw("error_token_expired.json")), status=401
    )
    assert poll_channel_once(channel_id=channel.pk).status == "auth_failed"
    channel.refresh_from_db()
    assert channel.status == ChannelStatus.ERROR
    assert "Error validating access token" in channel.last_error


def test_a_text_longer_than_whatsapp_takes_is_refused(conversation, staff_a):
    with (
        time_machine.travel(FIRST + timedelta(hours=1), tick=False),
        pytest.raises(ActionRefused, match="4097 of 4096"),
    ):
        reply_services.save_and_submit_reply(
            conversation=conversation, text="a" * 4097, acting_user=staff_a
        )
