"""YouTube comments connector against recorded Data API v3 payloads, replayed with responses,
and one poll through the real poll path (ingest, threading, channel health)."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import responses
import time_machine
from responses import matchers

from inbox.channels import youtube
from inbox.channels.base import AuthFailed, ChannelConfig, ConnectorError, RateLimited, ReplyTarget
from inbox.channels.credentials import encrypt_credentials
from inbox.channels.registry import get_connector
from inbox.lib import replytext
from inbox.models import Channel, ChannelStatus, Conversation, Direction, Message
from inbox.services.channels import poll_channel_once

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "youtube"
API = youtube.API_URL
OWN = "UCq7Wd3kLmN0pQrStUvWxYzA"
T1 = "UgzKq3vR8nT2wYpLmA94AaABAg"  # 1 top comment + 7 replies (5 inline, 2 more via comments.list)
T2 = "Ugw7hXk2PqRt9sLmNcB4AaABAg"  # newest thread, no replies
T3 = "UgyA1b2C3d4E5f6G7h8I4AaABAg"  # two days old, our reply under it
T4 = "UgxOLDoldOLDold0ld0ld4AaABAg"  # a month old: paging stops here
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
PAGE2_TOKEN = "QURTSl9pMlVfZEZmX0NzSE9rWUlNbkNTWnpi"
REPLIES2_TOKEN = "Z2V0X25ld2VzdF9maXJzdC0tQ2dnSWdBUVZGN2ZST1JJRkNKMGdHQUE"


def fixture(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def config(credentials=None, **settings):
    return ChannelConfig(
        id=7,
        kind="youtube",
        credentials=credentials or {"access_token": "ya29.owner-token"},
        settings={"channel_id": OWN, **settings},
    )


def query(call):
    return {k: v[0] for k, v in parse_qs(urlparse(call.request.url).query).items()}


def has(**params):
    return matchers.query_param_matcher(params, strict_match=False)


def replay_threads(page1=None):
    """The recorded poll: two pages of threads and T1's replies on two pages."""
    responses.get(
        f"{API}/commentThreads",
        json=page1 or fixture("comment_threads_page1.json"),
        match=[
            matchers.query_param_matcher(
                {
                    "allThreadsRelatedToChannelId": OWN,
                    "part": "snippet,replies",
                    "order": "time",
                    "maxResults": "100",
                }
            )
        ],
    )
    responses.get(
        f"{API}/commentThreads",
        json=fixture("comment_threads_page2.json"),
        match=[has(pageToken=PAGE2_TOKEN)],
    )
    responses.get(
        f"{API}/comments",
        json=fixture("comments_replies_page1.json"),
        match=[
            matchers.query_param_matcher({"part": "snippet", "parentId": T1, "maxResults": "100"})
        ],
    )
    responses.get(
        f"{API}/comments",
        json=fixture("comments_replies_page2.json"),
        match=[has(pageToken=REPLIES2_TOKEN)],
    )


