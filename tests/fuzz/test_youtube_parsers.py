"""The YouTube connector's parsers against random and malformed input (5,000 cases each).

The contract: a comment or thread parser returns well-formed IncomingMessages or raises one of
MALFORMED (the poll logs and skips that item); the error mapping returns a dict or raises a
ConnectorError; a whole poll over a malformed page returns well-formed messages and a cursor,
or raises a ConnectorError. Anything else would be a dead poll task.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from inbox.channels.base import ChannelConfig, ConnectorError, IncomingMessage
from inbox.channels.meta.graph import MALFORMED
from inbox.channels.youtube import YouTubeConnector, comment_message, parse_time, thread_messages
from inbox.channels.youtube.api import raise_for_youtube_error
from inbox.channels.youtube.connector import comment_text
from tests.fuzz.strategies import FUZZ, FUZZ_WHOLE, any_text, fixture_json, payloads

pytestmark = pytest.mark.slow

OWN = "UCq7Wd3kLmN0pQrStUvWxYzA"
PAGE1 = fixture_json("youtube", "comment_threads_page1.json")
PAGE2 = fixture_json("youtube", "comment_threads_page2.json")
THREADS = [*PAGE1["items"], *PAGE2["items"]]
REPLIES = fixture_json("youtube", "comments_replies_page2.json")


def _check(message: IncomingMessage) -> None:
    assert isinstance(message, IncomingMessage)
    assert isinstance(message.external_id, str) and message.external_id
    assert isinstance(message.text, str)
    assert isinstance(message.created_at, datetime) and message.created_at.tzinfo is not None
    for name in ("author_id", "author_handle", "author_name", "author_avatar_url"):
        assert isinstance(getattr(message, name), str), name
    for name in ("author_profile_url", "parent_external_id", "conversation_external_id", "url"):
        assert isinstance(getattr(message, name), str), name
    assert message.conversation_external_id
    assert message.parent_external_id in ("", message.conversation_external_id)
    assert message.is_public and isinstance(message.raw, dict)


@FUZZ_WHOLE
@given(thread=st.one_of(*(payloads(t) for t in THREADS)))
def test_thread_messages(thread):
    try:
        messages = thread_messages(thread, OWN)
    except MALFORMED:
        return
    for message in messages:
        _check(message)
    assert len({m.external_id for m in messages}) == len(messages)


@FUZZ
@given(comment=st.one_of(*(payloads(c) for c in REPLIES["items"])))
def test_comment_message(comment):
    try:
        message = comment_message(comment, thread_id="Ugthread", video_id="vid", own_channel_id=OWN)
    except MALFORMED:
        return
    _check(message)


@FUZZ
@given(
    snippet=st.one_of(
        st.fixed_dictionaries({"textDisplay": any_text}),
        st.fixed_dictionaries({"textOriginal": any_text, "textDisplay": any_text}),
        payloads(REPLIES["items"][0]["snippet"]),
    )
)
def test_comment_text(snippet):
    try:
        text = comment_text(snippet)
    except MALFORMED:
        return
    assert isinstance(text, str)


@FUZZ
@given(value=st.one_of(any_text, st.none(), st.integers(), st.floats()))
def test_parse_time(value):
    try:
        parsed = parse_time(value)
    except MALFORMED:
        return
    assert parsed.tzinfo is not None


@FUZZ
@given(
    body=st.one_of(
        st.none(),
        st.binary(max_size=300),
        payloads(fixture_json("youtube", "error_quota_exceeded.json")),
        payloads(fixture_json("youtube", "error_auth_expired.json")),
    ),
    status=st.sampled_from([200, 204, 400, 401, 403, 404, 429, 500, 503]),
    retry_after=st.one_of(st.none(), any_text),
)
def test_error_mapping(body, status, retry_after):
    response = requests.Response()
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    if isinstance(body, bytes | type(None)):
        response._content = body or b""
    else:
        response._content = json.dumps(body).encode()
    try:
        result = raise_for_youtube_error(response)
    except ConnectorError as exc:
        assert str(exc)
    else:
        assert isinstance(result, dict)


class _Replay:
    """A requests session that answers every call with one fuzzed JSON page."""

    def __init__(self, page: Any):
        self.body = json.dumps(page).encode()

    def request(self, method, url, **kwargs):
        response = requests.Response()
        response.status_code = 200
        response._content = self.body
        return response


@FUZZ_WHOLE
@given(page=st.one_of(payloads(PAGE1), payloads(PAGE2)))
def test_a_poll_over_a_malformed_page(page):
    connector = YouTubeConnector(session=_Replay(page))
    channel = ChannelConfig(
        id=1,
        kind="youtube",
        credentials={"access_token": "t"},
        settings={"channel_id": OWN, "max_pages": 2},
    )
    with time_machine.travel(datetime(2026, 12, 7, 12, 0, tzinfo=UTC), tick=False):
        try:
            result = connector.fetch(channel, {})
        except ConnectorError:
            return
    for message in result.messages:
        _check(message)
    assert len({m.external_id for m in result.messages}) == len(result.messages)
    parse_time(result.cursor["published"]["since"])
