"""RSS and Atom feeds: real feed XML replayed at the HTTP layer with responses."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import responses
import time_machine

from inbox.channels.base import AuthFailed, ChannelConfig, ConnectorError, RateLimited
from inbox.channels.registry import get_connector
from inbox.channels.rss import keyword_pattern, parse_feed, strip_html

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "rss"
URL = "https://www.stadsblad.example/wonen/rss.xml"


def config(**settings):
    return ChannelConfig(
        id=7,
        kind="rss",
        keywords=("Woonstad", "Wooncorporatie Woonstad"),
        settings={"feed_url": URL, **settings},
    )


def body(name):
    return (FIXTURES / name).read_bytes()


@responses.activate
def test_rss2_entries_mentioning_a_keyword():
    responses.get(
        URL,
        body=body("nieuws_rss2.xml"),
        content_type="application/rss+xml; charset=utf-8",
        headers={"ETag": '"a1b2c3"', "Last-Modified": "Fri, 14 Mar 2025 09:05:00 GMT"},
    )
    result = get_connector("rss").fetch(config(), {})

    # "Woonstadium" is not "Woonstad"; "WOONSTAD" in escaped HTML is.
    assert [m.external_id for m in result.messages] == [
        "stadsblad-artikel-88123",
        "https://www.stadsblad.example/wonen/2025/03/12/column",
    ]
    article, column = result.messages
    assert article.text.startswith("Huurders Kerkstraat al weken zonder warm water")
    assert (
        "Bewoners van de Kerkstraat klagen al drie weken over kapotte cv-ketels. Lees meer"
        in article.text
    )
    assert "<" not in article.text and "alert" not in article.text  # tags and scripts stripped
    assert article.author_name == "Sanne Bakker"
    assert (
        article.url
        == "https://www.stadsblad.example/wonen/2025/03/14/huurders-kerkstraat-zonder-warm-water"
    )
    assert article.created_at == datetime(2025, 3, 14, 8, 30, tzinfo=UTC)
    assert article.author_profile_url == "https://www.stadsblad.example/wonen"
    assert article.conversation_external_id == article.external_id
    assert article.is_public and not article.is_own
    # No author: the feed is the author. No guid: the link is the id. Entities decoded.
    assert column.author_name == "Stadsblad Rotterdam - Wonen"
    assert "Sinds WOONSTAD de flat renoveerde" in column.text and "🏠 & meer" in column.text
    assert result.cursor == {"etag": '"a1b2c3"', "last_modified": "Fri, 14 Mar 2025 09:05:00 GMT"}


@responses.activate
def test_all_entries_setting_keeps_everything():
    responses.get(URL, body=body("nieuws_rss2.xml"))
    result = get_connector("rss").fetch(config(all_entries=True), {})
    assert len(result.messages) == 3


@responses.activate
@time_machine.travel(datetime(2025, 3, 14, 12, 0, tzinfo=UTC), tick=False)
def test_atom_feed():
    responses.get(URL, body=body("blog_atom.xml"), content_type="application/atom+xml")
    result = get_connector("rss").fetch(config(), {})
    assert [m.external_id for m in result.messages] == [
        "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
        "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6b",  # "woonstad-overleg" in the content
    ]
    first, second = result.messages
    assert first.text.startswith("Overleg met Woonstad over de huurverhoging")
    assert "مرحبا بالجميع\u200f" in first.text  # RTL and the RLM mark survive
    assert first.author_name == "Fatima El Amrani"
    assert first.created_at == datetime(2025, 3, 14, 7, 45, tzinfo=UTC)
    assert second.created_at == datetime(2025, 2, 20, 19, 0, tzinfo=UTC)  # updated, no published
    assert result.cursor == {}  # the server sent no validators


@responses.activate
def test_conditional_get_and_304_keeps_cursor():
    responses.get(URL, status=304)
    cursor = {"etag": '"a1b2c3"', "last_modified": "Fri, 14 Mar 2025 09:05:00 GMT"}
    result = get_connector("rss").fetch(config(), cursor)
    assert result.messages == []
    assert result.cursor == cursor
    sent = responses.calls[0].request.headers
    assert sent["If-None-Match"] == '"a1b2c3"'
    assert sent["If-Modified-Since"] == "Fri, 14 Mar 2025 09:05:00 GMT"


@responses.activate
def test_first_fetch_sends_no_validators():
    responses.get(URL, body=body("nieuws_rss2.xml"))
    get_connector("rss").fetch(config(), {})
    sent = responses.calls[0].request.headers
    assert "If-None-Match" not in sent and "If-Modified-Since" not in sent


@responses.activate
def test_bozo_feed_uses_what_parsed():
    responses.get(URL, body=body("bozo_rss.xml"))
    result = get_connector("rss").fetch(config(), {})
    assert [m.url for m in result.messages] == ["https://wijkkrant-noord.example/lekkage"]
    assert result.messages[0].author_name == "Wijkkrant Noord"


@responses.activate
@pytest.mark.parametrize("name", ["not_a_feed.html"])
def test_unparseable_feed_fails_the_poll(name):
    responses.get(URL, body=body(name), content_type="text/html")
    with pytest.raises(ConnectorError, match="parsed|RSS or Atom") as exc:
        get_connector("rss").fetch(config(), {"etag": "x"})
    assert exc.value.transient


@responses.activate
def test_garbage_bytes_fail_the_poll():
    responses.get(URL, body=b"\x00\xff\xfe garbage")
    with pytest.raises(ConnectorError):
        get_connector("rss").fetch(config(), {})


@responses.activate
@pytest.mark.parametrize(
    ("status", "error", "transient"),
    [
        (401, AuthFailed, False),
        (403, AuthFailed, False),
        (404, ConnectorError, False),
        (500, ConnectorError, True),
        (503, ConnectorError, True),
    ],
)
def test_http_errors(status, error, transient):
    responses.get(URL, status=status, body="nope")
    with pytest.raises(error) as exc:
        get_connector("rss").fetch(config(), {})
    assert exc.value.transient is transient


@responses.activate
@time_machine.travel(datetime(2025, 3, 14, 12, 0, tzinfo=UTC), tick=False)
def test_429_reschedules_after_retry_after():
    responses.get(URL, status=429, headers={"Retry-After": "600"})
    with pytest.raises(RateLimited) as exc:
        get_connector("rss").fetch(config(), {})
    assert exc.value.reset_at == datetime(2025, 3, 14, 12, 10, tzinfo=UTC)


@responses.activate
def test_network_error_is_transient():
    responses.get(URL, body=requests.ConnectTimeout("timed out"))
    with pytest.raises(ConnectorError) as exc:
        get_connector("rss").fetch(config(), {})
    assert exc.value.transient


@responses.activate
def test_oversized_feed_is_refused(monkeypatch):
    monkeypatch.setattr("inbox.channels.rss.MAX_FEED_BYTES", 1000)
    responses.get(URL, body=body("nieuws_rss2.xml"))
    with pytest.raises(ConnectorError, match="larger"):
        get_connector("rss").fetch(config(), {})


def test_bad_feed_url_setting():
    with pytest.raises(ConnectorError) as exc:
        get_connector("rss").fetch(config(feed_url="file:///etc/passwd"), {})
    assert not exc.value.transient


def test_huge_entry_and_entry_without_id_or_link():
    huge = "Woonstad " + "bla " * 50_000
    xml = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
    <item><title>Zonder id</title><description>{huge}</description></item></channel></rss>""".encode()
    (message,) = parse_feed(config(), xml)
    assert message.external_id.startswith("sha256:")
    assert len(message.text) > 200_000
    assert message.url == ""
    # The same entry gets the same id on the next poll: no duplicates downstream.
    assert parse_feed(config(), xml)[0].external_id == message.external_id


def test_keyword_matching_is_word_ish_and_case_insensitive():
    pattern = keyword_pattern(["Woonstad", "@woonstadnl", "  "])
    assert pattern.search("Klacht over woonstad.")
    assert pattern.search("WOONSTAD's reactie")
    assert pattern.search("cc @WoonstadNL")
    assert not pattern.search("Woonstadium")
    assert not pattern.search("Rotterdamwoonstad")
    assert keyword_pattern([]) is None


def test_no_keywords_and_not_all_entries_keeps_nothing():
    cfg = ChannelConfig(id=7, kind="rss", settings={"feed_url": URL})
    assert parse_feed(cfg, body("nieuws_rss2.xml")) == []


def test_strip_html():
    assert strip_html("<p>a &amp; <b>b</b></p><script>evil()</script><style>p{}</style>") == "a & b"
    assert strip_html("") == ""
    assert strip_html("zero\u200bwidth") == "zero\u200bwidth"
