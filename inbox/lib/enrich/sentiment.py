"""Sentiment of a message: a lexicon scorer in the style of VADER.

The compound score is a valence sum with negation, boosters and "but" shifts, squashed to
[-1, 1]. English valences come from the vaderSentiment package's lexicon; Dutch valences from
a small hand-kept lexicon (words/sentiment/lexicon-nl.txt), plus customer-care words (delays,
cancelled, on hold...) that a general lexicon does not weigh (words/sentiment/care-en.txt).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

from inbox.lib.enrich.text import normalise, tokenise
from inbox.lib.enrich.wordlists import entries, valences

_NEGATORS = frozenset(entries("sentiment/negators.txt"))
_BOOST = 0.293
_BOOSTERS = {
    **dict.fromkeys(entries("sentiment/boosters-up.txt"), _BOOST),
    **dict.fromkeys(entries("sentiment/boosters-down.txt"), -_BOOST),
}
_CONTRASTS = frozenset(entries("sentiment/contrast.txt"))

# Thresholds on the compound score, chosen on the training split of the airline data
# (bench/enrich.py --tune). Customers rarely bother to write when things are merely fine, so
# "neutral" is a narrow band below zero.
_POSITIVE_AT = 0.4
_NEGATIVE_AT = -0.05


@functools.cache
def _lexicon() -> dict[str, float]:
    """Word -> valence: VADER's English lexicon, our care words, the Dutch list, emoji."""
    import vaderSentiment

    lexicon: dict[str, float] = {}
    path = Path(vaderSentiment.__file__).with_name("vader_lexicon.txt")
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            word, valence, *_ = line.rstrip("\n").split("\t")
            lexicon.setdefault(word.lower(), float(valence))
    lexicon.update(valences("sentiment/care-en.txt"))
    lexicon.update(valences("sentiment/lexicon-nl.txt"))
    lexicon.update(valences("sentiment/emoji.txt"))
    for word in entries("sentiment/vader-dropped.txt"):
        lexicon.pop(word, None)
    return lexicon


def sentiment_score(text: str) -> float:
    """Compound valence in [-1, 1] of a text."""
    normalised = normalise(text)
    return score_tokens(tokenise(normalised), normalised.count("!"))


def score_tokens(tokens: list[str], exclamations: int = 0) -> float:
    """VADER-style compound score: valences with negation and boosters in a 3-word window,
    "but" shifting weight to what follows, "!" amplifying, squashed to [-1, 1]."""
    lexicon = _lexicon()
    # Most tokens score nothing: find the few that do in one pass at C speed.
    hits = [(i, v) for i, v in enumerate(map(lexicon.get, tokens)) if v is not None]
    if not hits:
        return 0.0
    but_at = -1
    if not _CONTRASTS.isdisjoint(tokens):
        but_at = max(i for i, token in enumerate(tokens) if token in _CONTRASTS)
    total = 0.0
    for i, valence in hits:
        if i:
            boost = _BOOSTERS.get(tokens[i - 1])
            if boost is not None:
                valence += boost if valence > 0 else -boost
            if not _NEGATORS.isdisjoint(tokens[max(i - 3, 0) : i]):
                valence *= -0.74
        if but_at >= 0:
            valence *= 0.5 if i < but_at else 1.5
        total += valence
    if total and exclamations:
        total += math.copysign(0.292 * min(exclamations, 4), total)
    return total / math.sqrt(total * total + 15.0)


def sentiment_label(score: float) -> str:
    """The label of a score: an inbox.models.Sentiment value."""
    if score >= _POSITIVE_AT:
        return "positive"
    if score <= _NEGATIVE_AT:
        return "negative"
    return "neutral"