# --- parsing and the first poll --------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
@responses.activate
def test_first_poll_reads_threads_replies_and_extra_replies_within_the_backfill():
    replay_threads()
    result = get_connector("youtube").fetch(config(), {})

    ids = [m.external_id for m in result.messages]
    assert len(ids) == len(set(ids)) == 11  # T2, T1 + 7 replies, T3 + our reply; not T4
    assert T4 not in ids
    by_id = {m.external_id: m for m in result.messages}
    top = by_id[T1]
    assert top.parent_external_id == "" and top.conversation_external_id == T1
    assert top.text == "Al een week lekkage in de badkamer.\nWie komt er kijken?"
    assert top.author_id == "UCa1NnE2vAnDeRbErG0000aa"
    assert top.author_handle == "@annevdberg" and top.author_name == "@annevdberg"
    assert top.url == f"https://www.youtube.com/watch?v=dQ4wBk8Lx2M&lc={T1}"
    assert top.created_at == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    replies = [m for m in result.messages if m.conversation_external_id == T1 and m is not top]
    assert len(replies) == 7
    assert all(r.parent_external_id == T1 for r in replies)
    # The two replies only comments.list returned, right-to-left text kept as written.
    assert by_id[f"{T1}.A0kZ7aBcDeF"].text.startswith("مرحبا")
    assert by_id[f"{T1}.A0kZ7aBcDeF"].url.endswith(f"&lc={T1}.A0kZ7aBcDeF")
    # No textOriginal: the HTML textDisplay as plain text (entities decoded once, tags gone).
    assert by_id[f"{T1}.A0kZ4aBcDeF"].text == "zelfde in blok C & D\nzie 0:42"
    # Our own channel's replies are is_own; a name without "@" is no handle.
    assert [m.external_id for m in result.messages if m.is_own] == [
        f"{T3}.B1aaBbCcDd",
        f"{T1}.A0kZ2aBcDeF",
    ]
    piet = by_id[T3]
    assert piet.author_handle == "" and piet.author_name == "Piet Jansen"
    assert by_id[T2].url == f"https://www.youtube.com/watch?v=Hk3mP9zQw1E&lc={T2}"
    # Oldest first, and the cursor names the newest comment.
    assert result.messages[0].external_id == T3
    assert result.cursor == {"published": {"since": "2026-12-07T11:00:00Z", "seen": [T2]}}
    calls = [query(c) for c in responses.calls]
    assert calls[0]["allThreadsRelatedToChannelId"] == OWN and calls[0]["order"] == "time"
    assert "moderationStatus" not in calls[0]
    assert all(
        c.request.headers["Authorization"] == "Bearer ya29.owner-token" for c in responses.calls
    )
    # T4 ends the paging: no third page was asked for.
    assert len(responses.calls) == 4


@time_machine.travel(NOW, tick=False)
@responses.activate
def test_a_first_poll_reaches_back_only_the_backfill_window():
    replay_threads()
    result = get_connector("youtube").fetch(config(backfill_hours=24), {})
    # T3 (two days old) is outside: paging stops at it, and it is not taken.
    assert {m.conversation_external_id for m in result.messages} == {T1, T2}
    assert len(responses.calls) == 4


@time_machine.travel(NOW + timedelta(minutes=45), tick=False)
@responses.activate
def test_an_incremental_poll_takes_each_new_comment_once():
    page1 = fixture("comment_threads_page1.json")
    thread = page1["items"][0]
    top = thread["snippet"]["topLevelComment"]
    # Two new replies under T2: one in the very second of the cursor, one later.
    same_second = json.loads(json.dumps(top))
    same_second["id"] = f"{T2}.C0sameSecond"
    same_second["snippet"].update(parentId=T2, textOriginal="Ik vraag het ook!")
    later = json.loads(json.dumps(same_second))
    later["id"] = f"{T2}.C1later"
    later["snippet"]["publishedAt"] = "2026-12-07T11:40:00Z"
    thread["replies"] = {"comments": [later, same_second]}
    thread["snippet"]["totalReplyCount"] = 2
    replay_threads(page1)
    cursor = {"published": {"since": "2026-12-07T11:00:00Z", "seen": [T2]}, "other": 1}

    result = get_connector("youtube").fetch(config(), cursor)

    assert [m.external_id for m in result.messages] == [f"{T2}.C0sameSecond", f"{T2}.C1later"]
    assert all(m.parent_external_id == T2 for m in result.messages)
    assert result.cursor == {
        "published": {"since": "2026-12-07T11:40:00Z", "seen": [f"{T2}.C1later"]},
        "other": 1,
    }
    # The same answer again: nothing new, the cursor stays.
    again = get_connector("youtube").fetch(config(), result.cursor)
    assert again.messages == [] and again.cursor == result.cursor


