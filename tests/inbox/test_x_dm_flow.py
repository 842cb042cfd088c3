"""X direct messages end to end: recorded dm_events pages through the real poll into ingest,
a reply in the DM conversation through the reply service and the outbox (X replayed with
`responses`), our sent DM fetched back without a duplicate, and the channel health row."""

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses
import time_machine
from django.test import Client
from django.urls import reverse

from inbox.channels.credentials import encrypt_credentials
from inbox.models import Channel, Contact, Conversation, Direction, Message, Reply, ReplyState
from inbox.services import replies as reply_services
from inbox.services.channels import poll_channel_once
from inbox.services.outbox import deliver_reply
from inbox.services.refusals import ActionRefused

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "x"
API = "https://api.twitter.com/2"
OUR_ID = "1420339457118097409"
JAN = "1102938475610293847"
AMAL = "1598765432109876543"
MENTIONS = f"{API}/users/{OUR_ID}/mentions"
DM_EVENTS = f"{API}/dm_events"
SEND_DM = f"{API}/dm_conversations/with/{JAN}/messages"
E1, E2, E5, E6 = (
    "1917894264738545665",
    "1917896278004465666",
    "1917900556194545669",
    "1917901814485745670",
)
NEXT = "18LAA581J5II7LA00C00ZZZZ"
NOW = datetime(2025, 5, 1, 11, 30, tzinfo=UTC)


