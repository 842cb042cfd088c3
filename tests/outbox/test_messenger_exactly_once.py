"""Messenger replies are sent exactly once, with a REAL Celery worker process on the Redis broker.

As tests/outbox/test_whatsapp_exactly_once.py, but Messenger can be asked: an unknown outcome
(the worker SIGKILLed between the Send API call and the commit) is settled by reading the
customer's conversation for our text (find_existing_reply), or earlier by the message's echo,
which carries our reply id in its metadata.
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
from tests.outbox.fake_messenger import FakeMessenger
from tests.outbox.test_exactly_once import reply_state, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

APP = "tests.outbox.messenger_celery_app"
PAGE = "104532178952341"
PSID = "6754321098765432"
APP_SECRET = "meta-app-secret"
TEXT = "Wij sturen het pakket morgen opnieuw."


@pytest.fixture
def fake_fb():
    with FakeMessenger(PAGE) as fake:
        yield fake


@pytest.fixture
def make_reply(fake_fb, team_a, staff_a):
    """A Messenger chat whose customer wrote 10 minutes ago; staff A's reply goes to the outbox."""

    def make() -> Reply:
        channel = Channel.objects.create(
            kind="messenger",
            name="Messenger",
            config={"page_id": PAGE, "api_base_url": fake_fb.url},
            credentials_encrypted=encrypt_credentials(
                {"access_token": "EAAG", "app_secret": APP_SECRET}
            ),
        )
        contact = ContactFactory(channel=channel, external_id=PSID, handle="")
        conversation = ConversationFactory(
            channel=channel,
            contact=contact,
            department=team_a,
            status="assigned",
            assignee=staff_a,
            is_public=False,
            thread_key=f"fbm:{PAGE}:{PSID}",
            last_inbound_at=timezone.now() - timedelta(minutes=10),
        )
        MessageFactory(conversation=conversation, external_id="m_in", is_public=False)
        return reply_services.save_and_submit_reply(
            conversation=conversation, text=TEXT, acting_user=staff_a
        )

    return make


def send_echo(channel_id: int, fake: FakeMessenger, message: dict) -> None:
    body = json.dumps(fake.echo(message)).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    answer = Client().post(
        reverse("hooks:meta", args=[channel_id]),
        data=body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature},
    )
    assert answer.status_code == 200, answer.content


def assert_sent_once(reply: Reply, fake: FakeMessenger) -> None:
    reply.refresh_from_db()
    assert reply.state == ReplyState.SENT
    assert len(fake.messages) == 1, fake.messages
    [message] = fake.messages
    assert message["recipient"] == {"id": PSID}
    assert message["messaging_type"] == "RESPONSE"
    assert message["message"] == {"text": TEXT, "metadata": f"reply:{reply.pk}:0"}
    assert reply.external_id == message["id"]
    outbound = Message.objects.get(conversation=reply.conversation, direction=Direction.OUTBOUND)
    assert outbound.external_id == message["id"] and outbound.is_public is False


def test_a_worker_killed_between_the_call_and_the_commit_sends_once(
    start_worker, make_reply, fake_fb
):
    fake_fb.modes = ["crash"]
    first = start_worker("w1", app=APP)
    reply = make_reply()
    assert fake_fb.posted.wait(45), first.log_path.read_text()
    first.send_signal(signal.SIGKILL)  # Meta has the message; the worker never learns its id
    first.wait()
    assert reply_state(reply) == ReplyState.SENDING
    assert list(reply.attempts.values_list("outcome", flat=True)) == [AttemptOutcome.PENDING]

    start_worker("w2", app=APP)

    def recovered() -> bool:
        recover_outbox()  # the "outbox-recover" beat entry, once the dead worker's lease ran out
        return reply_state(reply) == ReplyState.SENT

    wait_for(recovered, what="recovery after the crash")
    # The conversation showed our message: found, not sent again.
    assert_sent_once(reply, fake_fb)
    assert fake_fb.post_requests == 1
    assert list(reply.attempts.values_list("outcome", flat=True)) == [AttemptOutcome.FOUND]


def test_an_echo_settles_a_killed_send_before_anyone_asks(start_worker, make_reply, fake_fb):
    fake_fb.modes = ["crash"]
    first = start_worker("w1", app=APP)
    reply = make_reply()
    assert fake_fb.posted.wait(45), first.log_path.read_text()
    first.send_signal(signal.SIGKILL)
    first.wait()

    send_echo(reply.conversation.channel_id, fake_fb, fake_fb.messages[0])
    assert reply.attempts.get().external_id == fake_fb.messages[0]["id"]

    start_worker("w2", app=APP)

    def recovered() -> bool:
        recover_outbox()
        return reply_state(reply) == ReplyState.SENT

    wait_for(recovered, what="recovery after the crash")
    assert_sent_once(reply, fake_fb)
    assert fake_fb.post_requests == 1
    assert list(reply.attempts.values_list("outcome", flat=True)) == [AttemptOutcome.FOUND]
    assert reply.delivery_status == "sent"