@time_machine.travel(NOW, tick=False)
@responses.activate
def test_held_for_review_is_a_second_pass_with_its_own_cursor():
    replay_threads()
    responses.get(
        f"{API}/commentThreads",
        json=fixture("comment_threads_held.json"),
        match=[has(moderationStatus="heldForReview")],
    )
    result = get_connector("youtube").fetch(config(held_for_review=True), {})
    held = [
        m for m in result.messages if m.raw["snippet"].get("moderationStatus") == "heldForReview"
    ]
    assert [m.text for m in held] == ["Koop nu volgers via https://spam.example"]
    assert result.cursor["heldForReview"] == {
        "since": "2026-12-07T10:30:00Z",
        "seen": ["UgzHeLdF0rReVieW0000004AaABAg"],
    }


@time_machine.travel(NOW, tick=False)
@responses.activate
def test_a_malformed_thread_or_reply_costs_only_itself():
    page1 = fixture("comment_threads_page1.json")
    page1["items"].insert(0, {"id": "Ugbroken", "snippet": {"topLevelComment": {"snippet": {}}}})
    page1["items"].insert(0, "garbage")
    page1["items"][-1]["replies"]["comments"][0]["snippet"]["publishedAt"] = None
    replay_threads(page1)
    result = get_connector("youtube").fetch(config(), {})
    # The broken reply came again, whole, from comments.list: nothing is lost.
    assert len(result.messages) == 11


def test_the_connector_needs_our_channel_id_and_a_token():
    with pytest.raises(ConnectorError, match="channel_id"):
        get_connector("youtube").fetch(
            ChannelConfig(id=1, kind="youtube", credentials={"access_token": "t"}), {}
        )
    with pytest.raises(AuthFailed, match="No YouTube access token"):
        get_connector("youtube").fetch(config(credentials={"refresh_token": "r"}), {})


def test_the_quota_resets_at_midnight_pacific_time():
    # Winter: PST is UTC-8; summer: PDT is UTC-7; just after midnight: the next one.
    assert youtube.next_quota_reset(datetime(2026, 12, 7, 12, 0, tzinfo=UTC)) == datetime(
        2026, 12, 8, 8, 0, tzinfo=UTC
    )
    assert youtube.next_quota_reset(datetime(2026, 7, 1, 6, 59, tzinfo=UTC)) == datetime(
        2026, 7, 1, 7, 0, tzinfo=UTC
    )
    assert youtube.next_quota_reset(datetime(2026, 7, 1, 7, 0, tzinfo=UTC)) == datetime(
        2026, 7, 2, 7, 0, tzinfo=UTC
    )


def test_the_reply_limit_is_ten_thousand_characters():
    assert replytext.limit_for("youtube") == 10_000 == get_connector("youtube").max_length


# --- replies -----------------------------------------------------------------------------------


def target(in_reply_to=f"{T1}.A0kZ5aBcDeF", thread=T1):
    return ReplyTarget(
        conversation_id=3, in_reply_to_external_id=in_reply_to, thread_external_id=thread
    )


@responses.activate
def test_a_reply_goes_under_the_threads_top_comment():
    responses.post(f"{API}/comments", json=fixture("comments_insert.json"))
    text = "Hoi Anne, een monteur komt morgen tussen 8 en 12 uur."
    assert get_connector("youtube").send_reply(config(), target(), text) == f"{T1}.A0kZ8nEwOnE"
    call = responses.calls[0]
    assert query(call) == {"part": "snippet"}
    assert json.loads(call.request.body) == {"snippet": {"parentId": T1, "textOriginal": text}}
    assert call.request.headers["Authorization"] == "Bearer ya29.owner-token"
    # Without a thread key the parent is the top comment of the reply's id.
    get_connector("youtube").send_reply(config(), target(thread=""), text)
    assert json.loads(responses.calls[1].request.body)["snippet"]["parentId"] == T1


@responses.activate
def test_find_existing_reply_matches_our_text_by_our_channel():
    page = fixture("comments_replies_page2.json")
    page["items"].append(fixture("comments_insert.json"))
    responses.get(f"{API}/comments", json=page, match=[has(parentId=T1)])
    connector = get_connector("youtube")
    text = "Hoi  Anne, een monteur komt morgen tussen 8 en 12 uur. "
    assert connector.find_existing_reply(config(), target(), text) == f"{T1}.A0kZ8nEwOnE"
    # Someone else's comment with our text is not ours; another text is not this reply.
    assert connector.find_existing_reply(config(), target(), "Nu nog steeds niks.") is None
    assert connector.find_existing_reply(config(), target(), "Iets anders") is None


