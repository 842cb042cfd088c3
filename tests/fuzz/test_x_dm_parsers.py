"""The X direct-message parser and page reader against random and mutated real pages.

The contract (DESIGN.md, "What bad input gets"): well-formed private IncomingMessages threaded
"dm:<digits>", or the one documented ConnectorError for a page that is not an object; a bad
event is skipped, never a dead poll.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox.channels import x_dm
from inbox.channels.base import ConnectorError, IncomingMessage
from tests.fuzz.strategies import FUZZ, FUZZ_WHOLE, fixture_json, json_values, payloads

pytestmark = pytest.mark.slow

OUR_ID = "1420339457118097409"
SEEDS = [
    fixture_json("x", name)
    for name in ("dm_events_page1.json", "dm_events_page2.json", "dm_events.json")
]
pages = st.one_of(*(payloads(seed) for seed in SEEDS))


def _check(message: IncomingMessage) -> None:
    assert isinstance(message, IncomingMessage)
    assert message.external_id.isdigit()
    assert isinstance(message.text, str)
    assert isinstance(message.created_at, datetime) and message.created_at.tzinfo is not None
    assert message.is_public is False
    assert x_dm.participant_of(message.conversation_external_id)
    assert message.parent_external_id == ""
    for name in ("author_id", "author_handle", "author_name", "author_avatar_url", "url"):
        assert isinstance(getattr(message, name), str), name
    assert message.is_own == (message.author_id == OUR_ID)
    assert isinstance(message.raw, dict)


@FUZZ
@given(page=pages)
def test_dm_page_parsing(page):
    if not isinstance(page, dict):
        return  # read_events refuses a non-object page with a ConnectorError first
    parsed = x_dm.parse_pages([page], OUR_ID)
    assert parsed.group_skipped >= 0
    ids = [int(m.external_id) for m in parsed.messages]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for message in parsed.messages:
        _check(message)


@FUZZ_WHOLE
@given(
    first=pages,
    second=st.one_of(pages, json_values),
    state=st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "last_id": st.one_of(st.text(max_size=25), st.integers().map(str)),
                "next_token": st.one_of(st.none(), st.text(max_size=10), st.integers()),
                "newest_id": st.one_of(st.none(), st.text(max_size=25), st.integers()),
            },
        ),
        st.just({}),
    ),
    max_pages=st.integers(min_value=-1, max_value=3),
)
def test_the_reader_never_fails_but_with_its_documented_error(first, second, state, max_pages):
    answers = iter([first, second])

    def call(token):
        assert token is None or isinstance(token, str)
        return next(answers, {"data": []})

    now = datetime(2025, 5, 1, 11, 30, tzinfo=UTC)
    try:
        read = x_dm.read_events(
            call, state, max_pages=max_pages, first_window=timedelta(hours=24), now=now
        )
    except ConnectorError:
        return
    assert read.state["last_id"].isdigit()
    assert set(read.state) <= {"last_id", "next_token", "newest_id"}
    for message in x_dm.parse_pages(read.pages, OUR_ID, read.floor).messages:
        _check(message)
        assert int(message.external_id) > read.floor
