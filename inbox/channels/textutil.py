"""Text helpers the social connectors share: lengths as each platform counts them, HTML to text.

Pure functions, no I/O. Platforms do not count "characters" the way len() does:
Bluesky limits graphemes (a flag or a family emoji is one), X weighs code points
(CJK and emoji count double, every URL counts as 23), Mastodon counts URLs as 23.
"""

from __future__ import annotations

import html
import unicodedata
from html.parser import HTMLParser

import regex

# One URL as X and Mastodon see it: scheme or www., then anything up to whitespace.
URL_RE = regex.compile(r"(?:https?://|www\.)[^\s<>\"]+", regex.IGNORECASE)
URL_LENGTH = 23

# twitter-text v3 configuration (config/v3.json): these code point ranges weigh 1,
# everything else 2; the limit of 280 is in weight units.
_X_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_EMOJI_RE = regex.compile(r"\p{Extended_Pictographic}|\p{Regional_Indicator}")


def graphemes(text: str) -> list[str]:
    """User-perceived characters (extended grapheme clusters)."""
    return regex.findall(r"\X", text)


def grapheme_length(text: str) -> int:
    """Bluesky's limit unit: 300 graphemes per post."""
    return len(graphemes(text))


def _x_weight(cluster: str) -> int:
    # twitter-text counts a whole emoji sequence (skin tone, ZWJ family, flag) as one heavy char.
    if _EMOJI_RE.search(cluster):
        return 2
    weight = 0
    for char in cluster:
        point = ord(char)
        weight += 1 if any(lo <= point <= hi for lo, hi in _X_LIGHT_RANGES) else 2
    return weight


def x_weighted_length(text: str) -> int:
    """The length X compares with 280: URLs count 23, CJK and emoji count 2, NFC first."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    position = 0
    for match in URL_RE.finditer(text):
        total += sum(_x_weight(c) for c in graphemes(text[position : match.start()]))
        total += URL_LENGTH
        position = match.end()
    total += sum(_x_weight(c) for c in graphemes(text[position:]))
    return total


def mastodon_length(text: str) -> int:
    """Mastodon's count: code points, every URL as 23, @user@domain mentions as @user."""
    text = URL_RE.sub("x" * URL_LENGTH, text)
    text = regex.sub(r"(@[\w.]+)@[\w.-]+\w", r"\1", text)
    return len(text)


class _TextExtractor(HTMLParser):
    """Collects text, turning <br> and paragraph ends into line breaks."""

    _BLOCK_END = frozenset({"p", "div", "blockquote", "li", "pre", "h1", "h2", "h3", "h4"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in ("script", "style"):
            self._skip_depth += 1
        elif tag == "br":
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in self._BLOCK_END:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Plain text of a post's HTML (Mastodon content): tags dropped, line breaks kept.

    Uses the stdlib HTML parser, which never executes or keeps markup; entities are
    decoded once, so "&lt;script&gt;" becomes the visible text "<script>", which the
    templates escape again on output.
    """
    parser = _TextExtractor()
    parser.feed(markup or "")
    parser.close()
    text = "".join(parser.parts)
    # Paragraph ends add a blank line; trim the one after the last paragraph.
    text = regex.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n")


def unescape_x_text(text: str) -> str:
    """X returns &amp;, &lt; and &gt; escaped inside tweet text; decode them once."""
    return html.unescape(text)