# --- moderation --------------------------------------------------------------------------------


@responses.activate
def test_hide_holds_for_review_unhide_publishes_and_reject_rejects():
    url = f"{API}/comments/setModerationStatus"
    responses.post(url, status=204, body=b"")
    connector = get_connector("youtube")
    assert connector.can_hide
    connector.hide(config(), T2, True)
    connector.hide(config(), T2, False)
    connector.reject(config(), T2)
    connector.hide(config(hide_as="rejected"), T2, True)
    assert [query(c) for c in responses.calls] == [
        {"id": T2, "moderationStatus": "heldForReview"},
        {"id": T2, "moderationStatus": "published"},
        {"id": T2, "moderationStatus": "rejected", "banAuthor": "false"},
        {"id": T2, "moderationStatus": "rejected", "banAuthor": "false"},
    ]
    with pytest.raises(ConnectorError, match="Unknown YouTube moderation status"):
        connector.hide(config(hide_as="deleted"), T2, True)


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "error", "transient"),
    [
        ("error_auth_expired.json", 401, AuthFailed, False),
        ("error_insufficient_permissions.json", 403, AuthFailed, False),
        ("error_forbidden.json", 403, AuthFailed, False),
        ("error_quota_exceeded.json", 403, RateLimited, True),
        ("error_rate_limit.json", 403, RateLimited, True),
        ("error_comments_disabled.json", 403, ConnectorError, False),
        ("error_processing_failure.json", 400, ConnectorError, False),
        ("error_comment_not_found.json", 404, ConnectorError, False),
        ("error_backend.json", 503, ConnectorError, True),
    ],
)
@responses.activate
def test_send_errors(name, status, error, transient):
    responses.post(f"{API}/comments", json=fixture(name), status=status)
    with pytest.raises(error) as exc:
        get_connector("youtube").send_reply(config(), target(), "Dank je")
    assert type(exc.value) is error
    assert exc.value.transient is transient
    assert fixture(name)["error"]["errors"][0]["reason"] in str(exc.value)


@time_machine.travel(NOW, tick=False)
@responses.activate
def test_rate_limits_name_their_reset():
    responses.get(f"{API}/commentThreads", json=fixture("error_quota_exceeded.json"), status=403)
    with pytest.raises(RateLimited) as exc:
        get_connector("youtube").fetch(config(), {})
    assert exc.value.reset_at == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)  # midnight in California
    assert "midnight Pacific" in str(exc.value)
    responses.replace(
        responses.GET, f"{API}/commentThreads", json=fixture("error_rate_limit.json"), status=403
    )
    with pytest.raises(RateLimited) as exc:
        get_connector("youtube").fetch(config(), {})
    assert exc.value.reset_at == NOW + timedelta(minutes=1)


@responses.activate
def test_an_expired_token_without_refresh_token_says_what_to_do():
    responses.post(f"{API}/comments", json=fixture("error_auth_expired.json"), status=401)
    with pytest.raises(AuthFailed, match="sign in again"):
        get_connector("youtube").send_reply(config(), target(), "Dank je")
    assert len(responses.calls) == 1  # nothing to renew with: no token call


REFRESH = {
    "access_token": "ya29.expired",
    "refresh_token": "1//0g-refresh",
    "client_id": "123-abc.apps.googleusercontent.com",
    "client_secret": "GOCSPX-secret",
}


