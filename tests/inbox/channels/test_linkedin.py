"""The LinkedIn connector against recorded Community Management API payloads, replayed with
responses: the poll (posts, comments, replies, threading, incremental polls), replies as the
organisation, finding an earlier reply, and each error LinkedIn answers."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import pytest
import requests
import responses
import time_machine

from inbox.channels import linkedin
from inbox.channels.base import AuthFailed, ChannelConfig, ConnectorError, RateLimited, ReplyTarget
from inbox.channels.registry import get_connector
from inbox.lib import replytext

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "linkedin"
API = linkedin.API_URL
ORG = "urn:li:organization:2414183"
ACT_A = "urn:li:activity:7401234567890123456"
SHARE_A = "urn:li:share:7401234567890123456"
SHARE_B = "urn:li:ugcPost:7399876543210987654"
C1 = f"urn:li:comment:({ACT_A},7401298765432109876)"
C2 = f"urn:li:comment:({ACT_A},7401299999999999999)"
C3 = f"urn:li:comment:({ACT_A},7401300000000000001)"
R1 = f"urn:li:comment:({ACT_A},7401301111111111111)"
R2 = f"urn:li:comment:({ACT_A},7401302222222222222)"
R3 = f"urn:li:comment:({ACT_A},7401303333333333333)"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
POSTS_URL = f"{API}/posts"


def fixture(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def comments_url(urn):
    return f"{API}/socialActions/{quote(urn, safe='')}/comments"


def config(**settings):
    return ChannelConfig(
        id=9,
        kind="linkedin",
        credentials={"access_token": "AQV-admin-token"},
        settings={"organization_id": "2414183", **settings},
    )


def target():
    return ReplyTarget(
        conversation_id=4,
        in_reply_to_external_id=R2,
        thread_external_id=C1,
        author_id="urn:li:person:Xk9dT3bQ2a",
    )


def query(call):
    return {k: v[0] for k, v in parse_qs(urlparse(call.request.url).query).items()}


def replay_first_poll():
    responses.get(POSTS_URL, json=fixture("posts_by_author.json"))
    responses.get(comments_url(SHARE_A), json=fixture("post_comments.json"))
    responses.get(comments_url(SHARE_B), json=fixture("post_b_comments.json"))
    responses.get(comments_url(C1), json=fixture("comment_replies.json"))


# --- the poll --------------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
@responses.activate
def test_a_first_poll_reads_the_recent_posts_comments_and_replies():
    replay_first_poll()

    result = get_connector("linkedin").fetch(config(), {})

    ids = [m.external_id for m in result.messages]
    # Comment 1, then its two replies (listed under it), comment 2, our own comment; the
    # comment without a time is skipped, the post of October (outside 14 days) is not read.
    assert ids == [C1, R1, R2, C2, C3]
    c1, r1, r2, c2, c3 = result.messages
    assert c1.author_id == "urn:li:person:Xk9dT3bQ2a"
    assert c1.created_at == datetime(2026, 12, 1, 9, 12, 44, 317000, tzinfo=UTC)
    assert c1.text.endswith("😡🚿")
    assert (c1.parent_external_id, c1.conversation_external_id) == ("", C1)
    assert c1.url == (
        f"https://www.linkedin.com/feed/update/{ACT_A}/?commentUrn={quote(C1, safe='')}"
    )
    assert not c1.is_own and c1.is_public
    # Replies join the first-level comment's thread; ours is marked as our own.
    assert r1.is_own and (r1.parent_external_id, r1.conversation_external_id) == (C1, C1)
    assert not r2.is_own and r2.conversation_external_id == C1
    # A second first-level comment opens its own conversation.
    assert c2.conversation_external_id == C2 and "\u200f" in c2.text
    assert c3.is_own and c3.conversation_external_id == C3
    urls = [call.request.url.split("?")[0] for call in responses.calls]
    assert urls == [POSTS_URL, comments_url(SHARE_A), comments_url(C1), comments_url(SHARE_B)]
    posts_query = query(responses.calls[0])
    assert posts_query["author"] == ORG and posts_query["q"] == "author"
    assert posts_query["sortBy"] == "CREATED"
    # Rest.li 2.0 wants the URN's reserved characters encoded in the query string too.
    assert "author=urn%3Ali%3Aorganization%3A2414183" in responses.calls[0].request.url
    headers = responses.calls[1].request.headers
    assert headers["LinkedIn-Version"] == linkedin.DEFAULT_API_VERSION
    assert headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert headers["Authorization"] == "Bearer AQV-admin-token"
    post_state = result.cursor["posts"][SHARE_A]
    assert post_state["mark"] == int(datetime(2026, 12, 1, 10, tzinfo=UTC).timestamp() * 1000)
    assert post_state["ids"] == [C3]
    assert post_state["replies"][C1]["count"] == 2
    assert result.cursor["posts"][SHARE_B]["mark"] == 0


@time_machine.travel(NOW, tick=False)
@responses.activate
def test_a_second_poll_hands_over_only_the_new_reply():
    replay_first_poll()
    first = get_connector("linkedin").fetch(config(), {"other": 1})
    responses.reset()
    responses.get(POSTS_URL, json=fixture("posts_by_author.json"))
    responses.get(comments_url(SHARE_A), json=fixture("post_comments_second_poll.json"))
    responses.get(comments_url(SHARE_B), json=fixture("post_b_comments.json"))
    responses.get(comments_url(C1), json=fixture("comment_replies_second_poll.json"))

    second = get_connector("linkedin").fetch(config(), first.cursor)

    assert [m.external_id for m in second.messages] == [R3]
    assert second.messages[0].conversation_external_id == C1
    assert second.cursor["other"] == 1
    assert second.cursor["posts"][SHARE_A]["replies"][C1]["count"] == 3

    # A third poll without news: nothing handed over, and no reply list read (count unchanged).
    responses.reset()
    responses.get(POSTS_URL, json=fixture("posts_by_author.json"))
    responses.get(comments_url(SHARE_A), json=fixture("post_comments_second_poll.json"))
    responses.get(comments_url(SHARE_B), json=fixture("post_b_comments.json"))
    third = get_connector("linkedin").fetch(config(), second.cursor)
    assert third.messages == []
    assert comments_url(C1) not in [c.request.url.split("?")[0] for c in responses.calls]


@time_machine.travel(NOW, tick=False)
@responses.activate
def test_a_reply_deleted_and_another_written_between_polls_is_not_lost():
    replay_first_poll()
    first = get_connector("linkedin").fetch(config(), {})
    page = fixture("post_comments.json")
    # Still two replies, but R2 is gone and R3 is new: the shown reply URNs tell.
    page["elements"][0]["commentsSummary"]["selectedComments"] = [R1, R3]
    replies = fixture("comment_replies_second_poll.json")
    del replies["elements"][1]
    responses.reset()
    responses.get(POSTS_URL, json=fixture("posts_by_author.json"))
    responses.get(comments_url(SHARE_A), json=page)
    responses.get(comments_url(SHARE_B), json=fixture("post_b_comments.json"))
    responses.get(comments_url(C1), json=replies)

    second = get_connector("linkedin").fetch(config(), first.cursor)

    assert [m.external_id for m in second.messages] == [R3]


@time_machine.travel(NOW, tick=False)
@responses.activate
def test_a_comment_in_the_same_millisecond_as_the_watermark_is_not_lost():
    replay_first_poll()
    first = get_connector("linkedin").fetch(config(), {})
    page = fixture("post_comments.json")
    twin = json.loads(json.dumps(page["elements"][2]).replace("7401300000000000001", "74013009"))
    twin["actor"] = "urn:li:person:u1v2W3x4Y5"
    page["elements"].append(twin)
    responses.reset()
    responses.get(POSTS_URL, json=fixture("posts_by_author.json"))
    responses.get(comments_url(SHARE_A), json=page)
    responses.get(comments_url(SHARE_B), json=fixture("post_b_comments.json"))

    second = get_connector("linkedin").fetch(config(), first.cursor)

    assert [m.external_id for m in second.messages] == [f"urn:li:comment:({ACT_A},74013009)"]


@time_machine.travel(NOW, tick=False)
@responses.activate
def test_posts_outside_the_window_leave_the_cursor_and_pages_are_followed():
    posts = fixture("posts_by_author.json")
    full = {"paging": {"start": 0, "count": 50}, "elements": [posts["elements"][0]] * 50}
    responses.get(POSTS_URL, json=full)
    responses.get(POSTS_URL, json={"paging": {}, "elements": posts["elements"][1:]})
    responses.get(comments_url(SHARE_A), json=fixture("post_b_comments.json"))
    responses.get(comments_url(SHARE_B), json=fixture("post_b_comments.json"))
    cursor = {"posts": {"urn:li:share:1": {"mark": 5, "ids": []}}}

    result = get_connector("linkedin").fetch(config(posts_days="7"), cursor)

    # posts_days=7: the post of 28 November is too old, the read stops there. The post
    # repeated by offset paging is read once.
    assert set(result.cursor["posts"]) == {SHARE_A}
    assert len(responses.calls) == 3
    assert query(responses.calls[2])["start"] == "50"


@time_machine.travel(NOW, tick=False)
@responses.activate
def test_the_comment_pages_of_a_post_are_bounded():
    posts = fixture("posts_by_author.json")
    posts["elements"] = posts["elements"][:1]
    responses.get(POSTS_URL, json=posts)
    comment = fixture("post_comments.json")["elements"][1]
    many = [
        {**comment, "commentUrn": f"urn:li:comment:({ACT_A},{n})", "$URN": ""} for n in range(100)
    ]
    responses.get(comments_url(SHARE_A), json={"paging": {}, "elements": many})

    result = get_connector("linkedin").fetch(config(max_comment_pages=2), {})

    assert len(responses.calls) == 3  # the posts, then two pages of comments
    assert len(result.messages) == 200 - 100  # the second page repeats the first: deduplicated
    assert query(responses.calls[2])["start"] == "100"


def test_settings_and_credentials_are_required():
    with pytest.raises(ConnectorError, match="organization_id") as exc:
        get_connector("linkedin").fetch(config(organization_id=""), {})
    assert not exc.value.transient
    with pytest.raises(AuthFailed):
        get_connector("linkedin").fetch(
            ChannelConfig(id=1, kind="linkedin", settings={"organization_id": "1"}), {}
        )
    with pytest.raises(ConnectorError, match="posts_days"):
        get_connector("linkedin").fetch(config(posts_days="veel"), {})


# --- replying ----------------------------------------------------------------------------------


@responses.activate
def test_a_reply_is_a_nested_comment_as_the_organisation():
    created = fixture("create_comment.json")
    responses.post(
        comments_url(ACT_A), json=created, status=201, headers={"x-restli-id": created["id"]}
    )

    posted = get_connector("linkedin").send_reply(config(), target(), "We komen eraan.")

    assert posted == f"urn:li:comment:({ACT_A},7401310000000000000)"
    body = json.loads(responses.calls[0].request.body)
    # Under the thread's first-level comment, even when answering a reply (one level deep).
    assert body == {
        "actor": ORG,
        "object": ACT_A,
        "message": {"text": "We komen eraan."},
        "parentComment": C1,
    }
    assert responses.calls[0].request.headers["X-Restli-Protocol-Version"] == "2.0.0"


@responses.activate
def test_a_reply_without_a_body_takes_its_id_from_the_header():
    responses.post(comments_url(ACT_A), body=b"", status=201, headers={"x-restli-id": "7402"})
    assert get_connector("linkedin").send_reply(config(), target(), "x") == (
        f"urn:li:comment:({ACT_A},7402)"
    )


@responses.activate
def test_a_reply_accepted_without_any_id_is_an_unknown_outcome():
    responses.post(comments_url(ACT_A), body=b"", status=201)
    with pytest.raises(ConnectorError) as exc:
        get_connector("linkedin").send_reply(config(), target(), "x")
    assert exc.value.transient and exc.value.status_code is None


def test_a_reply_needs_a_comment_to_answer():
    bad = ReplyTarget(conversation_id=1, in_reply_to_external_id="urn:li:share:1")
    with pytest.raises(ConnectorError, match="no comment") as exc:
        get_connector("linkedin").send_reply(config(), bad, "x")
    assert not exc.value.transient


@responses.activate
def test_find_existing_reply_matches_our_text_by_the_organisation_only():
    page = fixture("comment_replies.json")
    impostor = {**page["elements"][1], "message": {"text": "We  komen\u200b eraan."}}
    ours = {**page["elements"][0], "message": {"text": "We komen eraan.\n"}}
    responses.get(comments_url(C1), json={"paging": {}, "elements": [impostor, ours]})
    connector = get_connector("linkedin")

    assert connector.find_existing_reply(config(), target(), "we komen  eraan.") == R1
    assert connector.find_existing_reply(config(), target(), "Iets anders") is None


def test_hiding_is_not_offered_because_linkedin_only_deletes():
    connector = get_connector("linkedin")
    assert connector.can_hide is False and connector.can_reply_privately is False
    with pytest.raises(ConnectorError, match="cannot be undone") as exc:
        connector.hide(config(), C1, True)
    assert not exc.value.transient


def test_the_comment_limit_is_1250_characters():
    assert get_connector("linkedin").max_length == 1250
    assert replytext.limit_for("linkedin") == 1250
    assert replytext.compose("a" * 1251, kind="linkedin").over_limit
    assert not replytext.compose("a" * 1250, kind="linkedin").over_limit


def test_post_url_links_to_the_comment():
    connector = get_connector("linkedin")
    assert connector.post_url(config(), R1).startswith(
        f"https://www.linkedin.com/feed/update/{ACT_A}/?commentUrn=urn%3Ali%3Acomment%3A%28"
    )
    assert connector.post_url(config(), "nonsense") == ""


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "error", "transient"),
    [
        ("error_expired_token.json", 401, AuthFailed, False),
        ("error_access_denied.json", 403, AuthFailed, False),
        ("error_throttle.json", 429, RateLimited, True),
        ("error_not_found.json", 404, ConnectorError, False),
    ],
)
@time_machine.travel(NOW, tick=False)
@responses.activate
def test_poll_errors(name, status, error, transient):
    responses.get(POSTS_URL, json=fixture(name), status=status)
    with pytest.raises(error) as exc:
        get_connector("linkedin").fetch(config(), {})
    assert exc.value.transient is transient
    assert exc.value.status_code == status
    assert fixture(name)["code"] in str(exc.value)
    if error is RateLimited:
        # The daily throttle resets at midnight UTC.
        assert exc.value.reset_at == datetime(2026, 12, 7, tzinfo=UTC)


@time_machine.travel(NOW, tick=False)
@responses.activate
def test_a_throttle_with_retry_after_waits_that_long():
    responses.get(
        POSTS_URL, json=fixture("error_throttle.json"), status=429, headers={"Retry-After": "90"}
    )
    with pytest.raises(RateLimited) as exc:
        get_connector("linkedin").fetch(config(), {})
    assert exc.value.reset_at == NOW + timedelta(seconds=90)


def test_next_midnight_is_always_ahead():
    assert linkedin.next_midnight_utc(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)) == (
        datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert linkedin.next_midnight_utc(datetime(2026, 12, 6, 0, 0, tzinfo=UTC)) == (
        datetime(2026, 12, 7, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("error_text_too_long.json", 422),
        ("error_validation.json", 400),
        ("error_not_found.json", 404),
        ("error_access_denied.json", 403),
    ],
)
@responses.activate
def test_a_refused_reply_is_not_retried(name, status):
    responses.post(comments_url(ACT_A), json=fixture(name), status=status)
    with pytest.raises(ConnectorError) as exc:
        get_connector("linkedin").send_reply(config(), target(), "a" * 1251)
    assert not exc.value.transient
    assert exc.value.status_code == status
    assert fixture(name)["message"][:40] in str(exc.value)


@pytest.mark.parametrize(("status", "kwargs"), [(500, {"json": {}}), (503, {"body": "<html>"})])
@responses.activate
def test_server_errors_are_transient(status, kwargs):
    responses.get(POSTS_URL, status=status, **kwargs)
    with pytest.raises(ConnectorError) as exc:
        get_connector("linkedin").fetch(config(), {})
    assert exc.value.transient and exc.value.status_code == status


@responses.activate
def test_a_200_without_json_is_transient():
    responses.get(POSTS_URL, body="<html>proxy</html>", status=200)
    with pytest.raises(ConnectorError) as exc:
        get_connector("linkedin").fetch(config(), {})
    assert exc.value.transient


@responses.activate
def test_a_network_error_is_transient_and_hides_the_token():
    responses.get(POSTS_URL, body=requests.ConnectionError("AQV-admin-token refused"))
    with pytest.raises(ConnectorError) as exc:
        get_connector("linkedin").fetch(config(), {})
    assert exc.value.transient and "AQV" not in str(exc.value)


# --- parsers -----------------------------------------------------------------------------------


def test_comment_urns_and_times():
    assert linkedin.split_comment_urn(C1) == (ACT_A, "7401298765432109876")
    assert linkedin.split_comment_urn("urn:li:comment:(urn:li:ugcPost:7,8)") == (
        "urn:li:ugcPost:7",
        "8",
    )
    for bad in ("", "urn:li:comment:(x,1)", "urn:li:comment:(urn:li:a:1,2))", None, 5):
        with pytest.raises(ValueError):
            linkedin.split_comment_urn(bad)
    assert linkedin.time_ms({"time": 1582160678569}) == 1582160678569
    for bad in (True, None, "1582160678569", 0, -5, 10**15, {"time": 1.5}):
        with pytest.raises(ValueError):
            linkedin.time_ms(bad)


def test_a_reply_with_a_broken_parent_is_malformed():
    reply = fixture("comment_replies.json")["elements"][0]
    with pytest.raises(ValueError):
        linkedin.comment_message({**reply, "parentComment": "7401"}, organization=ORG)
    with pytest.raises(TypeError):
        linkedin.comment_message({**reply, "message": {"text": 5}}, organization=ORG)


@responses.activate
def test_a_bare_401_is_an_auth_failure():
    responses.get(POSTS_URL, body=b"", status=401)
    with pytest.raises(AuthFailed):
        get_connector("linkedin").fetch(config(), {})
