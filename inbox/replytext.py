"""Pure text rules for replies: variables, length per platform, signature, thread split. No DB.

The composer's JavaScript shows a quick count while typing; these functions are the
truth the server checks before a reply is approved, and what the preview shows.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import regex

# Characters per post. X counts "weighted" characters, Mastodon code points, Bluesky graphemes.
LIMITS: dict[str, int] = {
    "x": 280,
    "mastodon": 500,
    "bluesky": 300,
    "facebook": 8000,
    "instagram": 2200,
}
# X and Mastodon count every link as 23 characters whatever its length (t.co wrapping).
LINK_LENGTH = 23

_URL_RE = re.compile(
    r"(?:https?://|www\.)[^\s<>\"]+"
    r"|\b(?:[a-z0-9-]+\.)+(?:nl|com|org|net|eu|be|de|io|info|app)\b(?:/[^\s<>\"]*)?",
    re.IGNORECASE,
)
_VARIABLE_RE = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
_MASTODON_MENTION_DOMAIN_RE = re.compile(r"(@[\w.]+)@[\w.-]+\w")
_EMOJI_RE = regex.compile(r"\p{Extended_Pictographic}")

# twitter-text v3 configuration: these code point ranges weigh 1, everything else 2
# (CJK and most emoji count double); an emoji sequence counts as one emoji.
_X_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))


def render_variables(template: str, variables: dict[str, str]) -> str:
    """Fill {{name}} placeholders with plain values, once.

    Deliberately not the Django template engine: the canned text is written by
    users and the values come from customers, so nothing in either may run code
    or reach other context. Values are inserted literally (a customer named
    "{{agent_name}}" stays exactly that); unknown placeholders stay visible so
    the agent notices them in the preview.
    """
    return _VARIABLE_RE.sub(lambda m: variables.get(m.group(1), m.group(0)), template)


def unknown_variables(template: str, variables: dict[str, str]) -> list[str]:
    return sorted({name for name in _VARIABLE_RE.findall(template) if name not in variables})


def _x_weight(char: str) -> int:
    code = ord(char)
    return 1 if any(lo <= code <= hi for lo, hi in _X_LIGHT_RANGES) else 2


def x_length(text: str) -> int:
    """X's weighted length: links 23, light scripts 1, others (CJK, emoji) 2, emoji sequences 2."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    pos = 0
    for match in _URL_RE.finditer(text):
        total += _x_plain_length(text[pos : match.start()]) + LINK_LENGTH
        pos = match.end()
    return total + _x_plain_length(text[pos:])


def _x_plain_length(text: str) -> int:
    total = 0
    for grapheme in regex.findall(r"\X", text):
        if _EMOJI_RE.search(grapheme):
            total += 2
        else:
            total += sum(_x_weight(c) for c in grapheme)
    return total


def mastodon_length(text: str) -> int:
    """Mastodon: code points, each link 23, a remote mention counts only its @user part."""
    text = _MASTODON_MENTION_DOMAIN_RE.sub(r"\1", text)
    text = _URL_RE.sub("x" * LINK_LENGTH, text)
    return len(text)


def grapheme_length(text: str) -> int:
    return len(regex.findall(r"\X", text))


def measure(kind: str, text: str) -> int:
    """The length of text as the platform of channel kind counts it."""
    if kind == "x":
        return x_length(text)
    if kind == "mastodon":
        return mastodon_length(text)
    if kind == "bluesky":
        return grapheme_length(text)
    return len(text)


def limit_for(kind: str) -> int | None:
    return LIMITS.get(kind)


def signature_suffix(*, policy: str, name: str, initials: str) -> str:
    """What channel policy appends: "initials" -> " ^AB", "name" -> "\\n- Anna", "none" -> ""."""
    if policy == "initials" and initials:
        return f" ^{initials}"
    if policy == "name" and name:
        return f"\n- {name}"
    return ""


def split_thread(text: str, *, kind: str, limit: int, suffix: str = "") -> list[str]:
    """Split text into numbered posts (" (1/3)") that each fit; suffix goes on the last post.

    Splits at whitespace; a single word longer than a post is cut hard. The number
    of parts is guessed, then recomputed until the " (i/n)" markers fit.
    """
    words = text.split()
    count = 1
    for _ in range(5):  # converges in 1-2 rounds; the bound is a guard
        parts = _pack(words, kind=kind, limit=limit, count=count, suffix=suffix)
        if len(parts) == count:
            break
        count = len(parts)
    total = len(parts)
    return [
        f"{part} ({i}/{total})" + (suffix if i == total else "")
        for i, part in enumerate(parts, start=1)
    ]


def _pack(words: list[str], *, kind: str, limit: int, count: int, suffix: str) -> list[str]:
    marker = f" ({count}/{count})"
    room = limit - measure(kind, marker)
    parts: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if measure(kind, candidate) <= room:
            current = candidate
            continue
        if current:
            parts.append(current)
        while measure(kind, word) > room:  # one word longer than a post: cut it
            cut = room
            while cut > 1 and measure(kind, word[:cut]) > room:
                cut -= 1
            parts.append(word[:cut])
            word = word[cut:]
        current = word
    if current or not parts:
        parts.append(current)
    # The suffix (signature) must fit on the last post too.
    if suffix and measure(kind, parts[-1] + marker + suffix) > limit:
        last = parts.pop()
        head, _, tail = last.rpartition(" ")
        parts.extend([head, tail] if head else [tail])
    return parts


@dataclass(frozen=True, slots=True)
class Composed:
    """A reply as it will go out."""

    parts: list[str]
    length: int  # of the whole text with signature, as the platform counts
    limit: int | None
    over_limit: bool  # true when the text does not fit one post (and split was not asked)

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else self.limit - self.length


def compose(text: str, *, kind: str, suffix: str = "", split: bool = False) -> Composed:
    """The posts for text on a channel kind: one post, or a numbered thread when split is asked."""
    text = text.strip()
    limit = limit_for(kind)
    whole = text + suffix
    length = measure(kind, whole)
    if limit is None or length <= limit:
        return Composed(parts=[whole], length=length, limit=limit, over_limit=False)
    if split:
        return Composed(
            parts=split_thread(text, kind=kind, limit=limit, suffix=suffix),
            length=length,
            limit=limit,
            over_limit=False,
        )
    return Composed(parts=[whole], length=length, limit=limit, over_limit=True)