@responses.activate
def test_an_expired_token_is_renewed_once_and_the_call_repeated():
    responses.post(f"{API}/comments", json=fixture("error_auth_expired.json"), status=401)
    responses.post(f"{API}/comments", json=fixture("comments_insert.json"))
    responses.post(youtube.TOKEN_URL, json=fixture("token_refresh.json"))

    reply_id = get_connector("youtube").send_reply(config(REFRESH), target(), "Dank je")

    assert reply_id == f"{T1}.A0kZ8nEwOnE"
    first, token, retry = responses.calls
    assert first.request.headers["Authorization"] == "Bearer ya29.expired"
    assert parse_qs(token.request.body) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["1//0g-refresh"],
        "client_id": ["123-abc.apps.googleusercontent.com"],
        "client_secret": ["GOCSPX-secret"],
    }
    assert retry.request.headers["Authorization"] == "Bearer ya29.a0AfB_byRENEWED-token"


@responses.activate
def test_a_revoked_refresh_token_is_an_auth_failure():
    responses.post(f"{API}/comments", json=fixture("error_auth_expired.json"), status=401)
    responses.post(youtube.TOKEN_URL, json=fixture("token_invalid_grant.json"), status=400)
    with pytest.raises(AuthFailed, match="invalid_grant"):
        get_connector("youtube").send_reply(config(REFRESH), target(), "Dank je")
    assert len(responses.calls) == 2  # renewed once, not in a loop


@responses.activate
def test_a_token_that_stays_refused_after_renewal_is_an_auth_failure():
    responses.post(f"{API}/comments", json=fixture("error_auth_expired.json"), status=401)
    responses.post(youtube.TOKEN_URL, json=fixture("token_refresh.json"))
    with pytest.raises(AuthFailed):
        get_connector("youtube").send_reply(config(REFRESH), target(), "Dank je")
    assert len(responses.calls) == 3


@responses.activate
def test_an_answer_that_is_no_json_is_a_transient_error():
    responses.get(f"{API}/commentThreads", body="<html>502 Bad Gateway</html>", status=502)
    with pytest.raises(ConnectorError) as exc:
        get_connector("youtube").fetch(config(), {})
    assert exc.value.transient and type(exc.value) is ConnectorError


# --- through the real poll path ----------------------------------------------------------------


@pytest.fixture
def channel(db):
    return Channel.objects.create(
        kind="youtube",
        name="YouTube Woonstad",
        config={"channel_id": OWN},
        credentials_encrypted=encrypt_credentials({"access_token": "ya29.owner-token"}),
    )


@time_machine.travel(NOW, tick=False)
@responses.activate
def test_a_poll_ingests_one_conversation_per_thread(channel):
    replay_threads()
    outcome = poll_channel_once(channel_id=channel.pk, now=NOW)
    assert outcome.status == "ok" and outcome.created == 11

    conversations = {c.thread_key: c for c in Conversation.objects.filter(channel=channel)}
    assert set(conversations) == {T1, T2, T3}
    thread = Message.objects.filter(conversation=conversations[T1])
    assert thread.count() == 8
    assert set(
        thread.filter(direction=Direction.OUTBOUND).values_list("external_id", flat=True)
    ) == {f"{T1}.A0kZ2aBcDeF"}
    channel.refresh_from_db()
    assert channel.status == ChannelStatus.OK
    assert channel.cursor["published"]["since"] == "2026-12-07T11:00:00Z"

    # The same threads again: nothing twice.
    replay_threads()
    assert poll_channel_once(channel_id=channel.pk, now=NOW + timedelta(minutes=5)).created == 0
    assert Message.objects.filter(conversation__channel=channel).count() == 11


@time_machine.travel(NOW, tick=False)
@responses.activate
def test_a_spent_quota_shows_on_the_channel_until_midnight_pacific(channel):
    responses.get(f"{API}/commentThreads", json=fixture("error_quota_exceeded.json"), status=403)
    outcome = poll_channel_once(channel_id=channel.pk, now=NOW)
    assert outcome.status == "rate_limited"
    channel.refresh_from_db()
    assert channel.status == ChannelStatus.RATE_LIMITED
    assert (
        channel.rate_limit_reset_at
        == channel.next_poll_at
        == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    )
    assert "quotaExceeded" in channel.last_error
    assert channel.cursor in ({}, None)


