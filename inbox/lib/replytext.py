"""Pure text rules for replies: variables, length per platform, signature, thread split. No DB.

Counting per platform is inbox/channels/textutil.py (shared with the connectors).
The composer's JavaScript shows a quick count while typing; these functions are the
truth the server checks before a reply is approved, and what the preview shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from inbox.channels import textutil

# Characters per post. X counts "weighted" characters, Mastodon code points, Bluesky graphemes.
LIMITS: dict[str, int] = {
    "x": 280,
    "mastodon": 500,
    "bluesky": 300,
    "facebook": 8000,
    "instagram": 2200,
    "whatsapp": 4096,  # a text message's body
    "messenger": 2000,  # a Send API text message
    "instagram_direct": 1000,
    "linkedin": 1250,  # a comment's text (Community Management API, Comments API)
    "youtube": 10_000,  # comments.insert refuses longer text
}
_VARIABLE_RE = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")


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


def measure(kind: str, text: str) -> int:
    """The length of text as the platform of channel kind counts it."""
    if kind == "x":
        return textutil.x_weighted_length(text)
    if kind == "mastodon":
        return textutil.mastodon_length(text)
    if kind == "bluesky":
        return textutil.grapheme_length(text)
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
