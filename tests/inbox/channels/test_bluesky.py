"""BlueskyConnector against recorded XRPC payloads, replayed at the httpx layer with respx.

The atproto SDK's real code runs: createSession on bsky.social, the switch to the account's
PDS from the DID document, getProfile, token headers and its error classes.
"""

import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import respx
import time_machine

from inbox.channels import bluesky
from inbox.channels.base import (
    AuthFailed,
    ChannelConfig,
    ConnectorError,
    RateLimited,
    ReplyTarget,
)
from inbox.channels.bluesky import BlueskyConnector, reply_refs

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bluesky"
ENTRYWAY = "https://bsky.social/xrpc"
PDS = "https://morel.us-east.host.bsky.network/xrpc"
OUR_DID = "did:plc:k4q2m7x3vz5hfyw6trn2sbja"
JDV_DID = "did:plc:3jpt2mvvsumj2r7eqk4gzzjz"
P1 = f"at://{JDV_DID}/app.bsky.feed.post/3lo3ugityrk2b"
P2 = f"at://{OUR_DID}/app.bsky.feed.post/3lo3vhe7kjk2b"
P3 = "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3lo3zpps2ac2b"
P4 = f"at://{JDV_DID}/app.bsky.feed.post/3lo42qzrwcs2b"
P5 = "at://did:plc:vwzwgnygau7ed7b7wt5ux7y2/app.bsky.feed.post/3lo43khfhz22b"
P6 = "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3lo43opkkrc2b"
P7 = "at://did:plc:vwzwgnygau7ed7b7wt5ux7y2/app.bsky.feed.post/3lo43rdow222b"
R = f"at://{OUR_DID}/app.bsky.feed.post/3lo45rpmv222b"
REPLY = "Sorry voor het wachten, Jan. De monteur komt morgen tussen 8 en 12 uur. ^Lotte"


