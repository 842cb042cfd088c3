"""Every connector's parser against random and malformed input: 5,000 cases each.

The contract (DESIGN.md, "What bad input gets"): a parser returns well-formed
IncomingMessages, or raises its one documented error (ValueError,
WebhookRejected, ConnectorError) which the caller turns into a clear 4xx or a
logged skip. Anything else would be a 500 or a dead poll task.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox.channels import meta, rss, webhook, whatsapp
from inbox.channels.base import ChannelConfig, ConnectorError, IncomingMessage
from inbox.channels.bluesky import BlueskyConnector
from inbox.channels.mastodon import MastodonConnector
from inbox.channels.x import XConnector
from tests.fuzz.strategies import (
    FIXTURES,
    FUZZ,
    NASTY_STRINGS,
    any_text,
    fixture_json,
    nasty_text,
    payloads,
)

pytestmark = pytest.mark.slow


def _config(kind: str, **settings) -> ChannelConfig:
    return ChannelConfig(
        id=1,
        kind=kind,
        own_handles=("woonstad",),
        keywords=("woonstad", "cv-ketel"),
        credentials={"secret": "s3cret"},
        settings=settings,
    )


def _check(message: IncomingMessage) -> None:
    assert isinstance(message, IncomingMessage)
    assert isinstance(message.external_id, str) and message.external_id
    assert isinstance(message.text, str)
    assert isinstance(message.created_at, datetime) and message.created_at.tzinfo is not None
    for name in (
        "author_id",
        "author_handle",
        "author_name",
        "author_avatar_url",
        "author_profile_url",
        "parent_external_id",
        "conversation_external_id",
        "url",
    ):
        assert isinstance(getattr(message, name), str), name
    assert isinstance(message.raw, dict)


META_SEEDS = [
    fixture_json("meta", "webhook_page_feed.json"),
    fixture_json("meta", "webhook_instagram_comments.json"),
]


@FUZZ
@given(
    kind=st.sampled_from(["facebook", "instagram"]),
    payload=st.one_of(*(payloads(seed) for seed in META_SEEDS)),
)
def test_meta_parse_webhook(kind, payload):
    try:
        messages = meta.parse_webhook(_config(kind, page_id="1"), payload)
    except ValueError:
        return
    for message in messages:
        _check(message)


@FUZZ
@given(payload=payloads(fixture_json("webhook", "messages.json")))
def test_webhook_parse_payload(payload):
    try:
        messages = webhook.parse_payload(_config("webhook"), payload)
    except webhook.WebhookRejected as exc:
        assert exc.reason
        return
    for message in messages:
        _check(message)
        assert len(message.external_id) <= webhook.MAX_ID_LENGTH


@FUZZ
@given(
    secret=st.one_of(st.just("s3cret"), any_text),
    body=st.binary(max_size=200),
    timestamp=st.one_of(st.just("1700000000"), any_text),
    signature=st.one_of(st.just(""), any_text),
    when=st.integers(min_value=0, max_value=4_000_000_000),
)
def test_webhook_verify_request(secret, body, timestamp, signature, when):
    from datetime import UTC

    headers = {webhook.TIMESTAMP_HEADER: timestamp, webhook.SIGNATURE_HEADER: signature}
    try:
        webhook.verify_request(secret, body, headers, datetime.fromtimestamp(when, tz=UTC))
    except webhook.WebhookRejected as exc:
        assert exc.reason
    else:  # accepted: then it really was signed with this secret
        assert signature.lower() == webhook.sign(secret, timestamp.strip(), body)


RSS_SEEDS = [p.read_bytes() for p in sorted((FIXTURES / "rss").iterdir())]


@st.composite
def feed_bytes(draw):
    seed = draw(st.sampled_from(RSS_SEEDS))
    how = draw(st.integers(0, 5))
    if how == 0:
        return draw(st.binary(max_size=2000))
    if how == 1:  # cut anywhere
        return seed[: draw(st.integers(0, len(seed)))]
    if how == 2:  # a splice of garbage (invalid UTF-8 included)
        at = draw(st.integers(0, len(seed)))
        return seed[:at] + draw(st.binary(max_size=50)) + seed[at:]
    # Short hostile texts here; the 100 KB ones get their own test (feedparser parses
    # 20,000 tags in a second, and 5,000 such cases would take minutes).
    if how == 3:  # hostile text inside an entry
        text = draw(st.one_of(st.text(max_size=40), nasty_text))
        return seed.replace(b"<title>", b"<title>" + text.encode("utf-8", "surrogatepass"), 2)
    if how == 4:
        return draw(st.one_of(st.text(max_size=40), nasty_text)).encode("utf-8", "surrogatepass")
    return seed


@FUZZ
@given(body=feed_bytes(), all_entries=st.booleans())
def test_rss_parse_feed(body, all_entries):
    try:
        messages = rss.parse_feed(_config("rss", all_entries=all_entries), body)
    except ConnectorError:
        return
    for message in messages:
        _check(message)
        assert len(message.url) <= 1000


@pytest.mark.parametrize("unit", ["x", "👩‍👩‍👧‍👦", "\u200b", "ש", "<b>", "&amp;", "\u202e"])
@pytest.mark.parametrize("seed", RSS_SEEDS[:3], ids=["atom", "bozo", "rss2"])
def test_rss_with_100_kb_texts(unit, seed):
    big = (unit * (100_000 // len(unit))).encode()
    body = seed.replace(b"<title>", b"<title>" + big, 1)
    body = body.replace(b"<description>", b"<description>" + big, 1)
    try:
        messages = rss.parse_feed(_config("rss", all_entries=True), body)
    except ConnectorError:
        return
    for message in messages:
        _check(message)


X_SEEDS = [fixture_json("x", name) for name in ("mentions_page1.json", "search_page1.json")]


@FUZZ
@given(page=st.one_of(*(payloads(seed) for seed in X_SEEDS)))
def test_x_page_normalisation(page):
    connector = XConnector()
    if not isinstance(page, dict):
        return  # fetch (_read_source) refuses a non-object page with a ConnectorError first
    try:
        messages = list(connector._normalise_page(page, _config("x"), "999"))
    except ConnectorError:
        return
    for message in messages:
        _check(message)


MASTODON_SEEDS = [
    fixture_json("mastodon", "mentions_page.json"),
    fixture_json("mastodon", "search_statuses.json"),
]


@FUZZ
@given(page=st.one_of(*(payloads(seed) for seed in MASTODON_SEEDS)))
def test_mastodon_status_normalisation(page):
    connector = MastodonConnector()
    items = (
        page
        if isinstance(page, list)
        else (page.get("statuses") if isinstance(page, dict) else [page])
    )
    for item in items if isinstance(items, list) else [items]:
        status = item.get("status", item) if isinstance(item, dict) else item
        message = connector._safe_normalise(status, "999", {"woonstad"})
        if message is not None:
            _check(message)


BLUESKY_SEEDS = [
    fixture_json("bluesky", "search_posts.json"),
    fixture_json("bluesky", "notifications_page1.json"),
    fixture_json("bluesky", "author_feed.json"),
]


@FUZZ
@given(content=st.one_of(*(payloads(seed) for seed in BLUESKY_SEEDS)))
def test_bluesky_item_normalisation(content):
    connector = BlueskyConnector()
    for key in ("posts", "notifications", "feed"):
        try:
            items = connector._items(content, key)
        except ConnectorError:
            return
        for item in items:
            item = item.get("post", item) if key == "feed" else item
            message = connector._safe_normalise(item, "did:plc:own", {"woonstad.bsky.social"})
            if message is not None:
                _check(message)


@pytest.mark.parametrize("text", [t for t in NASTY_STRINGS if t.strip("\x00")])
def test_hostile_texts_survive_every_parser_unchanged_in_kind(text):
    """Texts are data: a parser may not choke on, or silently drop, RTL, emoji or zero-width text."""
    payload = fixture_json("webhook", "messages.json")
    payload["messages"][0]["text"] = text
    messages = webhook.parse_payload(_config("webhook"), payload)
    assert messages[0].text == text


WHATSAPP_SEEDS = [
    fixture_json("whatsapp", name)
    for name in (
        "webhook_text.json",
        "webhook_media.json",
        "webhook_location.json",
        "webhook_reply_context.json",
        "webhook_unsupported_media.json",
        "webhook_status_delivered_read.json",
        "webhook_status_failed.json",
    )
]


@FUZZ
@given(payload=st.one_of(*(payloads(seed) for seed in WHATSAPP_SEEDS)))
def test_whatsapp_parse_delivery(payload):
    try:
        delivery = whatsapp.parse_delivery(_config("whatsapp"), payload)
    except ValueError:
        return
    for message in delivery.messages:
        _check(message)
        assert message.is_public is False
        assert len(message.external_id) <= 255
    for status in delivery.statuses:
        assert status.status in ("sent", "delivered", "read", "failed")
        assert isinstance(status.external_id, str) and 0 < len(status.external_id) <= 255
        assert status.at.tzinfo is not None
        assert status.reply_id is None or isinstance(status.reply_id, int)


@FUZZ
@given(
    body=st.one_of(
        st.none(),
        st.binary(max_size=300),
        payloads(fixture_json("whatsapp", "error_window_closed.json")),
    ),
    status=st.sampled_from([200, 400, 401, 403, 429, 500, 503]),
)
def test_whatsapp_error_mapping(body, status):
    import json as _json

    import requests

    from inbox.channels.whatsapp.connector import raise_for_whatsapp_error

    response = requests.Response()
    response.status_code = status
    if isinstance(body, bytes | type(None)):
        response._content = body or b""
    else:
        response._content = _json.dumps(body).encode()
    try:
        result = raise_for_whatsapp_error(response)
    except ConnectorError as exc:
        assert str(exc)
    else:
        assert isinstance(result, dict)
