"""The simulator playing each platform (setting "platform"): private one-to-one chats, comments
under our own posts, e-mail and X posts, each still a pure function of (seed, minute, index)."""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from inbox.channels.base import ChannelConfig, ConnectorError
from inbox.channels.simulator import SimulatorConnector, platforms, shapes, vocabulary
from inbox.lib import replytext

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
CHATS = ("whatsapp", "messenger", "instagram_direct", "x_dm")
COMMENTS = ("facebook", "instagram", "linkedin", "youtube")
# A chat's conversation key, as the real connectors key it.
THREAD_KEYS = {
    "whatsapp": r"wa:\d{15}:(31|44)\d{9,10}",
    "messenger": r"fbm:\d{15}:\d{16}",
    "instagram_direct": r"igd:\d{15}:\d{17}",
    "x_dm": r"dm:\d{18}",
}
MESSAGE_IDS = {
    "whatsapp": r"wamid\.[\w-]{44}",
    "messenger": r"m_[\w-]{40}",
    "instagram_direct": r"aWdf[\w-]{47}",
    "x_dm": r"\d{19}",
    "x": r"\d{19}",
    "email": r"<sim\.[\w-]{16}@mail\.webcare\.invalid>",
    "facebook": r"\d{16}_\d{16}",
    "instagram": r"\d{17}",
    "linkedin": r"urn:li:comment:\(urn:li:activity:\d{19},\d{19}\)",
    "youtube": r"Ugz[\w-]{20}4AaABAg(\.[\w-]{22})?",
}
COMMENT_URLS = {
    "facebook": "https://www.facebook.com/{page}/posts/",
    "instagram": "https://www.instagram.com/p/",
    "linkedin": "https://www.linkedin.com/feed/update/urn:li:activity:",
    "youtube": "https://www.youtube.com/watch?v=",
}


def channel(platform: str, **settings) -> ChannelConfig:
    base = {
        "seed": 42,
        "platform": platform,
        "rate_per_minute": 20,
        "burst_chance": 0.05,
        "max_per_fetch": 100_000,
        "backlog_minutes": 180,
    }
    base.update(settings)
    return ChannelConfig(id=3, kind="simulator", own_handles=("@woonstad",), settings=base)


def fetch_at(when, config, cursor=None):
    with time_machine.travel(when, tick=False):
        return SimulatorConnector().fetch(config, cursor or {})


_streams: dict[str, list] = {}


def stream(platform: str) -> list:
    """Three hours of the platform (computed once per platform for the module)."""
    if platform not in _streams:
        _streams[platform] = fetch_at(NOW, channel(platform)).messages
    return _streams[platform]


def test_the_platforms_are_the_ones_asked_for():
    assert set(platforms.PLATFORMS) == {
        "x",
        "facebook",
        "instagram",
        "whatsapp",
        "messenger",
        "instagram_direct",
        "x_dm",
        "linkedin",
        "youtube",
        "email",
    }


@pytest.mark.parametrize("platform", sorted(platforms.PLATFORMS))
def test_each_platform_is_deterministic_ordered_unique_and_platform_looking(platform):
    messages = stream(platform)
    assert len(messages) > 2_000
    assert fetch_at(NOW, channel(platform)).messages == messages  # the same seed and clock
    other = fetch_at(NOW, channel(platform, seed=43, backlog_minutes=10)).messages
    assert not {m.external_id for m in other} & {m.external_id for m in messages}
    ids = [m.external_id for m in messages]
    assert len(ids) == len(set(ids))
    assert [m.created_at for m in messages] == sorted(m.created_at for m in messages)
    assert messages[-1].created_at <= NOW
    for m in messages:
        assert re.fullmatch(MESSAGE_IDS[platform], m.external_id), m.external_id
        assert m.raw["platform"] == platform
        assert "{" not in m.text and "}" not in m.text and m.text.strip()
    languages = Counter(m.raw["lang"] for m in messages)
    assert languages["nl"] and languages["en"]


@pytest.mark.parametrize("platform", sorted(platforms.PLATFORMS))
def test_every_text_fits_the_platform_limit(platform):
    limit = platforms.limit_of(platform)
    if platform in replytext.LIMITS:
        assert limit == replytext.LIMITS[platform]  # the composer's limit is the one kept
    if limit is None:
        return
    assert all(replytext.measure(platform, m.text) <= limit for m in stream(platform))


def test_a_text_over_the_limit_is_cut_at_a_word_and_marked():
    long = "Nog steeds geen warm water " * 20
    cut = platforms.clamp("x", long)
    assert replytext.measure("x", cut) <= 280 < replytext.measure("x", long)
    assert cut.endswith("…") and long.startswith(cut[:-1]) and cut[-2] != " "
    assert platforms.clamp("linkedin", "a" * 2000) == "a" * 1249 + "…"
    assert platforms.clamp("whatsapp", "kort") == "kort"


@pytest.mark.parametrize("platform", CHATS)
def test_a_chat_is_private_one_conversation_per_customer_with_follow_ups(platform):
    messages = stream(platform)
    assert all(not m.is_public and not m.is_own and not m.url for m in messages)
    assert all(m.raw["burst"] is None for m in messages)  # no viral bursts in a private chat
    threads: dict[str, set[str]] = defaultdict(set)
    for m in messages:
        assert re.fullmatch(THREAD_KEYS[platform], m.conversation_external_id)
        assert m.conversation_external_id.endswith(":" + m.author_id)
        threads[m.conversation_external_id].add(m.author_id)
    assert all(len(authors) == 1 for authors in threads.values())  # one customer per chat
    by_thread = Counter(m.conversation_external_id for m in messages)
    assert sum(1 for n in by_thread.values() if n > 1) > 50  # customers write again
    kinds = Counter(m.raw["kind"] for m in messages)
    assert {"question", "complaint", "details", "follow_up", "praise"} <= set(kinds)
    # The personal details people move to a private chat for.
    details = re.compile(r"\d{4} [A-Z]{2}|HC-\d{4}-\d{5}|06-\d{8}|\+44 7|[A-Z2-9]{6}\b")
    assert sum(bool(details.search(m.text)) for m in messages) > 0.2 * len(messages)
    if platform == "whatsapp":
        assert all(m.author_handle == "+" + m.author_id for m in messages)
    # Short, chat-like texts.
    assert max(len(m.text) for m in messages) < 200


