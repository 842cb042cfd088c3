"""Meta connectors against recorded Graph API and webhook payloads, replayed with responses."""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import responses
import time_machine

from inbox.channels import meta
from inbox.channels.base import AuthFailed, ChannelConfig, ConnectorError, RateLimited, ReplyTarget
from inbox.channels.registry import get_connector

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "meta"
G = meta.GRAPH_URL
PAGE = "104328765432101"
POST = f"{PAGE}_823456789012345"
IG_USER = "17841405822304914"


def fixture(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def fb_config(**settings):
    return ChannelConfig(
        id=1,
        kind="facebook",
        own_handles=("woonstadnl",),
        credentials={
            "access_token": "EAAB-page-token",
            "app_secret": "s3cret",
            "verify_token": "vt",
        },
        settings={"page_id": PAGE, **settings},
    )


def ig_config():
    return ChannelConfig(
        id=2,
        kind="instagram",
        own_handles=("@woonstad",),
        credentials={"access_token": "EAAB-page-token", "app_secret": "s3cret"},
        settings={"ig_user_id": IG_USER},
    )


def query(call):
    return {k: v[0] for k, v in parse_qs(urlparse(call.request.url).query).items()}


# --- signatures and handshake ------------------------------------------------------------


def test_signature_accepts_meta_format_and_rejects_forgeries():
    body = (FIXTURES / "webhook_page_feed.json").read_bytes()
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert meta.verify_signature("s3cret", body, good)
    assert meta.verify_signature("s3cret", body, good.upper().replace("SHA256", "sha256"))
    assert not meta.verify_signature("other", body, good)
    assert not meta.verify_signature("s3cret", body + b" ", good)
    assert not meta.verify_signature("s3cret", body, "sha1=" + good[7:])
    assert not meta.verify_signature("s3cret", body, "")
    assert not meta.verify_signature("", body, good)


def test_subscription_handshake():
    params = {"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "1158201444"}
    assert meta.verify_subscription(params, "vt") == "1158201444"
    assert meta.verify_subscription({**params, "hub.verify_token": "nope"}, "vt") is None
    assert meta.verify_subscription({**params, "hub.mode": "unsubscribe"}, "vt") is None
    assert meta.verify_subscription(params, "") is None
    assert (
        meta.verify_subscription({k: v for k, v in params.items() if k != "hub.challenge"}, "vt")
        is None
    )


# --- webhook payloads --------------------------------------------------------------------


def test_page_feed_webhook_yields_comments_only():
    messages = meta.parse_webhook(fb_config(), fixture("webhook_page_feed.json"))
    # A comment, our own reply, an edited comment; the reaction and the removal are skipped.
    assert [m.external_id for m in messages] == [
        "823456789012345_1187654321098765",
        "823456789012345_1187654321098999",
        "823456789012345_1187654321098111",
    ]
    first, own, edited = messages
    assert first.author_id == "7712345098765432"
    assert first.author_name == "Jan de Vries"
    assert first.text.endswith("😡🚿")
    assert first.created_at == datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
    assert first.parent_external_id == ""  # a comment on the post opens a thread
    assert first.conversation_external_id == first.external_id
    assert first.url.endswith("?comment_id=1187654321098765")
    assert first.raw["post_id"] == POST
    assert not first.is_own
    assert own.is_own
    assert own.parent_external_id == first.external_id
    assert own.conversation_external_id == first.external_id
    # Deleted or restricted author: no "from" at all. RTL and zero-width text kept as sent.
    assert edited.author_id == ""
    assert edited.author_name == ""
    assert edited.text.startswith("مرحبا")
    assert "\u200f" in edited.text


def test_instagram_webhook_yields_comments():
    messages = meta.parse_webhook(ig_config(), fixture("webhook_instagram_comments.json"))
    assert [m.external_id for m in messages] == ["17865799348089039", "17865799348089123"]
    comment, reply = messages
    assert comment.author_handle == "huurder_ilse"
    assert comment.author_profile_url == "https://www.instagram.com/huurder_ilse/"
    assert comment.raw["media_id"] == "18043201234567890"
    assert comment.created_at == datetime.fromtimestamp(1741944500, tz=UTC)
    assert "🙏🏽" in comment.text and "שלום" in comment.text
    assert reply.is_own
    assert reply.parent_external_id == comment.external_id
    assert reply.conversation_external_id == comment.external_id


def test_webhook_for_the_other_platform_is_ignored():
    assert meta.parse_webhook(ig_config(), fixture("webhook_page_feed.json")) == []
    assert meta.parse_webhook(fb_config(), fixture("webhook_instagram_comments.json")) == []


def test_malformed_change_is_skipped_not_fatal():
    payload = fixture("webhook_page_feed.json")
    del payload["entry"][0]["changes"][0]["value"]["comment_id"]
    payload["entry"][0]["changes"][1]["value"]["created_time"] = None
    payload["entry"].append("garbage")
    messages = meta.parse_webhook(fb_config(), payload)
    assert [m.external_id for m in messages] == ["823456789012345_1187654321098111"]


@pytest.mark.parametrize("payload", [[], {"object": "page"}, {"entry": "x"}, "text"])
def test_not_a_delivery_raises_value_error(payload):
    with pytest.raises(ValueError):
        meta.parse_webhook(fb_config(), payload)


def test_huge_comment_is_kept_whole():
    payload = fixture("webhook_page_feed.json")
    payload["entry"][0]["changes"][0]["value"]["message"] = "lek " * 20_000
    messages = meta.parse_webhook(fb_config(), payload)
    assert len(messages[0].text) == 80_000


# --- backfill poll -----------------------------------------------------------------------


@responses.activate
def test_facebook_fetch_backfills_comments_and_follows_pages():
    responses.get(f"{G}/{PAGE}/posts", json=fixture("page_posts.json"))
    page1 = fixture("post_comments_page1.json")
    responses.get(f"{G}/{POST}/comments", json=page1)
    responses.get(page1["paging"]["next"], json=fixture("post_comments_page2.json"))
    responses.get(f"{G}/{PAGE}_811111111111111/comments", json={"data": []})

    result = get_connector("facebook").fetch(fb_config(), {})

    ids = [m.external_id for m in result.messages]
    # The second page's comment without "from" is kept; the one without text too.
    assert ids == [
        "823456789012345_1187654321098999",
        "823456789012345_1187654321098765",
        "823456789012345_1187654321098500",
        "823456789012345_1187654321098400",
    ]
    own, top, anonymous, empty = result.messages
    assert own.is_own and own.parent_external_id == top.external_id
    assert top.url.endswith("comment_id=1187654321098765")
    assert anonymous.author_id == "" and empty.text == ""
    assert result.cursor == {"last_seen": {PAGE: "2025-03-14T09:31:02+00:00"}}
    comments_call = responses.calls[1]
    params = query(comments_call)
    assert params["filter"] == "stream"
    assert params["order"] == "reverse_chronological"
    assert params["access_token"] == "EAAB-page-token"
    expected_proof = hmac.new(b"s3cret", b"EAAB-page-token", hashlib.sha256).hexdigest()
    assert params["appsecret_proof"] == expected_proof


@responses.activate
def test_facebook_fetch_stops_at_the_cursor():
    responses.get(f"{G}/{PAGE}/posts", json=fixture("page_posts.json"))
    responses.get(f"{G}/{POST}/comments", json=fixture("post_comments_page1.json"))
    cursor = {"last_seen": {PAGE: "2025-03-14T09:30:00+00:00"}, "other": 1}

    result = get_connector("facebook").fetch(fb_config(), cursor)

    assert [m.external_id for m in result.messages] == ["823456789012345_1187654321098999"]
    # No second page and no call for the quiet old post.
    assert len(responses.calls) == 2
    assert result.cursor == {"last_seen": {PAGE: "2025-03-14T09:31:02+00:00"}, "other": 1}


@responses.activate
def test_facebook_fetch_without_news_keeps_cursor():
    responses.get(f"{G}/{PAGE}/posts", json={"data": []})
    cursor = {"last_seen": {PAGE: "2025-03-14T09:30:00+00:00"}}
    result = get_connector("facebook").fetch(fb_config(), cursor)
    assert result.messages == [] and result.cursor == cursor


@responses.activate
def test_fetch_bounds_the_number_of_comment_pages():
    responses.get(f"{G}/{PAGE}/posts", json={"data": [{"id": POST}]})
    page = fixture("post_comments_page1.json")
    responses.get(f"{G}/{POST}/comments", json=page)
    responses.get(page["paging"]["next"], json=page)  # a never-ending list
    get_connector("facebook").fetch(fb_config(backfill_pages=2), {})
    assert len(responses.calls) == 3


@responses.activate
def test_instagram_fetch_reads_comments_and_replies():
    responses.get(f"{G}/{IG_USER}/media", json=fixture("ig_media.json"))
    responses.get(f"{G}/18043201234567890/comments", json=fixture("ig_media_comments.json"))

    result = get_connector("instagram").fetch(ig_config(), {})

    assert [m.external_id for m in result.messages] == [
        "17865799348089039",
        "17865799348089123",
        "17865799348080000",
    ]
    top, reply, no_from = result.messages
    assert reply.is_own and reply.parent_external_id == top.external_id
    assert top.url == "https://www.instagram.com/p/DHBxYz1abcd/"
    assert no_from.author_handle == "buurman_kees"
    assert no_from.author_id == "username:buurman_kees"
    assert result.cursor == {"last_seen": {IG_USER: "2025-03-14T09:40:00+00:00"}}
    assert len(responses.calls) == 2  # the media without comments is not asked for

    responses.calls.reset()
    again = get_connector("instagram").fetch(ig_config(), result.cursor)
    assert [m.external_id for m in again.messages] == ["17865799348089123"]


def test_missing_setting_is_a_configuration_error():
    config = ChannelConfig(id=1, kind="facebook", credentials={"access_token": "t"})
    with pytest.raises(ConnectorError) as exc:
        meta.FacebookConnector().fetch(config, {})
    assert not exc.value.transient


def test_missing_token_is_an_auth_failure():
    config = ChannelConfig(id=1, kind="facebook", settings={"page_id": PAGE})
    with pytest.raises(AuthFailed):
        meta.FacebookConnector().fetch(config, {})


# --- errors ------------------------------------------------------------------------------


@responses.activate
@time_machine.travel(datetime(2025, 3, 14, 10, 0, tzinfo=UTC), tick=False)
def test_page_rate_limit_uses_business_use_case_reset():
    usage = {
        PAGE: [
            {
                "type": "pages",
                "call_count": 100,
                "total_cputime": 12,
                "total_time": 15,
                "estimated_time_to_regain_access": 17,
            }
        ]
    }
    responses.get(
        f"{G}/{PAGE}/posts",
        json=fixture("error_rate_limit.json"),
        status=400,
        headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
    )
    with pytest.raises(RateLimited) as exc:
        get_connector("facebook").fetch(fb_config(), {})
    assert exc.value.reset_at == datetime(2025, 3, 14, 10, 17, tzinfo=UTC)
    assert exc.value.transient


@responses.activate
@time_machine.travel(datetime(2025, 3, 14, 10, 0, tzinfo=UTC), tick=False)
def test_app_rate_limit_without_hint_waits_the_default():
    responses.get(
        f"{G}/{PAGE}/posts",
        json=fixture("error_app_rate_limit.json"),
        status=403,
        headers={"X-App-Usage": '{"call_count":100,"total_cputime":8,"total_time":9}'},
    )
    with pytest.raises(RateLimited) as exc:
        get_connector("facebook").fetch(fb_config(), {})
    assert exc.value.reset_at == datetime(2025, 3, 14, 10, 15, tzinfo=UTC)


@responses.activate
@time_machine.travel(datetime(2025, 3, 14, 10, 0, tzinfo=UTC), tick=False)
def test_http_429_with_retry_after():
    responses.get(
        f"{G}/{PAGE}/posts", body="Too Many Requests", status=429, headers={"Retry-After": "120"}
    )
    with pytest.raises(RateLimited) as exc:
        get_connector("facebook").fetch(fb_config(), {})
    assert exc.value.reset_at == datetime(2025, 3, 14, 10, 2, tzinfo=UTC)


def test_rate_limit_reset_ignores_garbage_headers():
    now = datetime(2025, 1, 1, tzinfo=UTC)
    headers = {"X-Business-Use-Case-Usage": "{not json", "X-App-Usage": '{"call_count": "x"}'}
    assert meta.rate_limit_reset(headers, now) == now + meta.DEFAULT_RATE_LIMIT_WAIT


@responses.activate
def test_expired_token_is_auth_failure():
    responses.get(f"{G}/{PAGE}/posts", json=fixture("error_token_expired.json"), status=400)
    with pytest.raises(AuthFailed) as exc:
        get_connector("facebook").fetch(fb_config(), {})
    assert not exc.value.transient
    assert "190" in str(exc.value)
    assert "EAAB-page-token" not in str(exc.value)


@responses.activate
def test_plain_401_is_auth_failure():
    responses.get(f"{G}/{PAGE}/posts", body="Unauthorized", status=401)
    with pytest.raises(AuthFailed):
        get_connector("facebook").fetch(fb_config(), {})


@responses.activate
@pytest.mark.parametrize(
    ("status", "kwargs"),
    [
        (500, {"body": "<html>Internal Server Error</html>"}),
        (503, {"json": fixture("error_unknown.json")}),
        (500, {"json": fixture("error_unknown.json")}),
    ],
)
def test_server_errors_are_transient(status, kwargs):
    responses.get(f"{G}/{PAGE}/posts", status=status, **kwargs)
    with pytest.raises(ConnectorError) as exc:
        get_connector("facebook").fetch(fb_config(), {})
    assert exc.value.transient
    assert not isinstance(exc.value, AuthFailed | RateLimited)


@responses.activate
def test_malformed_json_on_200_is_transient():
    responses.get(
        f"{G}/{PAGE}/posts", body='{"data": [', status=200, content_type="application/json"
    )
    with pytest.raises(ConnectorError) as exc:
        get_connector("facebook").fetch(fb_config(), {})
    assert exc.value.transient


@responses.activate
def test_network_error_is_transient_and_hides_the_token():
    import requests

    responses.get(
        f"{G}/{PAGE}/posts", body=requests.ConnectionError("boom ?access_token=EAAB-page-token")
    )
    with pytest.raises(ConnectorError) as exc:
        get_connector("facebook").fetch(fb_config(), {})
    assert exc.value.transient
    assert "EAAB" not in str(exc.value)


@responses.activate
def test_paging_url_off_graph_is_refused():
    responses.get(f"{G}/{PAGE}/posts", json={"data": [{"id": POST}]})
    responses.get(
        f"{G}/{POST}/comments",
        json={"data": [], "paging": {"next": "https://evil.example/steal"}},
    )
    with pytest.raises(ConnectorError):
        get_connector("facebook").fetch(fb_config(), {})


# --- replies, hiding ---------------------------------------------------------------------

TARGET = ReplyTarget(
    conversation_id=9,
    in_reply_to_external_id="823456789012345_1187654321098765",
    thread_external_id="823456789012345_1187654321098765",
)


@responses.activate
def test_facebook_public_reply():
    responses.post(
        f"{G}/{TARGET.in_reply_to_external_id}/comments",
        json={"id": "823456789012345_1187654321099000"},
    )
    text = "Hoi Jan, de monteur komt morgen tussen 8 en 12 uur. 🔧"
    new_id = get_connector("facebook").send_reply(fb_config(), TARGET, text)
    assert new_id == "823456789012345_1187654321099000"
    assert parse_qs(responses.calls[0].request.body)["message"] == [text]


@responses.activate
def test_facebook_private_reply():
    responses.post(
        f"{G}/{PAGE}/messages", json={"recipient_id": "24680135792468", "message_id": "m_AbCdEf"}
    )
    target = ReplyTarget(
        conversation_id=9, in_reply_to_external_id=TARGET.in_reply_to_external_id, private=True
    )
    assert (
        get_connector("facebook").send_reply(fb_config(), target, "Stuur je adres?") == "m_AbCdEf"
    )
    body = json.loads(responses.calls[0].request.body)
    assert body["recipient"] == {"comment_id": TARGET.in_reply_to_external_id}
    assert body["message"] == {"text": "Stuur je adres?"}


@responses.activate
def test_second_private_reply_is_refused_permanently():
    responses.post(f"{G}/{PAGE}/messages", json=fixture("error_already_replied.json"), status=400)
    target = ReplyTarget(conversation_id=9, in_reply_to_external_id="c1", private=True)
    with pytest.raises(ConnectorError) as exc:
        get_connector("facebook").send_reply(fb_config(), target, "x")
    assert not exc.value.transient


@responses.activate
def test_reply_to_deleted_comment_fails_permanently():
    responses.post(
        f"{G}/{TARGET.in_reply_to_external_id}/comments",
        json=fixture("error_deleted_comment.json"),
        status=400,
    )
    with pytest.raises(ConnectorError) as exc:
        get_connector("facebook").send_reply(fb_config(), TARGET, "x")
    assert not exc.value.transient and exc.value.status_code == 400


@responses.activate
def test_find_existing_reply_matches_our_text_ignoring_whitespace():
    responses.get(
        f"{G}/{TARGET.in_reply_to_external_id}/comments", json=fixture("comment_replies.json")
    )
    connector = get_connector("facebook")
    text = "Hoi Jan, vervelend! We sturen je een DM\u200b om een afspraak te maken."
    assert (
        connector.find_existing_reply(fb_config(), TARGET, text)
        == "823456789012345_1187654321098999"
    )
    # The customer's "Bedankt!" is not ours, whatever the text.
    assert connector.find_existing_reply(fb_config(), TARGET, "Bedankt!") is None


@responses.activate
def test_facebook_hide_and_unhide():
    responses.post(f"{G}/c1", json={"success": True})
    connector = get_connector("facebook")
    connector.hide(fb_config(), "c1", True)
    connector.hide(fb_config(), "c1", False)
    assert parse_qs(responses.calls[0].request.body) == {"is_hidden": ["true"]}
    assert parse_qs(responses.calls[1].request.body) == {"is_hidden": ["false"]}


@responses.activate
def test_instagram_reply_goes_to_the_top_level_comment():
    responses.post(f"{G}/17865799348089039/replies", json={"id": "17870000000000001"})
    target = ReplyTarget(
        conversation_id=3,
        in_reply_to_external_id="17865799348089123",
        thread_external_id="17865799348089039",
    )
    assert (
        get_connector("instagram").send_reply(ig_config(), target, "Graag gedaan! 💚")
        == "17870000000000001"
    )


def test_instagram_private_reply_is_not_offered():
    connector = get_connector("instagram")
    assert not connector.can_reply_privately
    target = ReplyTarget(conversation_id=3, in_reply_to_external_id="1", private=True)
    with pytest.raises(ConnectorError):
        connector.send_reply(ig_config(), target, "x")


@responses.activate
def test_instagram_find_existing_reply_and_hide():
    responses.get(
        f"{G}/17865799348089039/replies",
        json={
            "data": [
                {
                    "id": "17870000000000001",
                    "text": "Graag gedaan! 💚",
                    "username": "woonstad",
                    "from": {"id": IG_USER, "username": "woonstad"},
                }
            ]
        },
    )
    responses.post(f"{G}/17865799348089039", json={"success": True})
    connector = get_connector("instagram")
    target = ReplyTarget(conversation_id=3, in_reply_to_external_id="17865799348089039")
    assert (
        connector.find_existing_reply(ig_config(), target, "Graag gedaan!  💚")
        == "17870000000000001"
    )
    assert connector.find_existing_reply(ig_config(), target, "Iets anders") is None
    connector.hide(ig_config(), "17865799348089039", True)
    assert parse_qs(responses.calls[-1].request.body) == {"hide": ["true"]}


def test_graph_times_are_parsed_to_utc():
    assert meta.parse_time("2025-03-14T10:26:53+0100") == datetime(
        2025, 3, 14, 9, 26, 53, tzinfo=UTC
    )
    assert meta.parse_time(1741944413) == datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
    assert meta.parse_time(1741944413000) == datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
    for bad in (None, "", "yesterday", "2025-03-14T10:26:53", True):
        with pytest.raises(ValueError):
            meta.parse_time(bad)
    assert timedelta(0) == meta.parse_time("2025-03-14T09:26:53Z") - datetime(
        2025, 3, 14, 9, 26, 53, tzinfo=UTC
    )
