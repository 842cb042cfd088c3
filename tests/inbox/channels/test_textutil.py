"""Platform lengths and HTML to text: pure functions, checked against known platform counts."""

import pytest

from inbox.channels.textutil import (
    grapheme_length,
    html_to_text,
    mastodon_length,
    x_weighted_length,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hallo", 5),
        ("👨‍👩‍👧", 1),  # ZWJ family: one grapheme, five code points
        ("🇳🇱", 1),
        ("e\u0301", 1),  # e + combining acute
        ("مرحبا\u200f", 6),  # the RLM mark is a grapheme of its own
    ],
)
def test_grapheme_length(text, expected):
    assert grapheme_length(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hallo", 5),
        ("日本語", 6),  # CJK weighs 2
        ("👨‍👩‍👧", 2),  # an emoji sequence weighs 2 as a whole
        ("zie https://www.stadswonen.nl/storingen/lekkage?id=123456789", 4 + 23),
        ("a" * 280, 280),
    ],
)
def test_x_weighted_length(text, expected):
    assert x_weighted_length(text) == expected


def test_mastodon_length_counts_urls_and_remote_mentions_short():
    text = (
        "@jdevries@mastodon.social zie https://www.stadswonen.nl/een/heel/lange/link/naar/de/pagina"
    )
    assert mastodon_length(text) == len("@jdevries zie ") + 23


def test_html_to_text_keeps_line_breaks_and_shows_markup_as_text():
    html = (
        '<p><span class="h-card"><a href="https://mastodon.nl/@x" class="u-url mention">@<span>x</span></a>'
        "</span> regel 1<br>regel 2<br />regel 3</p><p>&lt;b&gt;vet&lt;/b&gt; &amp; meer</p>"
        "<script>alert(1)</script>"
    )
    assert html_to_text(html) == "@x regel 1\nregel 2\nregel 3\n\n<b>vet</b> & meer"


def test_html_to_text_of_nothing():
    assert html_to_text("") == ""
