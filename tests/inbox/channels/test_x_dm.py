"""X direct messages in XConnector: GET /2/dm_events replayed at the HTTP layer (`responses`).

tweepy's real client runs (query params, OAuth 1.0a signing, error classes); only the socket
is fake. The recorded pages are described in tests/fixtures/x/README.md.
"""

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import responses
import time_machine
from responses import matchers

from inbox.channels import x_dm
from inbox.channels.base import AuthFailed, ChannelConfig, ConnectorError, RateLimited, ReplyTarget
from inbox.channels.x import XConnector

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "x"
API = "https://api.twitter.com/2"
DM_EVENTS = f"{API}/dm_events"
MENTIONS_RE = f"{API}/users/1420339457118097409/mentions"
OUR_ID = "1420339457118097409"
JAN = "1102938475610293847"
AMAL = "1598765432109876543"
E1, E2, E3, E4, E5, E6 = (
    "1917894264738545665",  # Jan: address (page 2)
    "1917896278004465666",  # Amal: shares a post (page 2)
    "1917898039612145667",  # ParticipantsJoin in a group
    "1917898291270385668",  # a group message
    "1917900556194545669",  # Jan: photo
    "1917901814485745670",  # ours, typed in X's app
)
NEXT = "18LAA581J5II7LA00C00ZZZZ"
# The fixtures' messages are of 2025-05-01 10:50 ... 11:20 UTC; "now" is shortly after.
NOW = datetime(2025, 5, 1, 11, 30, tzinfo=UTC)


