"""LinkedIn end to end: recorded API answers through the real poll (inbox.services.channels),
ingest and channel health, and replies through the outbox (sent once, an unknown outcome
settled by listing the thread's replies). Both databases."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import responses
import time_machine

from inbox.channels import linkedin
from inbox.channels.credentials import encrypt_credentials
from inbox.models import Channel, ChannelStatus, Conversation, Direction, Message, ReplyState
from inbox.services import replies as reply_services
from inbox.services.channels import poll_channel_once
from inbox.services.outbox import deliver_reply
from inbox.services.refusals import ActionRefused

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "linkedin"
API = linkedin.API_URL
ACT_A = "urn:li:activity:7401234567890123456"
SHARE_A = "urn:li:share:7401234567890123456"
SHARE_B = "urn:li:ugcPost:7399876543210987654"
C1 = f"urn:li:comment:({ACT_A},7401298765432109876)"
C2 = f"urn:li:comment:({ACT_A},7401299999999999999)"
C3 = f"urn:li:comment:({ACT_A},7401300000000000001)"
R3 = f"urn:li:comment:({ACT_A},7401303333333333333)"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def fixture(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def comments_url(urn):
    return f"{API}/socialActions/{quote(urn, safe='')}/comments"


def replay(comments="post_comments.json", replies="comment_replies.json"):
    responses.get(f"{API}/posts", json=fixture("posts_by_author.json"))
    responses.get(comments_url(SHARE_A), json=fixture(comments))
    responses.get(comments_url(SHARE_B), json=fixture("post_b_comments.json"))
    responses.get(comments_url(C1), json=fixture(replies))


@pytest.fixture
def channel(db):
    return Channel.objects.create(
        kind="linkedin",
        name="LinkedIn Woonstad",
        config={"organization_id": "2414183", "posts_days": 14},
        credentials_encrypted=encrypt_credentials({"access_token": "AQV-admin-token"}),
    )


@time_machine.travel(NOW, tick=False)
@responses.activate
def test_polls_ingest_each_first_level_comment_as_its_own_conversation(channel):
    replay()
    assert poll_channel_once(channel_id=channel.pk).created == 5

    channel.refresh_from_db()
    assert channel.status == ChannelStatus.OK and channel.last_error == ""
    threads = dict(Conversation.objects.filter(channel=channel).values_list("thread_key", "pk"))
    assert set(threads) == {C1, C2, C3}
    first = Message.objects.filter(conversation_id=threads[C1]).order_by("created_at")
    assert [m.direction for m in first] == [
        Direction.INBOUND,
        Direction.OUTBOUND,
        Direction.INBOUND,
    ]
    assert Message.objects.get(external_id=C3).direction == Direction.OUTBOUND

    # The second poll brings one new reply, into the first comment's conversation.
    responses.reset()
    replay("post_comments_second_poll.json", "comment_replies_second_poll.json")
    assert poll_channel_once(channel_id=channel.pk).created == 1
    assert Message.objects.get(external_id=R3).conversation_id == threads[C1]
    # Nothing new: nothing created, nothing twice.
    responses.reset()
    replay("post_comments_second_poll.json", "comment_replies_second_poll.json")
    assert poll_channel_once(channel_id=channel.pk).created == 0
    assert Message.objects.filter(conversation__channel=channel).count() == 6


@pytest.mark.parametrize(
    ("name", "status", "outcome", "health"),
    [
        ("error_expired_token.json", 401, "auth_failed", ChannelStatus.ERROR),
        ("error_access_denied.json", 403, "auth_failed", ChannelStatus.ERROR),
        ("error_throttle.json", 429, "rate_limited", ChannelStatus.RATE_LIMITED),
    ],
)
@time_machine.travel(NOW, tick=False)
@responses.activate
def test_errors_show_in_the_channels_health(channel, name, status, outcome, health):
    responses.get(f"{API}/posts", json=fixture(name), status=status)

    result = poll_channel_once(channel_id=channel.pk)

    assert result.status == outcome
    channel.refresh_from_db()
    assert channel.status == health
    assert fixture(name)["code"] in channel.last_error
    if status == 429:
        assert channel.rate_limit_reset_at == datetime(2026, 12, 7, tzinfo=UTC)
        assert channel.next_poll_at == datetime(2026, 12, 7, tzinfo=UTC)


@pytest.fixture
def conversation(channel, team_a, staff_a):
    with time_machine.travel(NOW, tick=False), responses.RequestsMock() as mocked:
        mocked.get(f"{API}/posts", json=fixture("posts_by_author.json"))
        mocked.get(comments_url(SHARE_A), json=fixture("post_comments.json"))
        mocked.get(comments_url(SHARE_B), json=fixture("post_b_comments.json"))
        mocked.get(comments_url(C1), json=fixture("comment_replies.json"))
        poll_channel_once(channel_id=channel.pk)
    conv = Conversation.objects.get(channel=channel, thread_key=C1)
    Conversation.objects.filter(pk=conv.pk).update(
        department=team_a, assignee=staff_a, status="assigned"
    )
    conv.refresh_from_db()
    return conv


def queue(conversation, staff_a, text="Er komt vandaag om 15:00 een monteur."):
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        return reply_services.save_and_submit_reply(
            conversation=conversation, text=text, acting_user=staff_a
        )


@responses.activate
def test_a_reply_is_sent_once_under_the_comment(conversation, staff_a):
    created = fixture("create_comment.json")
    responses.post(comments_url(ACT_A), json=created, status=201)
    reply = queue(conversation, staff_a)

    assert deliver_reply(reply_id=reply.pk).kind == "sent"

    reply.refresh_from_db()
    assert reply.state == ReplyState.SENT
    assert reply.external_id == created["commentUrn"]
    assert reply.external_url.startswith(f"https://www.linkedin.com/feed/update/{ACT_A}/")
    body = json.loads(responses.calls[0].request.body)
    assert body["parentComment"] == C1
    assert body["actor"] == "urn:li:organization:2414183"
    assert body["message"]["text"].startswith("Er komt vandaag om 15:00 een monteur.")


@responses.activate
def test_an_unknown_outcome_is_settled_by_finding_our_reply(conversation, staff_a):
    # LinkedIn made the comment but the answer never came back.
    responses.post(comments_url(ACT_A), body=requests.ConnectionError("reset"))
    reply = queue(conversation, staff_a)
    deliver_reply(reply_id=reply.pk)
    reply.refresh_from_db()
    assert reply.state == ReplyState.UNKNOWN

    ours = fixture("create_comment.json")
    # The text as it went out (with the channel's signature, if any).
    ours["message"]["text"] = json.loads(responses.calls[0].request.body)["message"]["text"]
    page = fixture("comment_replies.json")
    page["elements"].append(ours)
    responses.get(comments_url(C1), json=page)

    assert deliver_reply(reply_id=reply.pk).kind == "sent"
    reply.refresh_from_db()
    assert reply.state == ReplyState.SENT
    assert reply.external_id == ours["commentUrn"]
    assert len([c for c in responses.calls if c.request.method == "POST"]) == 1


def test_a_reply_longer_than_a_linkedin_comment_is_refused(conversation, staff_a):
    with pytest.raises(ActionRefused, match="1251 of 1250"):
        queue(conversation, staff_a, text="a" * 1251)


@responses.activate
def test_hiding_a_linkedin_conversation_deletes_nothing_on_linkedin(conversation):
    from inbox.models import ConversationEvent, Status
    from inbox.tasks.triage import hide_on_platform

    Conversation.objects.filter(pk=conversation.pk).update(status=Status.HIDDEN)

    hide_on_platform([conversation.pk], True)

    # No call at all: LinkedIn's only moderation is an irreversible delete.
    assert len(responses.calls) == 0
    event = ConversationEvent.objects.get(conversation=conversation, kind="platform_hide")
    assert event.data == {"hidden": True, "ok": False, "error": "platform does not allow hiding"}
