"""Pure rules for crisis clusters: what text is compared, and how alike is alike enough.

No database here. A mention is cleaned (lower case, folded letters, no links, @mentions, emoji
or punctuation) so that "@woonstad SCHANDE!!! https://t.co/x" and "schande @woonstad" compare
as the same words. Near-identical texts are found with rapidfuzz (Indel ratio, in C): one new
text against a bounded pool of cluster texts, never all pairs of the window.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from inbox.lib.enrich.text import normalise

# Percent of the same characters (rapidfuzz ratio) from which two texts are near-identical.
# At 85 a changed name, a missing word or a typo stays in; a different sentence does not.
THRESHOLD = 85
# Shorter cleaned texts ("boo", "wow") say too little to call two mentions the same.
MIN_LENGTH = 12

_URL_RE = re.compile(r"(?:https?://|www\.)\S+")
_MENTION_RE = re.compile(r"[@#][\w.]+")
# Everything that is not a letter or a digit (emoji and punctuation included) becomes a space.
_NOT_WORD_RE = re.compile(r"[\W_]+")


def clean(text: str) -> str:
    """The text as clusters compare it: normalised, without links, mentions and emoji."""
    text = normalise(text or "")
    text = _URL_RE.sub(" ", text)
    text = _MENTION_RE.sub(" ", text)
    return _NOT_WORD_RE.sub(" ", text).strip()


def fingerprint(cleaned: str) -> str:
    """Digest of a cleaned text: the copies of a copy-paste wave meet in one index lookup."""
    return hashlib.sha1(cleaned.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class Match:
    index: int  # into the pool
    score: int  # percent alike


def best_match(cleaned: str, pool: Sequence[str]) -> Match | None:
    """The most alike text of the pool at or above THRESHOLD, or None."""
    if len(cleaned) < MIN_LENGTH or not pool:
        return None
    found = process.extractOne(cleaned, pool, scorer=fuzz.ratio, score_cutoff=THRESHOLD)
    if found is None:
        return None
    _text, score, index = found
    return Match(index=index, score=int(score))


def topic_of(normalised: str, keywords: Sequence[str]) -> str:
    """The first spike keyword the text contains ("" for none)."""
    for keyword in keywords:
        if keyword and keyword.lower() in normalised:
            return keyword
    return ""
