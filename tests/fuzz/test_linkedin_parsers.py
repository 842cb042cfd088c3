"""The LinkedIn connector's parsers against mutated real payloads and random JSON.

The contract (DESIGN.md, "What bad input gets"): a malformed comment or post is skipped, a
malformed answer becomes a ConnectorError; nothing else may escape a poll or a send.
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

from inbox.channels import linkedin
from inbox.channels.base import ChannelConfig, ConnectorError, IncomingMessage, ReplyTarget
from inbox.channels.meta.graph import MALFORMED
from tests.fuzz.strategies import FUZZ, FUZZ_WHOLE, any_text, fixture_json, json_values, payloads

pytestmark = pytest.mark.slow

ORG = "urn:li:organization:2414183"
C1 = "urn:li:comment:(urn:li:activity:7401234567890123456,7401298765432109876)"
CONFIG = ChannelConfig(
    id=1,
    kind="linkedin",
    credentials={"access_token": "AQV"},
    settings={"organization_id": "2414183"},
)
COMMENT_SEEDS = [
    fixture_json("linkedin", name)
    for name in ("post_comments.json", "comment_replies_second_poll.json")
]


def _check(message: IncomingMessage) -> None:
    assert isinstance(message, IncomingMessage)
    assert isinstance(message.external_id, str) and message.external_id.startswith("urn:li:")
    assert isinstance(message.text, str)
    assert isinstance(message.created_at, datetime) and message.created_at.tzinfo is not None
    for name in ("author_id", "parent_external_id", "conversation_external_id", "url"):
        assert isinstance(getattr(message, name), str), name
    assert message.conversation_external_id
    assert isinstance(message.raw, dict)


class FakeSession:
    """Answers every call with the drawn body: the connector must survive whatever it reads."""

    def __init__(self, posts: Any, comments: Any, status: int = 200, headers=None):
        self.posts, self.comments, self.status = posts, comments, status
        self.headers = headers or {}

    def request(self, method, url, **kwargs):
        response = requests.Response()
        response.status_code = self.status
        response.headers.update(self.headers)
        body = self.posts if "/rest/posts?" in url else self.comments
        response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return response


@FUZZ
@given(page=st.one_of(*(payloads(seed) for seed in COMMENT_SEEDS)))
def test_comment_message(page):
    elements = page.get("elements") if isinstance(page, dict) else page
    for comment in elements if isinstance(elements, list) else [elements]:
        try:
            message = linkedin.comment_message(comment, organization=ORG)
        except MALFORMED:
            continue
        _check(message)


@FUZZ_WHOLE
@given(
    posts=payloads(fixture_json("linkedin", "posts_by_author.json")),
    comments=st.one_of(*(payloads(seed) for seed in COMMENT_SEEDS)),
    cursor=st.one_of(
        st.just({}),
        st.dictionaries(st.sampled_from(["posts", "x"]), json_values, max_size=2),
        st.builds(
            lambda state: {"posts": {"urn:li:share:7401234567890123456": state}},
            json_values,
        ),
    ),
    settings=st.dictionaries(
        st.sampled_from(["posts_days", "max_comment_pages", "api_version"]),
        st.one_of(any_text, st.integers(-5, 10**6)),
        max_size=2,
    ),
)
def test_fetch_survives_whatever_linkedin_answers(posts, comments, cursor, settings):
    config = ChannelConfig(
        id=1,
        kind="linkedin",
        credentials={"access_token": "AQV"},
        settings={"organization_id": "2414183", **settings},
    )
    connector = linkedin.LinkedInConnector(session=FakeSession(posts, comments))
    with time_machine.travel(datetime(2026, 12, 6, 12, tzinfo=UTC), tick=False):
        try:
            result = connector.fetch(config, cursor)
        except ConnectorError as exc:
            assert str(exc)
            return
    for message in result.messages:
        _check(message)
    assert len({m.external_id for m in result.messages}) == len(result.messages)
    json.dumps(result.cursor)  # the cursor is stored as JSON


@FUZZ_WHOLE
@given(
    body=st.one_of(
        st.none(),
        st.binary(max_size=200),
        payloads(fixture_json("linkedin", "create_comment.json")),
        payloads(fixture_json("linkedin", "error_throttle.json")),
    ),
    status=st.sampled_from([200, 201, 400, 401, 403, 404, 422, 429, 500, 503]),
    header=st.one_of(st.none(), any_text),
)
def test_send_and_find_survive_whatever_linkedin_answers(body, status, header):
    headers = {}
    if header is not None:
        headers = {"x-restli-id": header.encode("utf-8", "ignore").decode("latin-1")}
        headers["Retry-After"] = headers["x-restli-id"]
    raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    connector = linkedin.LinkedInConnector(session=FakeSession(raw, raw, status, headers))
    target = ReplyTarget(conversation_id=1, in_reply_to_external_id=C1, thread_external_id=C1)
    try:
        posted = connector.send_reply(CONFIG, target, "Dank u")
    except ConnectorError as exc:
        assert str(exc)
    else:
        assert isinstance(posted, str) and posted
    try:
        found = connector.find_existing_reply(CONFIG, target, "Dank u")
    except ConnectorError as exc:
        assert str(exc)
    else:
        assert found is None or isinstance(found, str)
