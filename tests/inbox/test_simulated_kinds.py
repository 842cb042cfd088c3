"""The demo's simulated platforms end to end: seed_demo makes one streaming channel per platform,
polls ingest them as that platform (private chats one per customer, comments threaded), the pages
show the platform as the channel's kind, and a reply in a simulated chat is private, without a
public notice, and "sent" by the simulator."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation

from inbox.channels.simulator.platforms import PLATFORMS
from inbox.models import Channel, Contact, Conversation, Message, Reply, ReplyState
from inbox.services import messaging
from inbox.services.channels import poll_channel_once
from inbox.services.outbox import deliver_reply

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


def simulated(platform: str, **config) -> Channel:
    return Channel.objects.create(
        kind="simulator",
        name=f"Sim {platform}",
        own_handles=["woonstad"],
        config={"seed": f"t-{platform}", "platform": platform, "rate_per_minute": 3, **config},
    )


def poll(channel: Channel, when: datetime = NOW):
    with time_machine.travel(when, tick=False):
        return poll_channel_once(channel_id=channel.pk, now=when)


def test_seed_demo_makes_one_streaming_channel_per_platform_and_is_idempotent():
    call_command("seed_demo", airline=0, history_days=0, stdout=open("/dev/null", "w"))  # noqa: SIM115
    played = {c.config.get("platform"): c for c in Channel.objects.filter(kind="simulator")}
    assert set(PLATFORMS) <= set(played)
    for platform in PLATFORMS:
        channel = played[platform]
        assert channel.enabled and channel.config["rate_per_minute"] > 0
        assert channel.kind_label == f"{PLATFORMS[platform].label} (simulated)"
        teams = set(channel.reply_teams.values_list("slug", flat=True))
        assert "reparaties" in teams  # the newcomer's smoke test forwards any mention there
        if PLATFORMS[platform].style in ("chat", "mail"):
            assert "communicatie" not in teams  # spokespeople do not answer private chats
    sample = Channel.objects.get(name="X @woonstad")  # the sample channel stays as it was
    assert (sample.kind, sample.enabled, sample.config) == ("simulator", False, {})
    counts = (Channel.objects.count(), Conversation.objects.count(), Message.objects.count())
    teams = {c.pk: set(c.reply_teams.values_list("pk", flat=True)) for c in played.values()}

    call_command("seed_demo", airline=0, history_days=0, stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert (Channel.objects.count(), Conversation.objects.count(), Message.objects.count()) == (
        counts
    )
    for channel in Channel.objects.filter(pk__in=teams):
        assert set(channel.reply_teams.values_list("pk", flat=True)) == teams[channel.pk]


@pytest.mark.parametrize("platform", ["whatsapp", "x_dm", "email"])
def test_a_polled_private_platform_is_stored_private_and_a_replay_creates_nothing(platform):
    channel = simulated(platform, backlog_minutes=60)
    first = poll(channel)
    assert first.status == "ok" and first.created > 10
    conversations = Conversation.objects.filter(channel=channel)
    assert not conversations.filter(is_public=True).exists()
    assert not Message.objects.filter(channel=channel, is_public=True).exists()
    if platform != "email":  # a chat: one conversation per customer
        assert conversations.count() == Contact.objects.filter(channel=channel).count()
        assert conversations.filter(message_count__gt=1).exists()
    stored = Message.objects.filter(channel=channel).count()
    Channel.objects.filter(pk=channel.pk).update(cursor={})  # the same poll again, from scratch
    assert poll(channel).created == 0
    assert Message.objects.filter(channel=channel).count() == stored
    later = poll(channel, NOW + timedelta(minutes=5))
    assert later.created > 0  # the stream goes on


def test_polled_comments_thread_under_the_top_level_comment():
    channel = simulated("youtube", rate_per_minute=10, backlog_minutes=60)
    assert poll(channel).created > 100
    assert not Conversation.objects.filter(channel=channel, is_public=False).exists()
    threaded = Conversation.objects.filter(channel=channel, message_count__gt=1)
    assert threaded.exists()
    for conversation in threaded[:20]:
        # The thread is the top-level comment; YouTube names a reply "<top-level id>.<own id>".
        for message in conversation.messages.all():
            top_level = message.external_id.split(".")[0]
            assert conversation.thread_key == top_level


@pytest.fixture
def chat(team_a):
    channel = simulated("whatsapp")
    channel.reply_teams.set([team_a])
    poll(channel)
    conversation = Conversation.objects.filter(channel=channel).order_by("pk").first()
    Conversation.objects.filter(pk=conversation.pk).update(department=team_a, status="triaged")
    conversation.refresh_from_db()
    return conversation


def test_the_pages_show_the_platform_as_the_channel_kind(chat, admin_user, coordinator, staff_a):
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("inbox:channels")).content.decode()
    assert "WhatsApp (simulated)" in page
    client.force_login(coordinator)
    panel = client.get(reverse("inbox:conversation", args=[chat.pk])).content.decode()
    assert "WhatsApp (simulated)" in panel
    client.force_login(staff_a)
    team_page = client.get(reverse("inbox:team_conversation", args=[chat.pk])).content.decode()
    assert "WhatsApp (simulated)" in team_page
    with translation.override("nl"):
        assert chat.channel.kind_label == "WhatsApp (gesimuleerd)"
    # Another simulator channel without a platform keeps its kind.
    plain = Channel.objects.create(kind="simulator", name="Plain", config={"seed": 1})
    assert plain.kind_label == "Simulator"
    odd = Channel.objects.create(kind="x", name="X", config={"platform": "whatsapp"})
    assert odd.kind_label == "X"


def test_a_reply_in_a_simulated_chat_is_private_without_a_public_notice(chat, staff_a):
    client = Client()
    client.force_login(staff_a)
    page = client.get(reverse("inbox:team_conversation", args=[chat.pk])).content.decode()
    assert 'name="private"' not in page and 'name="public_notice"' not in page
    assert "A private chat" in page
    response = client.post(
        reverse("inbox:reply_save", args=[chat.pk]),
        {
            "text": "Wat vervelend! Wij sturen vandaag een monteur.",
            "action": "submit",
            "public_notice": "We hebben je een privébericht gestuurd.",
            "after_send": "answered",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    reply = Reply.objects.get(conversation=chat)  # one reply: no public notice beside it
    assert reply.private and reply.notice_for_id is None
    assert reply.state == ReplyState.APPROVED
    deliver_reply(reply_id=reply.pk)
    reply.refresh_from_db()
    assert reply.state == ReplyState.SENT
    out = Message.objects.get(conversation=chat, direction="out")
    assert not out.is_public and out.external_id.startswith("simreply-")


def test_a_public_simulated_comment_still_offers_a_private_reply(team_a, staff_a):
    channel = simulated("facebook")
    channel.reply_teams.set([team_a])
    poll(channel)
    conversation = Conversation.objects.filter(channel=channel).order_by("pk").first()
    Conversation.objects.filter(pk=conversation.pk).update(department=team_a, status="triaged")
    assert not messaging.is_private_chat(conversation)
    client = Client()
    client.force_login(staff_a)
    page = client.get(reverse("inbox:team_conversation", args=[conversation.pk])).content.decode()
    assert 'name="private"' in page and "Facebook (simulated)" in page
