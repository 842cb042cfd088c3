"""MastodonConnector against recorded Mastodon REST payloads, replayed with `responses`.

Mastodon.py's real request code runs (params, rate-limit header parsing, error classes).
"""

import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
import responses
import time_machine
from responses import matchers

from inbox.channels.base import (
    AuthFailed,
    ChannelConfig,
    ConnectorError,
    RateLimited,
    ReplyTarget,
)
from inbox.channels.mastodon import MastodonConnector

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mastodon"
BASE = "https://mastodon.nl"
NOTIFICATIONS = f"{BASE}/api/v1/notifications"
TAG = f"{BASE}/api/v1/timelines/tag/stadswonen"
SEARCH = f"{BASE}/api/v2/search"
OUR_ID = "110345678901234567"
S1, S2, S3, S4, S5, S6 = (
    "114431568117774960",
    "114431640338446960",
    "114431940231182960",
    "114432013434894960",
    "114432069402638960",
    "114432078708750960",
)
REPLY = "Sorry voor het wachten, de monteur komt morgen tussen 8 en 12 uur. ^Lotte"


def load(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def channel(keywords=("#stadswonen", "Stadswonen Delft"), **settings):
    return ChannelConfig(
        id=9,
        kind="mastodon",
        own_handles=("@stadswonen",),
        keywords=keywords,
        credentials={"access_token": "ZA-Yj3aBD8U8Cm7lKUp-lm9O9BmDgdhHzDeqsY8tlL0"},
        settings={"base_url": BASE, "account_id": OUR_ID, **settings},
    )


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def add_first_poll(api):
    api.get(
        NOTIFICATIONS,
        json=load("mentions_page.json"),
        match=[matchers.query_param_matcher({"types[]": "mention", "limit": "40"})],
    )
    # Mastodon.py checks once per client whether the instance serves hashtag timelines.
    api.get(f"{BASE}/api/v2/instance/", json=load("instance_v2.json"))
    api.get(
        TAG, json=load("tag_stadswonen.json"), match=[matchers.query_param_matcher({"limit": "40"})]
    )
    api.get(
        SEARCH,
        json=load("search_statuses.json"),
        match=[
            matchers.query_param_matcher(
                {
                    "q": "Stadswonen Delft",
                    "type": "statuses",
                    "limit": "40",
                    "exclude_unreviewed": "1",
                }
            )
        ],
    )


def first_poll(api):
    add_first_poll(api)
    return MastodonConnector().fetch(channel(), {})


def by_id(result):
    return {m.external_id: m for m in result.messages}


def test_it_reads_mentions_hashtags_and_search(api):
    result = first_poll(api)
    messages = by_id(result)
    assert set(messages) == {S1, S2, S3, S4, S5, S6}  # S1 came twice: mention and search
    assert [m.created_at for m in result.messages] == sorted(m.created_at for m in result.messages)
    s4 = messages[S4]
    assert s4.author_id == "109283746512345678"
    assert s4.author_handle == "jdevries@mastodon.social"
    assert s4.author_name == "Jan de Vries"
    assert s4.author_profile_url == "https://mastodon.social/@jdevries"
    assert s4.author_avatar_url.startswith("https://files.mastodon.nl/cache/accounts/avatars/")
    assert s4.url == f"https://mastodon.social/@jdevries/{S4}"
    assert s4.created_at == datetime(2025, 5, 1, 10, 5, 55, tzinfo=UTC)
    assert s4.text == "@stadswonen Nog steeds geen monteur geweest 😡"
    assert s4.raw["id"] == S4
    assert s4.raw["created_at"] == "2025-05-01T10:05:55Z"
    json.dumps(s4.raw)  # storable in a JSONField


def test_html_becomes_plain_text_with_line_breaks(api):
    s1 = by_id(first_poll(api))[S1]
    assert s1.text == (
        "@stadswonen Al 3 weken lekkage in de badkamer & niemand komt kijken.\n"
        "Dit is echt <script>alert(1)</script> onacceptabel.\n\n"
        "Groet, Jan #lekkage"
    )


def test_replies_thread_through_their_parent(api):
    messages = by_id(first_poll(api))
    assert messages[S1].parent_external_id == ""
    assert messages[S1].conversation_external_id == S1
    assert messages[S2].parent_external_id == S1
    assert messages[S4].parent_external_id == S2


def test_our_own_post_is_own_and_direct_messages_are_private(api):
    messages = by_id(first_poll(api))
    assert messages[S2].is_own
    assert [k for k, m in messages.items() if m.is_own] == [S2]
    assert messages[S3].is_public is False
    assert messages[S4].is_public is True


def test_emoji_rtl_and_zero_width_characters_are_kept(api):
    s3 = by_id(first_poll(api))[S3]
    assert (
        s3.text
        == "@stadswonen مرحبا، متى يأتي الفني؟\u200f شكرا 👨\u200d👩\u200d👧 مع\u200cالسلامة 🇳🇱 :blobcat:"
    )
    assert s3.author_name == "أمل :blobcat:"


def test_huge_posts_keep_their_content_warning_and_all_paragraphs(api):
    s5 = by_id(first_poll(api))[S5]
    assert s5.text.startswith("Klacht, lang\n\nLange draad over #stadswonen\n\n1. Het plafond")
    assert s5.text.count("\n\n") == 12
    assert len(s5.text) > 5000


def test_cursor_keeps_min_id_per_source_and_advances(api):
    result = first_poll(api)
    assert result.cursor == {
        "mentions": "34975870",
        "tag:stadswonen": S5,
        "search:stadswonen delft": S6,
    }
    api.reset()
    api.get(
        NOTIFICATIONS,
        json=[],
        match=[matchers.query_param_matcher({"min_id": "34975870"}, strict_match=False)],
    )
    api.get(f"{BASE}/api/v2/instance/", json=load("instance_v2.json"))
    api.get(TAG, json=[], match=[matchers.query_param_matcher({"min_id": S5}, strict_match=False)])
    api.get(
        SEARCH,
        json={"accounts": [], "statuses": [], "hashtags": []},
        match=[matchers.query_param_matcher({"min_id": S6}, strict_match=False)],
    )
    again = MastodonConnector().fetch(channel(), result.cursor)
    assert again.messages == []
    assert again.cursor == result.cursor


def test_it_pages_upward_from_min_id_until_a_short_page(api):
    cfg = channel(keywords=(), page_size=2)
    api.get(
        NOTIFICATIONS,
        json=load("mentions_min_page1.json"),
        match=[
            matchers.query_param_matcher({"types[]": "mention", "limit": "2", "min_id": "34975800"})
        ],
    )
    api.get(
        NOTIFICATIONS,
        json=load("mentions_min_page2.json"),
        match=[
            matchers.query_param_matcher({"types[]": "mention", "limit": "2", "min_id": "34975866"})
        ],
    )
    result = MastodonConnector().fetch(cfg, {"mentions": "34975800"})
    assert [m.external_id for m in result.messages] == [S1, S3, S4]
    assert result.cursor == {"mentions": "34975870"}


def test_a_bounded_poll_keeps_its_place(api):
    cfg = channel(keywords=(), page_size=2, max_pages=1)
    api.get(NOTIFICATIONS, json=load("mentions_min_page1.json"))
    result = MastodonConnector().fetch(cfg, {"mentions": "34975800"})
    # Only the oldest two were read; the cursor sits right after them, nothing skipped.
    assert result.cursor == {"mentions": "34975866"}


def test_missing_fields_are_skipped_or_filled_in(api):
    page = load("mentions_page.json")
    page[0]["status"] = None  # the mentioning post was deleted
    del page[1]["status"]["account"]  # broken author
    account = page[2]["status"]["account"]
    account["display_name"] = ""
    del account["avatar"]
    api.get(NOTIFICATIONS, json=page)
    result = MastodonConnector().fetch(channel(keywords=()), {})
    (s1,) = result.messages
    assert s1.external_id == S1
    assert s1.author_name == "jdevries"
    assert s1.author_avatar_url == ""
    assert result.cursor == {"mentions": "34975870"}


def test_it_looks_up_our_account_when_not_configured(api):
    cfg = replace(channel(keywords=()), settings={"base_url": BASE})
    api.get(f"{BASE}/api/v1/accounts/verify_credentials", json=load("verify_credentials.json"))
    api.get(NOTIFICATIONS, json=load("mentions_page.json"))
    result = MastodonConnector().fetch(cfg, {})
    assert len(result.messages) == 3
    assert (
        api.calls[0].request.headers["Authorization"]
        == "Bearer ZA-Yj3aBD8U8Cm7lKUp-lm9O9BmDgdhHzDeqsY8tlL0"
    )


# --- errors ------------------------------------------------------------------------------


def test_429_raises_rate_limited_with_the_reset_time_and_never_sleeps(api):
    api.get(
        NOTIFICATIONS,
        json=load("error_429.json"),
        status=429,
        headers={
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": "2025-05-01T10:45:00.000Z",
            "Date": "Thu, 01 May 2025 10:40:00 GMT",
        },
    )
    started = time.monotonic()
    with (
        time_machine.travel(datetime(2025, 5, 1, 10, 40, tzinfo=UTC), tick=False),
        pytest.raises(RateLimited) as caught,
    ):
        MastodonConnector().fetch(channel(), {})
    assert time.monotonic() - started < 1
    assert caught.value.reset_at == datetime(2025, 5, 1, 10, 45, tzinfo=UTC)


@pytest.mark.parametrize(("status", "fixture"), [(401, "error_401.json"), (403, "error_403.json")])
def test_401_and_403_are_auth_failures(api, status, fixture):
    api.get(NOTIFICATIONS, json=load(fixture), status=status)
    with pytest.raises(AuthFailed) as caught:
        MastodonConnector().fetch(channel(), {})
    assert caught.value.status_code == status
    assert not caught.value.transient


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(api, status):
    api.get(
        NOTIFICATIONS,
        body=(FIXTURES / "error_500.html").read_text(),
        status=status,
        content_type="text/html",
    )
    with pytest.raises(ConnectorError) as caught:
        MastodonConnector().fetch(channel(), {})
    assert caught.value.transient
    assert caught.value.status_code == status


def test_malformed_json_is_transient(api):
    api.get(
        NOTIFICATIONS,
        body='[{"id": "34975870", "type": "mention", "sta',
        content_type="application/json",
    )
    with pytest.raises(ConnectorError) as caught:
        MastodonConnector().fetch(channel(), {})
    assert caught.value.transient


def test_network_failure_is_transient(api):
    api.get(NOTIFICATIONS, body=requests.ConnectTimeout("slow"))
    with pytest.raises(ConnectorError) as caught:
        MastodonConnector().fetch(channel(), {})
    assert caught.value.transient


# --- replies -----------------------------------------------------------------------------


def target(**kwargs):
    defaults = {
        "conversation_id": 3,
        "in_reply_to_external_id": S4,
        "author_id": "109283746512345678",
        "author_handle": "jdevries@mastodon.social",
    }
    return ReplyTarget(**{**defaults, **kwargs})


def test_send_reply_posts_one_status_mentioning_the_author(api):
    api.post(f"{BASE}/api/v1/statuses", json=load("status_post.json"))
    new_id = MastodonConnector().send_reply(channel(), target(), REPLY)
    assert new_id == "114432226099214960"
    assert len(api.calls) == 1
    body = parse_qs(api.calls[0].request.body)
    assert body["status"] == [f"@jdevries@mastodon.social {REPLY}"]
    assert body["in_reply_to_id"] == [S4]
    assert body["visibility"] == ["public"]
    assert len(api.calls[0].request.headers["Idempotency-Key"]) == 64


def test_private_reply_is_a_direct_post(api):
    api.post(f"{BASE}/api/v1/statuses", json=load("status_post.json"))
    MastodonConnector().send_reply(
        channel(), target(private=True), "@jdevries@mastodon.social Hoi!"
    )
    body = parse_qs(api.calls[0].request.body)
    assert body["visibility"] == ["direct"]
    assert body["status"] == ["@jdevries@mastodon.social Hoi!"]  # not mentioned twice


def test_a_rejected_reply_is_not_retried(api):
    api.post(f"{BASE}/api/v1/statuses", json=load("error_422.json"), status=422)
    with pytest.raises(ConnectorError) as caught:
        MastodonConnector().send_reply(channel(), target(), "x" * 600)
    assert not caught.value.transient
    assert caught.value.status_code == 422


def add_account_statuses(api):
    api.get(
        f"{BASE}/api/v1/accounts/{OUR_ID}/statuses",
        json=load("account_statuses.json"),
        match=[matchers.query_param_matcher({"limit": "40", "exclude_reblogs": "1"})],
    )


def test_find_existing_reply_finds_our_reply(api):
    add_account_statuses(api)
    assert (
        MastodonConnector().find_existing_reply(channel(), target(), REPLY) == "114432226099214960"
    )


@pytest.mark.parametrize(
    ("reply_to", "text"), [(S4, "Iets anders"), (S1, REPLY)], ids=["text", "target"]
)
def test_find_existing_reply_finds_nothing(api, reply_to, text):
    add_account_statuses(api)
    assert (
        MastodonConnector().find_existing_reply(
            channel(), target(in_reply_to_external_id=reply_to), text
        )
        is None
    )
