"""WhatsApp replies are sent exactly once, with a REAL Celery worker process on the Redis broker.

As tests/outbox/test_exactly_once.py does for X, but WhatsApp cannot list the messages we sent:
an unknown outcome (the worker SIGKILLed between the API call and the commit, a 5xx after the
message was accepted) is settled by the message's status callback, which carries our reply id
(biz_opaque_callback_data). Until it comes nothing is sent again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from inbox.channels.credentials import encrypt_credentials
from inbox.models import AttemptOutcome, Channel, Direction, Message, Reply, ReplyState
from inbox.services import replies as reply_services
from inbox.services.outbox import recover_outbox
from tests.factories import ContactFactory, ConversationFactory, MessageFactory
from tests.outbox.fake_whatsapp import FakeWhatsApp
from tests.outbox.test_exactly_once import reply_state, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

APP = "tests.outbox.whatsapp_celery_app"
NUMBER = "106540352242922"
CUSTOMER = "31612345678"
APP_SECRET = "wa-app-secret"


@pytest.fixture
def fake_wa():
    with FakeWhatsApp() as fake:
        yield fake


@pytest.fixture
def make_reply(fake_wa, team_a, staff_a):
    """make_reply(**settings) -> queue(): a WhatsApp chat whose customer wrote 10 minutes ago;
    queue() sends staff A's reply to the outbox (queued on commit)."""

    def make(**settings) -> Reply:
        channel = Channel.objects.create(
            kind="whatsapp",
            name="WhatsApp",
            config={"phone_number_id": NUMBER, "api_base_url": fake_wa.url, **settings},
            credentials_encrypted=encrypt_credentials(
                {"access_token": "EAAG", "app_secret": APP_SECRET}
            ),
        )
        contact = ContactFactory(channel=channel, external_id=CUSTOMER, handle=f"+{CUSTOMER}")
        conversation = ConversationFactory(
            channel=channel,
            contact=contact,
            department=team_a,
            status="assigned",
            assignee=staff_a,
            is_public=False,
            thread_key=f"wa:{NUMBER}:{CUSTOMER}",
            last_inbound_at=timezone.now() - timedelta(minutes=10),
        )
        MessageFactory(conversation=conversation, external_id="wamid.in", is_public=False)
        return reply_services.save_and_submit_reply(
            conversation=conversation, text="Wij boeken u om op KL1236.", acting_user=staff_a
        )

    return make


def send_status(channel_id: int, fake: FakeWhatsApp, message: dict) -> None:
    """What Meta does once the message is on its way: the signed "sent" status callback."""
    body = json.dumps(fake.status_callback(message, number=NUMBER)).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    answer = Client().post(
        reverse("hooks:whatsapp", args=[channel_id]),
        data=body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature},
    )
    assert answer.status_code == 200, answer.content


def assert_sent_once(reply: Reply, fake: FakeWhatsApp) -> None:
    reply.refresh_from_db()
    assert reply.state == ReplyState.SENT
    assert len(fake.messages) == 1, fake.messages
    [message] = fake.messages
    assert message["to"] == CUSTOMER
    assert message["text"] == {"body": "Wij boeken u om op KL1236.", "preview_url": False}
    assert message["biz_opaque_callback_data"] == f"reply:{reply.pk}:0"
    assert reply.external_id == message["id"]
    outbound = Message.objects.get(conversation=reply.conversation, direction=Direction.OUTBOUND)
    assert outbound.external_id == message["id"]
    assert outbound.is_public is False


def test_a_plain_send_posts_once(start_worker, make_reply, fake_wa):
    start_worker("w1", app=APP)
    reply = make_reply()
    wait_for(lambda: reply_state(reply) == ReplyState.SENT, what="the reply to be sent")
    assert_sent_once(reply, fake_wa)
    assert list(reply.attempts.values_list("outcome", flat=True)) == [AttemptOutcome.SENT]


def test_a_worker_killed_between_the_call_and_the_commit_sends_once(
    start_worker, make_reply, fake_wa
):
    fake_wa.modes = ["crash"]
    first = start_worker("w1", app=APP)
    reply = make_reply()
    assert fake_wa.posted.wait(45), first.log_path.read_text()
    first.send_signal(signal.SIGKILL)  # WhatsApp has the message; the worker never learns its id
    first.wait()
    assert reply_state(reply) == ReplyState.SENDING
    assert list(reply.attempts.values_list("outcome", flat=True)) == [AttemptOutcome.PENDING]

    # Meta reports the message sent, naming our reply: the id is noted on the attempt.
    send_status(reply.conversation.channel_id, fake_wa, fake_wa.messages[0])
    assert reply.attempts.get().external_id == fake_wa.messages[0]["id"]

    start_worker("w2", app=APP)

    def recovered() -> bool:
        recover_outbox()  # the "outbox-recover" beat entry, once the dead worker's lease ran out
        return reply_state(reply) == ReplyState.SENT

    wait_for(recovered, what="recovery after the crash")
    assert_sent_once(reply, fake_wa)
    assert fake_wa.post_requests == 1
    assert list(reply.attempts.values_list("outcome", flat=True)) == [AttemptOutcome.FOUND]
    assert reply.delivery_status == "sent"


def test_an_accepted_message_answered_with_a_5xx_waits_for_its_callback(
    start_worker, make_reply, fake_wa
):
    fake_wa.modes = ["5xx-posted"]
    start_worker("w1", app=APP)
    reply = make_reply()

    def asked_again() -> bool:
        # The retry found the attempt's outcome unknown and sent nothing: no callback yet.
        reply.refresh_from_db()
        return reply.last_error.startswith("check failed") and "status callback" in reply.last_error

    wait_for(asked_again, what="a retry that waits for the callback")
    assert fake_wa.post_requests == 1
    assert reply_state(reply) in (ReplyState.UNKNOWN, ReplyState.SENDING)

    send_status(reply.conversation.channel_id, fake_wa, fake_wa.messages[0])
    wait_for(lambda: reply_state(reply) == ReplyState.SENT, what="the callback to settle it")
    assert_sent_once(reply, fake_wa)
    assert fake_wa.post_requests == 1
    assert list(reply.attempts.values_list("outcome", flat=True))[-1] == AttemptOutcome.FOUND


def test_a_refused_call_without_a_callback_is_sent_after_the_grace(
    start_worker, make_reply, fake_wa
):
    fake_wa.modes = ["5xx"]  # nothing accepted: no callback will ever come
    start_worker("w1", app=APP)
    reply = make_reply(status_grace_minutes=0)
    wait_for(lambda: reply_state(reply) == ReplyState.SENT, what="the reply to be sent")
    assert_sent_once(reply, fake_wa)
    assert fake_wa.post_requests == 2
    assert list(reply.attempts.values_list("outcome", flat=True)) == [
        AttemptOutcome.NOT_FOUND,
        AttemptOutcome.SENT,
    ]
