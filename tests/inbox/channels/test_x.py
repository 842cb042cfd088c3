"""XConnector against recorded X API v2 payloads, replayed at the HTTP layer with `responses`.

tweepy's real client code runs (params, OAuth signing, error classes); only the socket is fake.
"""

import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import responses
from responses import matchers

from inbox.channels.base import (
    AuthFailed,
    ChannelConfig,
    ConnectorError,
    RateLimited,
    ReplyTarget,
)
from inbox.channels.x import XConnector

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "x"
API = "https://api.twitter.com/2"
OUR_ID = "1420339457118097409"
JDV_ID = "1102938475610293847"
MENTIONS = f"{API}/users/{OUR_ID}/mentions"
SEARCH = f"{API}/tweets/search/recent"
# Tweet ids in the recordings (snowflakes of 2025-05-01 08:12 ... 10:40 UTC).
T1, T3, T4, T5, T6, T7, T8 = (
    "1917854669995126784",
    "1917859292118134784",
    "1917878485253238784",
    "1917883170290806784",
    "1917886752226422784",
    "1917887347817590784",
    "1917891747642486784",
)
NEXT = "7140dibdnow9c7btw3w29grvxfcgvpb9n9coehpk7xz5i"


def load(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def channel(**settings):
    return ChannelConfig(
        id=7,
        kind="x",
        own_handles=("stadswonen",),
        keywords=("Stadswonen", "stadswonen delft"),
        credentials={
            "bearer_token": "AAAAAAAAAAAAAAAAAAAAAPLb%2FAAAAAA-test-bearer",
            "consumer_key": "ck-test",
            "consumer_secret": "cs-test",
            "access_token": f"{OUR_ID}-at-test",
            "access_token_secret": "ats-test",
            "user_id": OUR_ID,
        },
        # Direct messages have their own tests (test_x_dm.py): here only mentions and search.
        settings={"direct_messages": False, **settings},
    )


def params_with(**extra):
    """The query tweepy sends, so a matcher fails loudly if expansions or fields go missing."""
    params = {
        "expansions": "author_id,referenced_tweets.id,in_reply_to_user_id",
        "tweet.fields": "author_id,conversation_id,created_at,entities,in_reply_to_user_id,"
        "lang,note_tweet,referenced_tweets",
        "user.fields": "username,name,profile_image_url,protected",
        "max_results": "100",
    }
    params.update(extra)  # since_id, pagination_token: sent under their own names
    return params


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def add_mentions_two_pages(api, **extra):
    api.get(
        MENTIONS,
        json=load("mentions_page1.json"),
        match=[matchers.query_param_matcher(params_with(**extra))],
    )
    api.get(
        MENTIONS,
        json=load("mentions_page2.json"),
        match=[matchers.query_param_matcher(params_with(pagination_token=NEXT, **extra))],
    )


def add_search(api, body=None, **extra):
    params = params_with(**extra)
    params["query"] = '(Stadswonen OR "stadswonen delft") -is:retweet'
    api.get(
        SEARCH, json=body or load("search_page1.json"), match=[matchers.query_param_matcher(params)]
    )


def first_poll(api):
    add_mentions_two_pages(api)
    add_search(api)
    return XConnector().fetch(channel(), {})


def by_id(result):
    return {m.external_id: m for m in result.messages}


def test_it_reads_mentions_and_search_with_expansions(api):
    result = first_poll(api)
    messages = by_id(result)

    assert list(messages) == [T1, T3, T4, T5, T6, T7, T8]  # oldest first, T5 only once
    t5 = messages[T5]
    assert t5.author_handle == "jdevries"
    assert t5.author_name == "Jan de Vries"
    assert t5.author_avatar_url.startswith("https://pbs.twimg.com/profile_images/")
    assert t5.author_profile_url == "https://x.com/jdevries"
    assert t5.url == f"https://x.com/jdevries/status/{T5}"
    assert t5.created_at == datetime(2025, 5, 1, 10, 5, 55, tzinfo=UTC)
    assert t5.is_public and not t5.is_own
    assert t5.raw["data"]["id"] == T5
    assert t5.raw["includes"]["users"][0]["username"] == "jdevries"
    # X escapes &, < and > inside tweet text; we store what the person typed.
    assert "lekkage in de badkamer & niemand" in messages[T1].text
    assert "<onacceptabel>" in messages[T1].text


def test_it_threads_replies_by_parent_and_conversation(api):
    messages = by_id(first_poll(api))
    assert messages[T1].parent_external_id == ""
    assert messages[T1].conversation_external_id == T1
    assert messages[T3].parent_external_id == T1
    assert messages[T5].parent_external_id == T3
    assert {messages[t].conversation_external_id for t in (T1, T3, T5)} == {T1}


def test_our_own_tweet_is_marked_own(api):
    messages = by_id(first_poll(api))
    assert messages[T3].is_own
    assert messages[T3].author_handle == "stadswonen"
    assert not any(m.is_own for k, m in messages.items() if k != T3)


def test_author_missing_from_expansions_falls_back(api):
    # T7's author is suspended: absent from includes.users, reported in "errors".
    t7 = by_id(first_poll(api))[T7]
    assert t7.author_id == "1655443322110099887"
    assert t7.author_handle == ""
    assert t7.author_profile_url == ""
    assert t7.url == f"https://x.com/i/web/status/{T7}"


def test_long_tweet_text_comes_from_note_tweet(api):
    t8 = by_id(first_poll(api))[T8]
    assert len(t8.text) > 20_000
    assert t8.text.endswith("niemand reageert.")
    assert not t8.text.endswith("…")


def test_emoji_rtl_and_zero_width_characters_are_kept(api):
    t4 = by_id(first_poll(api))[T4]
    recorded = load("mentions_page1.json")["data"][1]["text"]
    assert t4.text == recorded
    for char in ("\u200f", "\u200d", "\u200c", "👨\u200d👩\u200d👧", "🇳🇱", "مرحبا"):
        assert char in t4.text
    assert t4.author_name == "أمل حداد"


def test_cursor_keeps_since_id_per_source_and_advances(api):
    result = first_poll(api)
    assert result.cursor == {"mentions": {"since_id": T5}, "search": {"since_id": T8}}

    api.reset()
    api.get(
        MENTIONS,
        json=load("empty.json"),
        match=[matchers.query_param_matcher(params_with(since_id=T5))],
    )
    add_search(api, body=load("empty.json"), since_id=T8)
    again = XConnector().fetch(channel(), result.cursor)
    assert again.messages == []
    assert again.cursor == result.cursor


def test_a_burst_bigger_than_one_poll_continues_next_poll(api):
    old = "1917800000000000000"
    api.get(
        MENTIONS,
        json=load("mentions_page1.json"),
        match=[matchers.query_param_matcher(params_with(since_id=old))],
    )
    connector = XConnector()
    cfg = replace(channel(max_pages=1), keywords=())
    first = connector.fetch(cfg, {"mentions": {"since_id": old}})
    assert [m.external_id for m in first.messages] == [T4, T5]
    # since_id must not jump to T5 yet: T1 (page 2) would be lost.
    assert first.cursor["mentions"] == {"since_id": old, "next_token": NEXT, "newest_id": T5}

    api.reset()
    api.get(
        MENTIONS,
        json=load("mentions_page2.json"),
        match=[matchers.query_param_matcher(params_with(since_id=old, pagination_token=NEXT))],
    )
    second = connector.fetch(cfg, first.cursor)
    assert [m.external_id for m in second.messages] == [T1]
    assert second.cursor["mentions"] == {"since_id": T5}


def test_first_poll_does_not_dig_into_history(api):
    api.get(MENTIONS, json=load("mentions_page1.json"))
    cfg = replace(channel(max_pages=1), keywords=())
    result = XConnector().fetch(cfg, {})
    assert result.cursor == {"mentions": {"since_id": T5}}
    assert len(api.calls) == 1


def test_it_reads_with_the_bearer_token(api):
    first_poll(api)
    assert api.calls[0].request.headers["Authorization"].startswith("Bearer AAAA")


def test_malformed_tweets_in_a_page_are_skipped(api):
    page = load("mentions_page2.json")
    page["data"] = [{"id": "not-a-number", "text": "?"}, {"text": "no id"}, *page["data"]]
    api.get(MENTIONS, json=page)
    cfg = replace(channel(), keywords=())
    result = XConnector().fetch(cfg, {})
    assert [m.external_id for m in result.messages] == [T1]


def test_missing_created_at_is_taken_from_the_snowflake(api):
    page = load("mentions_page2.json")
    del page["data"][0]["created_at"]
    api.get(MENTIONS, json=page)
    cfg = replace(channel(), keywords=())
    (message,) = XConnector().fetch(cfg, {}).messages
    assert message.created_at == datetime(2025, 5, 1, 8, 12, 40, tzinfo=UTC)


# --- errors ------------------------------------------------------------------------------


def test_429_raises_rate_limited_with_the_reset_time_and_never_sleeps(api):
    api.get(
        MENTIONS,
        json=load("error_429.json"),
        status=429,
        headers={
            "x-rate-limit-limit": "450",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": "1746096300",
        },
    )
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        XConnector().fetch(channel(), {})
    assert time.monotonic() - started < 1
    assert caught.value.reset_at == datetime(2025, 5, 1, 10, 45, tzinfo=UTC)
    assert caught.value.transient
    assert caught.value.status_code == 429


@pytest.mark.parametrize(("status", "fixture"), [(401, "error_401.json"), (403, "error_403.json")])
def test_401_and_403_are_auth_failures(api, status, fixture):
    api.get(MENTIONS, json=load(fixture), status=status)
    with pytest.raises(AuthFailed) as caught:
        XConnector().fetch(channel(), {})
    assert caught.value.status_code == status
    assert not caught.value.transient


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient(api, status):
    api.get(MENTIONS, json=load("error_503.json"), status=status)
    with pytest.raises(ConnectorError) as caught:
        XConnector().fetch(channel(), {})
    assert caught.value.transient
    assert caught.value.status_code == status
    assert not isinstance(caught.value, AuthFailed | RateLimited)


def test_malformed_json_is_a_transient_error(api):
    api.get(
        MENTIONS,
        body=(FIXTURES / "malformed.json.txt").read_text(),
        content_type="application/json",
    )
    with pytest.raises(ConnectorError) as caught:
        XConnector().fetch(channel(), {})
    assert caught.value.transient


@pytest.mark.parametrize("exc", [requests.ConnectTimeout("slow"), requests.ConnectionError("down")])
def test_network_failures_are_transient(api, exc):
    api.get(MENTIONS, body=exc)
    with pytest.raises(ConnectorError) as caught:
        XConnector().fetch(channel(), {})
    assert caught.value.transient


def test_a_missing_user_id_is_an_auth_problem():
    cfg = ChannelConfig(id=1, kind="x", credentials={"bearer_token": "b"})
    with pytest.raises(AuthFailed):
        XConnector().fetch(cfg, {})


# --- replies -----------------------------------------------------------------------------

REPLY = "@jdevries Sorry voor het wachten, de monteur komt morgen tussen 8 en 12 uur. ^Lotte"


def target(**kwargs):
    defaults = {
        "conversation_id": 1,
        "in_reply_to_external_id": T5,
        "thread_external_id": T1,
        "author_id": JDV_ID,
        "author_handle": "jdevries",
    }
    return ReplyTarget(**{**defaults, **kwargs})


def test_send_reply_posts_one_tweet_in_reply(api):
    api.post(
        f"{API}/tweets",
        json=load("create_tweet.json"),
        status=201,
        match=[
            matchers.json_params_matcher({"text": REPLY, "reply": {"in_reply_to_tweet_id": T5}})
        ],
    )
    new_id = XConnector().send_reply(channel(), target(), REPLY)
    assert new_id == load("create_tweet.json")["data"]["id"]
    assert len(api.calls) == 1
    assert json.loads(api.calls[0].request.body)["reply"] == {"in_reply_to_tweet_id": T5}
    # Posting runs as our account (OAuth 1.0a user context), not the app's bearer token.
    assert api.calls[0].request.headers["Authorization"].startswith("OAuth ")


def test_private_reply_is_a_direct_message(api):
    api.post(
        f"{API}/dm_conversations/with/{JDV_ID}/messages",
        json=load("dm_create.json"),
        status=201,
        match=[matchers.json_params_matcher({"text": "Hoi Jan, mag ik je adres?"})],
    )
    new_id = XConnector().send_reply(channel(), target(private=True), "Hoi Jan, mag ik je adres?")
    assert new_id == "1785412345678901234"
    assert len(api.calls) == 1


def test_send_reply_needs_user_context(api):
    cfg = ChannelConfig(id=1, kind="x", credentials={"bearer_token": "b", "user_id": OUR_ID})
    with pytest.raises(AuthFailed):
        XConnector().send_reply(cfg, target(), REPLY)
    assert len(api.calls) == 0


def test_send_reply_rate_limited(api):
    api.post(
        f"{API}/tweets",
        json=load("error_429.json"),
        status=429,
        headers={"x-rate-limit-reset": "1746096300"},
    )
    with pytest.raises(RateLimited) as caught:
        XConnector().send_reply(channel(), target(), REPLY)
    assert caught.value.reset_at == datetime(2025, 5, 1, 10, 45, tzinfo=UTC)


def add_users_tweets(api):
    api.get(
        f"{API}/users/{OUR_ID}/tweets",
        json=load("users_tweets.json"),
        match=[
            matchers.query_param_matcher(
                {"max_results": "100", "exclude": "retweets"}, strict_match=False
            )
        ],
    )


def test_find_existing_reply_finds_our_reply(api):
    add_users_tweets(api)
    found = XConnector().find_existing_reply(channel(), target(), REPLY)
    assert found == load("create_tweet.json")["data"]["id"]


def test_find_existing_reply_ignores_the_leading_mention(api):
    add_users_tweets(api)
    text = REPLY.removeprefix("@jdevries ")
    assert XConnector().find_existing_reply(channel(), target(), text) is not None


@pytest.mark.parametrize(
    ("reply_to", "text"),
    [(T5, "Een heel andere tekst"), (T4, REPLY)],
    ids=["other-text", "other-target"],
)
def test_find_existing_reply_finds_nothing(api, reply_to, text):
    add_users_tweets(api)
    assert (
        XConnector().find_existing_reply(channel(), target(in_reply_to_external_id=reply_to), text)
        is None
    )


def test_find_existing_direct_message(api):
    api.get(f"{API}/dm_conversations/with/{JDV_ID}/dm_events", json=load("dm_events.json"))
    found = XConnector().find_existing_reply(
        channel(), target(private=True), "Hoi Jan, mag ik je adres en telefoonnummer? ^Lotte"
    )
    assert found == "1785412345678901234"
    # The customer's own DM with other text is not ours.
    api.get(f"{API}/dm_conversations/with/{JDV_ID}/dm_events", json=load("dm_events.json"))
    assert (
        XConnector().find_existing_reply(
            channel(), target(private=True), "Hallo, mijn adres is Voorstraat 12"
        )
        is None
    )