def load(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def channel(keywords=("Stadswonen",), **settings):
    return ChannelConfig(
        id=11,
        kind="bluesky",
        own_handles=("stadswonen.bsky.social",),
        keywords=keywords,
        credentials={"handle": "stadswonen.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"},
        settings=settings,
    )


@pytest.fixture(autouse=True)
def fresh_sessions():
    bluesky.forget_sessions()
    # The recorded access token was issued at 10:30 and lives two hours.
    with time_machine.travel(datetime(2025, 5, 1, 10, 50, tzinfo=UTC), tick=True):
        yield
    bluesky.forget_sessions()


@pytest.fixture
def api():
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        router.post(f"{ENTRYWAY}/com.atproto.server.createSession", name="login").respond(
            json=load("create_session.json")
        )
        router.get(
            f"{PDS}/app.bsky.actor.getProfile",
            params={"actor": "stadswonen.bsky.social"},
            name="profile",
        ).respond(json=load("get_profile.json"))
        yield router


NOTIFICATIONS = f"{PDS}/app.bsky.notification.listNotifications"
SEARCH = f"{PDS}/app.bsky.feed.searchPosts"


def add_first_poll(api, with_page2=False):
    if with_page2:
        # Registered first: respx takes the first route that matches.
        api.get(NOTIFICATIONS, params={"cursor": "2025-05-01T09:47:18.505Z"}).respond(
            json=load("notifications_page2.json")
        )
    api.get(NOTIFICATIONS, name="notifications").respond(json=load("notifications_page1.json"))
    api.get(SEARCH, params={"q": "Stadswonen", "sort": "latest"}, name="search").respond(
        json=load("search_posts.json")
    )


def by_id(result):
    return {m.external_id: m for m in result.messages}


def test_it_logs_in_and_reads_notifications_and_search(api):
    add_first_poll(api)
    result = BlueskyConnector().fetch(channel(), {})
    assert api["notifications"].call_count == 1  # a first poll does not dig into history
    messages = by_id(result)
    assert set(messages) == {P2, P3, P4, P5, P6, P7}
    login = json.loads(api["login"].calls.last.request.content)
    assert login == {"identifier": "stadswonen.bsky.social", "password": "abcd-efgh-ijkl-mnop"}
    request = api["notifications"].calls.last.request
    assert request.headers["Authorization"].startswith("Bearer eyJ")
    assert request.url.params.get_list("reasons") == ["mention", "reply", "quote"]

    p4 = messages[P4]
    assert p4.author_id == JDV_DID
    assert p4.author_handle == "jdevries.bsky.social"
    assert p4.author_name == "Jan de Vries"
    assert p4.author_avatar_url.startswith("https://cdn.bsky.app/img/avatar/plain/")
    assert p4.author_profile_url == "https://bsky.app/profile/jdevries.bsky.social"
    assert p4.url == "https://bsky.app/profile/jdevries.bsky.social/post/3lo42qzrwcs2b"
    assert p4.created_at == datetime(2025, 5, 1, 10, 5, 55, 871000, tzinfo=UTC)
    assert p4.text == "Nog steeds geen monteur geweest 😡"
    assert p4.raw["reason"] == "reply"


def test_replies_carry_parent_and_root(api):
    add_first_poll(api)
    messages = by_id(BlueskyConnector().fetch(channel(), {}))
    assert messages[P4].parent_external_id == P2
    assert messages[P4].conversation_external_id == P1
    assert messages[P2].parent_external_id == P1
    assert messages[P3].parent_external_id == ""
    assert messages[P3].conversation_external_id == P3


def test_reply_refs_come_from_the_raw_payload(api):
    add_first_poll(api)
    p4 = by_id(BlueskyConnector().fetch(channel(), {}))[P4]
    refs = reply_refs(p4.raw)
    assert refs["parent"] == {"uri": P4, "cid": p4.raw["cid"]}
    assert refs["root"]["uri"] == P1
    assert refs["root"]["cid"].startswith("bafyrei")
    top = load("notifications_page1.json")["notifications"][2]
    assert reply_refs(top)["root"] == reply_refs(top)["parent"]


def test_our_own_post_is_own(api):
    add_first_poll(api)
    messages = by_id(BlueskyConnector().fetch(channel(), {}))
    assert [k for k, m in messages.items() if m.is_own] == [P2]


def test_an_author_whose_handle_no_longer_verifies_falls_back_to_the_did(api):
    add_first_poll(api)
    p6 = by_id(BlueskyConnector().fetch(channel(), {}))[P6]
    assert p6.author_handle == ""
    assert p6.author_name == ""
    assert p6.author_avatar_url == ""
    assert p6.url == "https://bsky.app/profile/did:plc:z72i7hdynmk6r22z27h6tvur/post/3lo43opkkrc2b"


def test_emoji_rtl_zero_width_and_a_full_300_graphemes_are_kept(api):
    add_first_poll(api)
    messages = by_id(BlueskyConnector().fetch(channel(), {}))
    assert messages[P3].text == (
        "@stadswonen.bsky.social مرحبا، متى يأتي الفني؟\u200f شكرا 👨\u200d👩\u200d👧 مع\u200cالسلامة 🇳🇱"
    )
    p5 = messages[P5].text
    assert p5 == load("search_posts.json")["posts"][1]["record"]["text"]
    assert len(p5) > 300


def test_cursor_advances_and_stops_at_what_was_seen(api):
    add_first_poll(api)
    connector = BlueskyConnector()
    first = connector.fetch(channel(), {})
    assert first.cursor == {
        "notifications": {"since": "2025-05-01T10:24:00.412000Z", "seen": [P7]},
        "search:stadswonen": {"since": "2025-05-01T10:22:32.189000Z", "seen": [P6]},
    }
    # Next poll: the same lists answer again; nothing is new, no second page is read.
    calls_before = api["notifications"].call_count
    again = connector.fetch(channel(), first.cursor)
    assert again.messages == []
    assert again.cursor == first.cursor
    assert api["notifications"].call_count == calls_before + 1
    assert api["login"].call_count == 1  # the session is reused, not created per poll


def test_a_burst_bigger_than_one_poll_continues_next_poll(api):
    old = {"since": "2025-05-01T08:00:00.331000Z", "seen": ["at://old"]}
    cfg = channel(keywords=(), max_pages=1)
    add_first_poll(api, with_page2=True)
    api.routes.pop("search")
    first = BlueskyConnector().fetch(cfg, {"notifications": old})
    assert {m.external_id for m in first.messages} == {P3, P4, P7}
    assert first.cursor["notifications"] == {
        **old,
        "cursor": "2025-05-01T09:47:18.505Z",
        "next_since": "2025-05-01T10:24:00.412000Z",
        "next_seen": [P7],
    }
    second = BlueskyConnector().fetch(cfg, first.cursor)
    # P1 is new; the follow notification on page 2 is no mention and is dropped.
    assert [m.external_id for m in second.messages] == [P1]
    assert second.cursor["notifications"] == {"since": "2025-05-01T10:24:00.412000Z", "seen": [P7]}


def test_malformed_items_are_skipped(api):
    page = load("notifications_page1.json")
    del page["notifications"][0]["record"]["createdAt"]  # falls back to indexedAt
    page["notifications"][1]["uri"] = None
    page["notifications"].append("not an object")
    page["notifications"].append({"reason": "mention"})
    api.get(NOTIFICATIONS).respond(json=page)
    result = BlueskyConnector().fetch(channel(keywords=()), {})
    assert [m.external_id for m in result.messages] == [P3, P7]
    assert by_id(result)[P7].created_at == datetime(2025, 5, 1, 10, 24, 0, 412000, tzinfo=UTC)


# --- errors ------------------------------------------------------------------------------


def test_429_raises_rate_limited_with_the_reset_time_and_never_sleeps(api):
    api.get(NOTIFICATIONS).respond(
        429,
        json=load("error_429.json"),
        headers={
            "ratelimit-limit": "3000",
            "ratelimit-remaining": "0",
            "ratelimit-reset": "1746096300",
            "ratelimit-policy": "3000;w=300",
        },
    )
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        BlueskyConnector().fetch(channel(), {})
    assert time.monotonic() - started < 1
    assert caught.value.reset_at == datetime(2025, 5, 1, 10, 45, tzinfo=UTC)


def test_a_wrong_app_password_is_an_auth_failure():
    with respx.mock(assert_all_called=True) as router:
        router.post(f"{ENTRYWAY}/com.atproto.server.createSession").respond(
            401, json=load("error_401.json")
        )
        with pytest.raises(AuthFailed) as caught:
            BlueskyConnector().fetch(channel(), {})
    assert caught.value.status_code == 401
    assert not caught.value.transient


@pytest.mark.parametrize(
    ("status", "fixture"),
    [(401, "error_401.json"), (403, "error_401.json"), (400, "error_expired.json")],
)
def test_a_refused_session_is_an_auth_failure_and_forgets_the_login(api, status, fixture):
    api.get(NOTIFICATIONS).respond(status, json=load(fixture))
    with pytest.raises(AuthFailed):
        BlueskyConnector().fetch(channel(), {})
    assert bluesky._clients == {}


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(api, status):
    api.get(NOTIFICATIONS).respond(status, json=load("error_500.json"))
    with pytest.raises(ConnectorError) as caught:
        BlueskyConnector().fetch(channel(), {})
    assert caught.value.transient
    assert caught.value.status_code == status


def test_malformed_json_is_transient(api):
    api.get(NOTIFICATIONS).respond(
        200,
        content=b'{"notifications": [{"uri": "at://',
        headers={"content-type": "application/json"},
    )
    with pytest.raises(ConnectorError) as caught:
        BlueskyConnector().fetch(channel(), {})
    assert caught.value.transient


def test_a_timeout_is_transient(api):
    api.get(NOTIFICATIONS).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(ConnectorError) as caught:
        BlueskyConnector().fetch(channel(), {})
    assert caught.value.transient


# --- replies -----------------------------------------------------------------------------


def p4_target(**kwargs):
    p4 = load("notifications_page1.json")["notifications"][1]
    defaults = {
        "conversation_id": 5,
        "in_reply_to_external_id": P4,
        "author_id": JDV_DID,
        "author_handle": "jdevries.bsky.social",
        "extra": reply_refs(p4),
    }
    return ReplyTarget(**{**defaults, **kwargs})


def test_send_reply_creates_one_record_with_root_and_parent(api):
    create = api.post(f"{PDS}/com.atproto.repo.createRecord").respond(
        json=load("create_record.json")
    )
    uri = BlueskyConnector().send_reply(channel(), p4_target(), REPLY)
    assert uri == R
    assert create.call_count == 1
    body = json.loads(create.calls.last.request.content)
    assert body["repo"] == OUR_DID
    assert body["collection"] == "app.bsky.feed.post"
    record = body["record"]
    assert record["$type"] == "app.bsky.feed.post"
    assert record["text"] == REPLY
    assert record["langs"] == ["nl"]
    assert record["reply"]["parent"]["uri"] == P4
    assert record["reply"]["root"]["uri"] == P1
    assert (
        record["reply"]["root"]["cid"]
        == load("notifications_page1.json")["notifications"][1]["record"]["reply"]["root"]["cid"]
    )


def test_send_reply_looks_up_the_refs_when_not_given(api):
    api.get(f"{PDS}/app.bsky.feed.getPosts", params={"uris": P4}).respond(
        json=load("get_posts.json")
    )
    create = api.post(f"{PDS}/com.atproto.repo.createRecord").respond(
        json=load("create_record.json")
    )
    BlueskyConnector().send_reply(channel(), p4_target(extra={}), REPLY)
    reply = json.loads(create.calls.last.request.content)["record"]["reply"]
    assert reply["parent"]["uri"] == P4
    assert reply["root"]["uri"] == P1


def test_send_reply_refuses_more_than_300_graphemes_without_calling(api):
    api.routes.pop("login")
    api.routes.pop("profile")
    with pytest.raises(ConnectorError) as caught:
        BlueskyConnector().send_reply(channel(), p4_target(), "👨‍👩‍👧" * 301)
    assert not caught.value.transient


def test_300_family_emoji_are_300_graphemes_and_allowed(api):
    create = api.post(f"{PDS}/com.atproto.repo.createRecord").respond(
        json=load("create_record.json")
    )
    BlueskyConnector().send_reply(channel(), p4_target(), "👨‍👩‍👧" * 300)
    assert create.call_count == 1


def test_find_existing_reply(api):
    api.get(
        f"{PDS}/app.bsky.feed.getAuthorFeed",
        params={"actor": OUR_DID, "filter": "posts_with_replies"},
    ).respond(json=load("author_feed.json"))
    connector = BlueskyConnector()
    assert connector.find_existing_reply(channel(), p4_target(), REPLY) == R
    assert connector.find_existing_reply(channel(), p4_target(), "Andere tekst") is None
    other = replace(p4_target(), in_reply_to_external_id=P3)
    assert connector.find_existing_reply(channel(), other, REPLY) is None