def load(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def only(page: str, *ids: str) -> dict:
    body = copy.deepcopy(load(page))
    body["data"] = [e for e in body["data"] if e["id"] in ids]
    body["meta"].pop("next_token", None)
    return body


@pytest.fixture
def channel(db):
    return Channel.objects.create(
        kind="x",
        name="Stadswonen op X",
        own_handles=["stadswonen"],
        credentials_encrypted=encrypt_credentials(
            {
                "consumer_key": "ck",
                "consumer_secret": "cs",
                "access_token": f"{OUR_ID}-at",
                "access_token_secret": "ats",
                "user_id": OUR_ID,
            }
        ),
    )


def poll(channel, *dm_pages, at=NOW):
    """One real poll with the mentions empty and the given dm_events pages in order."""
    with responses.RequestsMock() as api, time_machine.travel(at, tick=False):
        api.get(MENTIONS, json=load("empty.json"))
        for page in dm_pages:
            api.get(DM_EVENTS, json=page)
        outcome = poll_channel_once(channel_id=channel.pk, now=at)
    assert outcome.status == "ok", outcome
    channel.refresh_from_db()
    return outcome


def test_dms_open_one_private_conversation_per_customer(channel):
    poll(channel, load("dm_events_page1.json"), load("dm_events_page2.json"))

    jan = Conversation.objects.get(channel=channel, thread_key=f"dm:{JAN}")
    amal = Conversation.objects.get(channel=channel, thread_key=f"dm:{AMAL}")
    assert Conversation.objects.filter(channel=channel).count() == 2  # no group conversation
    assert not jan.is_public and not amal.is_public
    # The handover's convention: the customer's Contact on the same channel, by X user id.
    assert jan.contact == Contact.objects.get(channel=channel, external_id=JAN)
    assert jan.contact.handle == "jdevries"
    messages = list(jan.messages.order_by("created_at").values_list("external_id", "direction"))
    assert messages == [
        (E1, Direction.INBOUND),
        (E5, Direction.INBOUND),
        (E6, Direction.OUTBOUND),  # ours, typed in X's app: stored as outbound
    ]
    assert not Message.objects.filter(channel=channel, is_public=True).exists()
    assert channel.cursor["dm"]["last_id"] == E6


def test_a_back_and_forth_stays_in_one_conversation_across_polls(channel):
    poll(channel, only("dm_events_page2.json", E1))
    poll(channel, only("dm_events_page1.json", E5), at=NOW + timedelta(minutes=5))
    conversation = Conversation.objects.get(channel=channel, thread_key=f"dm:{JAN}")
    assert set(conversation.messages.values_list("external_id", flat=True)) == {E1, E5}
    assert Conversation.objects.filter(channel=channel).count() == 1


@pytest.fixture
def dm_conversation(channel, team_a, staff_a):
    poll(channel, only("dm_events_page2.json", E1))
    conversation = Conversation.objects.get(channel=channel, thread_key=f"dm:{JAN}")
    Conversation.objects.filter(pk=conversation.pk).update(
        department=team_a, assignee=staff_a, status="assigned"
    )
    conversation.refresh_from_db()
    return conversation


def test_a_reply_in_a_dm_conversation_goes_as_a_dm_and_its_echo_is_no_duplicate(
    channel, dm_conversation, staff_a
):
    text = "Dank je Jan, de monteur komt morgen tussen 8 en 12 uur. ^Lotte"
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        reply = reply_services.save_and_submit_reply(
            conversation=dm_conversation,
            text=text,
            acting_user=staff_a,
            # Nothing public to put it under: ignored in a DM conversation.
            public_notice="We hebben je een DM gestuurd.",
        )
    assert reply.private
    assert not Reply.objects.filter(notice_for=reply).exists()

    with responses.RequestsMock() as api:
        api.post(
            SEND_DM,
            status=201,
            json={"data": {"dm_conversation_id": f"{JAN}-{OUR_ID}", "dm_event_id": E6}},
        )
        assert deliver_reply(reply_id=reply.pk).kind == "sent"
        assert json.loads(api.calls[0].request.body) == {"text": reply.parts[0]}
    reply.refresh_from_db()
    assert reply.state == ReplyState.SENT
    assert reply.external_id == E6
    assert reply.external_url == ""  # a DM has no public address
    sent = Message.objects.get(channel=channel, external_id=E6)
    assert sent.direction == Direction.OUTBOUND and not sent.is_public

    # The next poll reads our DM back (E6) with Jan's answer (E5) and reads down to E1.
    poll(
        channel,
        load("dm_events_page1.json"),
        load("dm_events_page2.json"),
        at=NOW + timedelta(minutes=10),
    )
    assert Message.objects.filter(channel=channel, external_id=E6).count() == 1
    dm_conversation.refresh_from_db()
    assert set(dm_conversation.messages.values_list("external_id", flat=True)) == {E1, E5, E6}
    assert dm_conversation.message_count == 3
    assert Conversation.objects.filter(channel=channel, thread_key=f"dm:{JAN}").count() == 1


def test_a_dm_is_counted_as_a_dm_not_as_a_post(dm_conversation, staff_a):
    long_text = "Beste Jan, " + "x" * 2000  # far over a post's 280
    composed = reply_services.compose_reply(
        conversation=dm_conversation, user=staff_a, text=long_text
    )
    assert composed.limit == 10_000 and not composed.over_limit
    assert len(composed.parts) == 1
    with pytest.raises(ActionRefused, match="10000"):
        reply_services.save_and_submit_reply(
            conversation=dm_conversation, text="x" * 10_001, acting_user=staff_a
        )


def test_the_composer_offers_no_private_choice_in_a_dm_conversation(
    dm_conversation, staff_a, client
):
    client.force_login(staff_a)
    page = client.get(reverse("inbox:team_conversation", args=[dm_conversation.pk]))
    assert page.status_code == 200
    assert b"data-composer" in page.content
    assert b'name="public_notice"' not in page.content
    assert b'name="split"' not in page.content  # one DM, never a numbered thread
    assert b'data-kind="x_dm" data-limit="10000"' in page.content


def test_the_public_mentions_private_reply_keeps_its_notice(channel, team_a, staff_a):
    with responses.RequestsMock() as api, time_machine.travel(NOW, tick=False):
        api.get(MENTIONS, json=load("mentions_page2.json"))
        api.get(DM_EVENTS, json=load("empty.json"))
        assert poll_channel_once(channel_id=channel.pk, now=NOW).status == "ok"
    public = Conversation.objects.get(channel=channel, is_public=True)
    Conversation.objects.filter(pk=public.pk).update(
        department=team_a, assignee=staff_a, status="assigned"
    )
    public.refresh_from_db()
    reply = reply_services.save_and_submit_reply(
        conversation=public,
        text="Hoi, mag ik je adres?",
        acting_user=staff_a,
        private=True,
        public_notice="We hebben je een DM gestuurd.",
    )
    assert reply.private
    assert Reply.objects.filter(notice_for=reply).count() == 1


def test_the_health_row_says_dms_are_off_without_user_context(db, admin_user):
    bearer_only = Channel.objects.create(
        kind="x",
        name="Alleen lezen",
        credentials_encrypted=encrypt_credentials({"bearer_token": "b", "user_id": OUR_ID}),
    )
    with responses.RequestsMock() as api, time_machine.travel(NOW, tick=False):
        api.get(MENTIONS, json=load("empty.json"))
        assert poll_channel_once(channel_id=bearer_only.pk, now=NOW).status == "ok"
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("inbox:channels")).content.decode()
    assert "Direct messages off: needs user-context keys." in page


def test_the_health_row_counts_skipped_group_messages(channel, admin_user):
    poll(channel, load("dm_events_page1.json"), load("dm_events_page2.json"))
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("inbox:channels")).content.decode()
    assert "1 group direct message skipped" in page


def test_dms_off_for_lack_of_permission_keeps_mentions_flowing(channel, admin_user):
    with responses.RequestsMock() as api, time_machine.travel(NOW, tick=False):
        api.get(MENTIONS, json=load("mentions_page2.json"))
        api.get(DM_EVENTS, json=load("error_403.json"), status=403)
        assert poll_channel_once(channel_id=channel.pk, now=NOW).status == "ok"
    assert Conversation.objects.filter(channel=channel, is_public=True).count() == 1
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("inbox:channels")).content.decode()
    assert "Direct messages off: X refused access" in page