def load(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def channel(**settings):
    return ChannelConfig(
        id=7,
        kind="x",
        own_handles=("stadswonen",),
        credentials={
            "consumer_key": "ck-test",
            "consumer_secret": "cs-test",
            "access_token": f"{OUR_ID}-at-test",
            "access_token_secret": "ats-test",
            "user_id": OUR_ID,
        },
        settings=settings,
    )


def dm_params(**extra):
    """The query tweepy must send: a matcher fails loudly when a field or expansion is lost."""
    params = {
        "dm_event.fields": "id,text,event_type,created_at,sender_id,dm_conversation_id,"
        "attachments,referenced_tweets",
        "expansions": "sender_id,attachments.media_keys,referenced_tweets.id",
        "media.fields": "media_key,type,url,preview_image_url,alt_text",
        "user.fields": "username,name,profile_image_url,protected",
        "max_results": "100",
    }
    params.update(extra)
    return params


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def fetch(api, cfg, cursor):
    # The mentions source is not under test here: always empty.
    api.get(MENTIONS_RE, json=load("empty.json"))
    return XConnector().fetch(cfg, cursor)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def add_pages(api, *, token_first=None):
    first = {"pagination_token": token_first} if token_first else {}
    api.get(
        DM_EVENTS,
        json=load("dm_events_page1.json"),
        match=[matchers.query_param_matcher(dm_params(**first))],
    )
    api.get(
        DM_EVENTS,
        json=load("dm_events_page2.json"),
        match=[matchers.query_param_matcher(dm_params(pagination_token=NEXT))],
    )


def by_id(result):
    return {m.external_id: m for m in result.messages}


def test_direct_messages_become_private_messages_threaded_per_customer(api):
    add_pages(api)
    result = fetch(api, channel(), {})
    messages = by_id(result)

    assert list(messages) == [E1, E2, E5, E6]  # oldest first; join and group left out
    for message in messages.values():
        assert not message.is_public
        assert message.parent_external_id == ""
    assert {messages[e].conversation_external_id for e in (E1, E5, E6)} == {f"dm:{JAN}"}
    assert messages[E2].conversation_external_id == f"dm:{AMAL}"

    jan = messages[E1]
    assert jan.author_id == JAN
    assert jan.author_handle == "jdevries"
    assert jan.author_name == "Jan de Vries"
    assert jan.author_profile_url == "https://x.com/jdevries"
    assert jan.created_at == datetime(2025, 5, 1, 10, 50, 0, 123000, tzinfo=UTC)
    assert jan.url == f"https://x.com/messages/{JAN}-{OUR_ID}"
    assert jan.raw["data"]["id"] == E1
    assert not jan.is_own


def test_our_own_dm_is_own_and_threaded_on_the_other_participant(api):
    add_pages(api)
    ours = by_id(fetch(api, channel(), {}))[E6]
    assert ours.is_own
    assert ours.author_id == OUR_ID
    assert ours.conversation_external_id == f"dm:{JAN}"
    # send_reply's id is the raw event id: ingest recognises our DM by it when it comes back.
    assert ours.external_id == E6


def test_media_and_a_shared_post_become_readable_lines(api):
    add_pages(api)
    messages = by_id(fetch(api, channel(), {}))
    photo = messages[E5].text.splitlines()
    assert photo[0] == "Hier een foto van de lekkage & de schimmel https://t.co/Lk3aBcDeFg"
    assert photo[1].startswith("[photo] https://pbs.twimg.com/dm_photo/")
    shared = messages[E2].text.splitlines()
    assert shared[-1] == "https://x.com/i/web/status/1917883170290806784"


def test_group_messages_are_counted_not_ingested(api):
    add_pages(api)
    result = fetch(api, channel(), {})
    assert result.cursor["dm"]["group_skipped"] == 1
    assert E4 not in by_id(result)


def test_reads_with_the_accounts_user_context_even_beside_a_bearer_token(api):
    add_pages(api)
    cfg = channel()
    # Mentions read with the app's bearer token; DMs are the account's: OAuth 1.0a.
    fetch(api, replace(cfg, credentials={**cfg.credentials, "bearer_token": "AAAA-bearer"}), {})
    assert api.calls[0].request.headers["Authorization"].startswith("Bearer ")
    dm_calls = [c for c in api.calls if c.request.url.startswith(DM_EVENTS)]
    assert dm_calls and all(
        c.request.headers["Authorization"].startswith("OAuth ") for c in dm_calls
    )


# --- cursor ------------------------------------------------------------------------------


def test_cursor_reads_down_to_the_last_seen_event_and_stops(api):
    add_pages(api)
    first = fetch(api, channel(), {})
    assert first.cursor["dm"]["last_id"] == E6

    api.reset()
    # Next poll: page 1 again (nothing new): E6 is the last seen, so no page 2 is asked for.
    api.get(
        DM_EVENTS,
        json=load("dm_events_page1.json"),
        match=[matchers.query_param_matcher(dm_params())],
    )
    again = fetch(api, channel(), first.cursor)
    assert again.messages == []
    assert again.cursor["dm"]["last_id"] == E6
    assert len([c for c in api.calls if c.request.url.startswith(DM_EVENTS)]) == 1


def test_a_burst_bigger_than_one_poll_continues_next_poll(api):
    cfg = channel(dm_max_pages=1)
    cursor = {"dm": {"last_id": "1917890000000000000"}}  # before E1
    api.get(
        DM_EVENTS,
        json=load("dm_events_page1.json"),
        match=[matchers.query_param_matcher(dm_params())],
    )
    first = fetch(api, cfg, cursor)
    assert [m.external_id for m in first.messages] == [E5, E6]
    # last_id must not jump to E6 yet: page 2 (E1, E2) would be lost.
    assert first.cursor["dm"] == {
        "last_id": "1917890000000000000",
        "next_token": NEXT,
        "newest_id": E6,
        "group_skipped": 1,
    }

    api.reset()
    api.get(
        DM_EVENTS,
        json=load("dm_events_page2.json"),
        match=[matchers.query_param_matcher(dm_params(pagination_token=NEXT))],
    )
    second = fetch(api, cfg, first.cursor)
    assert [m.external_id for m in second.messages] == [E1, E2]
    assert second.cursor["dm"] == {"last_id": E6, "group_skipped": 1}


def test_a_first_poll_reaches_back_only_its_window(api):
    # A 30-minute window from 11:30 reaches 11:00: page 1 holds older events (the join at
    # 11:05 is newer, the group message too; page 1 ends at 11:05), so page 2 is read, but
    # only what is inside the window is kept.
    add_pages(api)
    result = fetch(api, channel(dm_first_window_hours=0.5), {})
    assert [m.external_id for m in result.messages] == [E5, E6]
    assert result.cursor["dm"]["last_id"] == E6


def test_a_first_poll_stops_at_the_window_without_reading_further(api):
    api.get(
        DM_EVENTS,
        json=load("dm_events_page1.json"),
        match=[matchers.query_param_matcher(dm_params())],
    )
    # 11:30 - 16 minutes = 11:14: E5 (11:15) is the oldest kept, the group message (11:06)
    # is older, so page 2 is not read.
    result = fetch(api, channel(dm_first_window_hours=16 / 60), {})
    assert [m.external_id for m in result.messages] == [E5, E6]


def test_without_user_context_dms_are_skipped_silently_and_the_cursor_says_why(api):
    cfg = ChannelConfig(
        id=7, kind="x", credentials={"bearer_token": "b", "user_id": OUR_ID}, settings={}
    )
    result = fetch(api, cfg, {})
    assert result.messages == []
    assert result.cursor["dm"] == {"off": x_dm.OFF_NO_USER_CONTEXT}
    assert not [c for c in api.calls if c.request.url.startswith(DM_EVENTS)]


def test_dms_can_be_switched_off(api):
    result = fetch(api, channel(direct_messages=False), {})
    assert "dm" not in result.cursor
    assert not [c for c in api.calls if c.request.url.startswith(DM_EVENTS)]


# --- errors ------------------------------------------------------------------------------


def test_401_expired_token_is_an_auth_failure(api):
    api.get(DM_EVENTS, json=load("error_401.json"), status=401)
    with pytest.raises(AuthFailed) as caught:
        fetch(api, channel(), {})
    assert caught.value.status_code == 401
    assert not caught.value.transient


@pytest.mark.parametrize("fixture", ["dm_error_403_permissions.json", "error_403.json"])
def test_403_without_dm_permission_turns_dms_off_and_keeps_the_cursor(api, fixture):
    api.get(DM_EVENTS, json=load(fixture), status=403)
    cursor = {"dm": {"last_id": E1}}
    result = fetch(api, channel(), cursor)
    assert result.messages == []
    assert result.cursor["dm"]["last_id"] == E1  # nothing skipped once the permission is back
    assert result.cursor["dm"]["off"] == x_dm.OFF_FORBIDDEN
    assert "403" in result.cursor["dm"]["error"]

    # Granted again: the next poll reads and the "off" note goes.
    api.reset()
    api.get(DM_EVENTS, json=load("dm_events_page1.json"))
    again = fetch(api, channel(), result.cursor)
    assert "off" not in again.cursor["dm"]
    assert [m.external_id for m in again.messages] == [E5, E6]


def test_429_raises_rate_limited_with_the_reset_time(api):
    api.get(
        DM_EVENTS,
        json=load("error_429.json"),
        status=429,
        headers={
            "x-rate-limit-limit": "15",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": "1746100800",
        },
    )
    with pytest.raises(RateLimited) as caught:
        fetch(api, channel(), {})
    assert caught.value.reset_at == datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    assert caught.value.transient


# --- replies -----------------------------------------------------------------------------


def dm_target(**kwargs):
    defaults = {
        "conversation_id": 1,
        "in_reply_to_external_id": E5,
        "thread_external_id": f"dm:{JAN}",
        "author_id": JAN,
        "private": True,
    }
    return ReplyTarget(**{**defaults, **kwargs})


def test_a_reply_in_a_dm_thread_goes_to_the_participant_of_the_thread_key(api):
    api.post(
        f"{API}/dm_conversations/with/{JAN}/messages",
        json=load("dm_create.json"),
        status=201,
        match=[matchers.json_params_matcher({"text": "Tot morgen!"})],
    )
    # The contact may be our own account (a chat we opened in X's app): the key decides.
    new_id = XConnector().send_reply(channel(), dm_target(author_id=OUR_ID), "Tot morgen!")
    assert new_id == "1785412345678901234"
    assert api.calls[-1].request.headers["Authorization"].startswith("OAuth ")


def test_a_person_who_does_not_accept_our_dms_is_a_clear_permanent_error(api):
    api.post(
        f"{API}/dm_conversations/with/{JAN}/messages",
        json=load("dm_error_403_cannot_send.json"),
        status=403,
    )
    with pytest.raises(ConnectorError) as caught:
        XConnector().send_reply(channel(), dm_target(), "Hallo")
    assert not isinstance(caught.value, AuthFailed)  # the channel itself is fine
    assert not caught.value.transient
    assert caught.value.status_code == 403
    assert "does not let us send a direct message to this person" in str(caught.value)


def test_send_without_dm_permission_stays_an_auth_failure(api):
    api.post(
        f"{API}/dm_conversations/with/{JAN}/messages",
        json=load("dm_error_403_permissions.json"),
        status=403,
    )
    with pytest.raises(AuthFailed):
        XConnector().send_reply(channel(), dm_target(), "Hallo")


def test_find_existing_dm_uses_the_thread_participant(api):
    api.get(f"{API}/dm_conversations/with/{JAN}/dm_events", json=load("dm_events.json"))
    found = XConnector().find_existing_reply(
        channel(),
        dm_target(author_id=""),
        "Hoi Jan, mag ik je adres en telefoonnummer? ^Lotte",
    )
    assert found == "1785412345678901234"


def test_thread_key_helpers_agree():
    assert x_dm.participant_of(x_dm.thread_key(JAN)) == JAN
    assert x_dm.participant_of("1917854669995126784") == ""
    assert x_dm.participant_of("dm:abc") == ""