@time_machine.travel(NOW, tick=False)
@responses.activate
def test_a_revoked_permission_puts_the_channel_in_error(channel):
    responses.get(
        f"{API}/commentThreads", json=fixture("error_insufficient_permissions.json"), status=403
    )
    assert poll_channel_once(channel_id=channel.pk, now=NOW).status == "auth_failed"
    channel.refresh_from_db()
    assert channel.status == ChannelStatus.ERROR
    assert "insufficientPermissions" in channel.last_error


@pytest.mark.parametrize(("hide_as", "status"), [(None, "heldForReview"), ("rejected", "rejected")])
@time_machine.travel(NOW, tick=False)
@responses.activate
def test_hiding_under_a_house_rule_moderates_the_comment_on_youtube(
    channel, coordinator, django_capture_on_commit_callbacks, eager_celery, hide_as, status
):
    from inbox.models import ConversationEvent, HouseRule
    from inbox.services import triage

    if hide_as:
        Channel.objects.filter(pk=channel.pk).update(config={"channel_id": OWN, "hide_as": hide_as})
    replay_threads()
    poll_channel_once(channel_id=channel.pk, now=NOW)
    conversation = Conversation.objects.get(channel=channel, thread_key=T2)
    rule = HouseRule.objects.create(title="Geen reclame", text="Reclame en spam halen we weg.")
    moderate = responses.post(f"{API}/comments/setModerationStatus", status=204, body=b"")

    with django_capture_on_commit_callbacks(execute=True):
        triage.hide_conversation(
            conversation=conversation,
            rule=rule,
            acting_user=coordinator,
            version=conversation.version,
        )
    conversation.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        triage.unhide_conversation(
            conversation=conversation, acting_user=coordinator, version=conversation.version
        )

    sent = [query(c) for c in moderate.calls]
    expected = {"id": T2, "moderationStatus": status}
    if status == "rejected":
        expected["banAuthor"] = "false"
    assert sent == [expected, {"id": T2, "moderationStatus": "published"}]
    events = ConversationEvent.objects.filter(conversation=conversation)
    assert events.get(kind="hidden").data["rule_text"] == "Reclame en spam halen we weg."
    outcomes = [e.data for e in events.filter(kind="platform_hide").order_by("id")]
    assert outcomes == [{"hidden": True, "ok": True}, {"hidden": False, "ok": True}]


@time_machine.travel(NOW, tick=False)
@responses.activate
def test_a_reply_with_an_unknown_outcome_is_found_and_not_sent_twice(channel, team_a, staff_a):
    from inbox.models import ReplyState
    from inbox.services import replies as reply_services
    from inbox.services.outbox import deliver_reply

    replay_threads()
    poll_channel_once(channel_id=channel.pk, now=NOW)
    conversation = Conversation.objects.get(channel=channel, thread_key=T1)
    Conversation.objects.filter(pk=conversation.pk).update(
        department=team_a, assignee=staff_a, status="assigned"
    )
    conversation.refresh_from_db()
    text = "Hoi Anne, een monteur komt morgen tussen 8 en 12 uur."
    reply = reply_services.save_and_submit_reply(
        conversation=conversation, text=text, acting_user=staff_a
    )
    # YouTube posted it but the answer was lost (503): the outcome is unknown.
    insert = responses.post(f"{API}/comments", json=fixture("error_backend.json"), status=503)
    assert deliver_reply(reply_id=reply.pk).kind == "retry"
    reply.refresh_from_db()
    assert reply.state == ReplyState.UNKNOWN
    assert json.loads(insert.calls[0].request.body) == {
        "snippet": {"parentId": T1, "textOriginal": text}
    }
    # The next attempt asks YouTube first, finds our reply under the thread, sends nothing.
    listed = fixture("comments_replies_page2.json")
    listed["items"].append(fixture("comments_insert.json"))
    responses.get(f"{API}/comments", json=listed, match=[has(parentId=T1)])
    assert deliver_reply(reply_id=reply.pk).kind == "sent"
    reply.refresh_from_db()
    assert reply.state == ReplyState.SENT
    assert reply.external_id == f"{T1}.A0kZ8nEwOnE"
    assert len(insert.calls) == 1