@pytest.mark.parametrize("platform", COMMENTS)
def test_comments_thread_under_our_posts(platform):
    messages = stream(platform)
    by_id = {m.external_id: m for m in messages}
    assert all(m.is_public and not m.is_own for m in messages)
    replies = 0
    for m in messages:
        assert m.url.startswith(COMMENT_URLS[platform].split("{")[0])
        assert m.external_id in m.url or m.external_id.replace(",", "%2C") in m.url.replace(
            "%3A", ":"
        ).replace("%28", "(").replace("%29", ")")
        if not m.parent_external_id:
            assert m.conversation_external_id == m.external_id  # a top-level comment opens one
            continue
        replies += 1
        parent = by_id.get(m.parent_external_id)
        if parent is None:  # only a parent from before the fetched window may be missing
            assert m.created_at < NOW - timedelta(minutes=180 - 46)
            continue
        assert not parent.parent_external_id  # replies hang under a top-level comment
        assert m.conversation_external_id == parent.external_id
        assert parent.raw["post"] == m.raw["post"] and parent.raw["lang"] == m.raw["lang"]
        assert parent.created_at < m.created_at
        if m.raw["kind"] == "follow_up":
            assert m.author_id == parent.author_id
        if platform == "youtube":
            assert m.external_id.startswith(parent.external_id + ".")
    assert replies > 0.15 * len(messages)
    posts = {m.raw["post"] for m in messages}
    assert 1 < len(posts) <= 3  # a new post every two hours: three hours touch two or three
    assert Counter(m.raw["kind"] for m in messages)["impersonation"] > 0


def test_email_threads_per_first_mail_and_is_private():
    messages = stream("email")
    by_id = {m.external_id: m for m in messages}
    assert all(not m.is_public for m in messages)
    assert all(re.fullmatch(r"[\w.]+\.\d{3}@example\.(nl|com)", m.author_id) for m in messages)
    answered = [m for m in messages if m.parent_external_id in by_id]
    assert len(answered) > 100
    for m in answered:
        parent = by_id[m.parent_external_id]
        assert m.conversation_external_id == parent.conversation_external_id
        assert m.author_id == parent.author_id


def test_x_posts_get_x_ids_urls_and_thread_as_today():
    messages = stream("x")
    by_id = {m.external_id: m for m in messages}
    assert all(m.is_public for m in messages)
    assert all(
        m.url == f"https://x.com/{m.author_handle.lstrip('@')}/status/{m.external_id}"
        for m in messages
    )
    threaded = [m for m in messages if m.parent_external_id in by_id]
    assert len(threaded) > 100
    for m in threaded:
        assert m.conversation_external_id == by_id[m.parent_external_id].conversation_external_id
    assert any(m.raw["burst"] is not None for m in messages)  # viral bursts stay on X
    assert any(m.is_own for m in messages)


@pytest.mark.parametrize("platform", ["whatsapp", "youtube", "email", "x"])
def test_polling_minute_by_minute_gives_the_one_big_fetch_and_a_replay_nothing(platform):
    config = channel(platform, rate_per_minute=30, backlog_minutes=30)
    start = NOW - timedelta(minutes=30)
    cursor = {"last_time": start.isoformat(), "last_id": ""}
    whole = fetch_at(NOW, config, cursor).messages
    polled, when = [], start
    while when < NOW:
        when += timedelta(seconds=37)
        result = fetch_at(min(when, NOW), config, cursor)
        polled.extend(result.messages)
        cursor = result.cursor
    assert polled == whole
    assert fetch_at(NOW, config, cursor).messages == []


def test_an_unknown_platform_is_a_clear_permanent_error():
    with pytest.raises(ConnectorError, match="Unknown platform 'myspace'") as error:
        fetch_at(NOW, channel("myspace"))
    assert not error.value.transient


def test_the_style_templates_cover_every_kind_and_fill_every_variable():
    kinds = {
        "chat": {k for k, _ in shapes.CHAT_KINDS + shapes.CHAT_FOLLOW_KINDS},
        "comment": {k for k, _ in shapes.COMMENT_KINDS + shapes.COMMENT_REPLY_KINDS},
    }
    for style, wanted in kinds.items():
        for lang in vocabulary.ORG:
            for kind in wanted:
                for template in vocabulary.STYLE_TEMPLATES[(style, lang, kind)]:
                    text = template.format_map(vocabulary.Vars(random.Random(1), lang, "@us"))
                    assert "{" not in text and "}" not in text, template
                    if style == "comment":
                        assert "{handle}" not in template  # said under our own post


def test_every_platform_is_byte_for_byte_the_same():
    """Pinned: a change here means the platform vocabulary or draws changed, and a demo replayed
    against stored data would create new messages instead of none."""
    everything = []
    for platform in sorted(platforms.PLATFORMS):
        everything += fetch_at(NOW, channel(platform, backlog_minutes=20)).messages
    digest = hashlib.sha256(repr(everything).encode()).hexdigest()
    assert digest == "0abadb88b3a1366cf361aa06eec96c7a85f2000806498233fb1714aef6e40300"
