""" "Needs a reply": how likely a customer expects an answer to a message, 0-100, and why.

Pure and cheap (it runs in ingest's enrichment, on the hot path): no numpy, no scikit-learn at
run time. A model is two linear models over sparse features, kept as plain weights in JSON:

- "cues": language-independent signals, read from word lists in English and Dutch
  (inbox/lib/enrich/words/reply/): a question mark, a question word first, a request, a
  complaint (negative sentiment), thanks or praise, a retweet, a bare acknowledgement ("DM
  sent", "gelukt"), a bare link, a very short text. Trained on the same data, they carry what
  the data taught about asking versus thanking over to a language the data lacks, so a Dutch
  question scores high although the default model learned from English tweets.
- "lexical": the cues plus word unigrams and bigrams, for the languages the model was trained
  on (the default model: English). Any other language is scored by the cues alone.

The reasons are the cues that pushed the score the way it went, as short codes (REASONS) the
UI translates; "wording" when the learned words outweighed every cue.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from inbox.lib.enrich.sentiment import sentiment_label, sentiment_score
from inbox.lib.enrich.text import normalise
from inbox.lib.enrich.wordlists import entries

DEFAULT_MODEL = Path(__file__).with_name("needs_reply_model.json")

# Every reason code, in the order the UI lists them when they tie.
REASONS = (
    "question",
    "question_word",
    "request",
    "complaint",
    "thanks",
    "retweet",
    "acknowledgement",
    "link_only",
    "short",
    "wording",
)

_TOKEN_RE = re.compile(r"https?://\S+|www\.\S+|[@#]?\w+(?:['’]\w+)*|[?!]")
_QUESTION_WORDS = frozenset(entries("reply/question-words.txt"))
_NOT_WORDS = frozenset(("<url>", "<@>", "?", "!", "<n>"))


def _phrases(name: str) -> tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]:
    """(words and two-word phrases, found among a message's unigrams and bigrams; longer
    phrases, found in its " "-joined words; emoji and other symbols, found in its text)."""
    grams, longer, symbols = set(), [], []
    for entry in entries(name):
        if not any(ch.isalnum() for ch in entry):
            symbols.append(entry)
            continue
        words = [t for t in tokens(entry) if t not in _NOT_WORDS]
        if len(words) <= 2:
            grams.add(" ".join(words))
        else:
            longer.append(f" {' '.join(words)} ")
    return frozenset(grams), tuple(longer), tuple(symbols)


def _has(
    phrases: tuple[frozenset[str], tuple[str, ...], tuple[str, ...]],
    grams: set[str],
    joined: str,
    text: str,
) -> bool:
    words, longer, symbols = phrases
    if not words.isdisjoint(grams) or any(p in joined for p in longer):
        return True
    return not text.isascii() and any(s in text for s in symbols)


def tokens(text: str, *, normalised: str | None = None) -> list[str]:
    """Lower-cased tokens with links, mentions and numbers folded to one token each."""
    out = []
    for token in _TOKEN_RE.findall(normalise(text) if normalised is None else normalised):
        if token.startswith(("http", "www.")):
            out.append("<url>")
        elif token.startswith("@"):
            out.append("<@>")
        elif token.isdigit():
            out.append("<n>")
        else:
            out.append(token)
    return out


def features(text: str, *, lexical: bool, sentiment: str | None = None) -> dict[str, float]:
    """Sparse features of one message: cues ("cue:..."), and words ("w:...") when lexical."""
    cues, grams = _parts(text, lexical=lexical, sentiment=sentiment)
    out = {f"cue:{name}": 1.0 for name in cues}
    out.update((f"w:{g}", 1.0) for g in grams)
    return out


def _parts(text: str, *, lexical: bool, sentiment: str | None) -> tuple[list[str], set[str]]:
    """(the cues that hold, the word unigrams and bigrams when lexical)."""
    lowered = normalise(text)
    toks = tokens(text, normalised=lowered)
    words = [t for t in toks if t not in _NOT_WORDS]
    content = [t for t in toks if t != "<url>" and t != "<@>"]
    # Unigrams and bigrams of the words: the cues' phrases are looked up here, in one set
    # operation each (this runs in ingest, per message).
    word_grams = set(words)
    word_grams.update(map(" ".join, zip(words, words[1:], strict=False)))
    joined = f" {' '.join(words)} "
    if sentiment is None:
        sentiment = sentiment_label(sentiment_score(text))
    cues = {
        "question": "?" in toks,
        "question_word": bool(words) and words[0] in _QUESTION_WORDS,
        "request": _has(_REQUEST, word_grams, joined, text),
        "complaint": sentiment == "negative",
        "thanks": _has(_THANKS, word_grams, joined, text),
        "retweet": lowered.lstrip().startswith("rt @"),
        "acknowledgement": (
            0 < len(words) <= 4
            and "?" not in toks
            and (words[0] in _ACK or " ".join(words[:2]) in _ACK)
        ),
        "link_only": not content and "<url>" in toks,
        "short": len(words) <= 3,
    }
    grams: set[str] = set()
    if lexical:
        grams = set(content)
        grams.update(map(" ".join, zip(content, content[1:], strict=False)))
    return [name for name, on in cues.items() if on], grams


_REQUEST = _phrases("reply/request.txt")
_THANKS = _phrases("reply/thanks.txt")
_ACK = frozenset(" ".join(tokens(e)) for e in entries("reply/acknowledgement.txt"))


@dataclass(frozen=True, slots=True)
class Linear:
    intercept: float
    cues: dict[str, float]  # by cue name ("question")
    words: dict[str, float]  # by unigram or bigram ("my order")


@dataclass(frozen=True, slots=True)
class Model:
    cues: Linear
    lexical: Linear
    languages: frozenset[str]  # the languages "lexical" was trained on
    source: str  # where the model comes from, for the record


@dataclass(frozen=True, slots=True)
class NeedsReply:
    score: int  # 0-100
    reasons: tuple[str, ...]  # codes from REASONS, strongest first (at most 3)


def model_from_dict(data: dict) -> Model:
    def linear(part: dict) -> Linear:
        weights = part["weights"].items()
        return Linear(
            float(part["intercept"]),
            {k[4:]: float(v) for k, v in weights if k.startswith("cue:")},
            {k[2:]: float(v) for k, v in weights if k.startswith("w:")},
        )

    return Model(
        cues=linear(data["cues"]),
        lexical=linear(data["lexical"]),
        languages=frozenset(data["languages"]),
        source=str(data.get("source", "")),
    )


@cache
def load_model(path: str = "") -> Model:
    """The model at path (the shipped default when empty); read once per process."""
    with open(path or DEFAULT_MODEL, encoding="utf-8") as fh:
        return model_from_dict(json.load(fh))


def score(
    text: str, language: str = "", *, sentiment: str | None = None, model: Model | None = None
) -> NeedsReply:
    """How likely text needs a reply, with the reasons. language: ISO 639-1 or ""."""
    model = model or load_model()
    lexical = language in model.languages
    linear = model.lexical if lexical else model.cues
    cues, grams = _parts(text, lexical=lexical, sentiment=sentiment)
    by_cue = [(linear.cues.get(name, 0.0), name) for name in cues]
    words = sum(filter(None, map(linear.words.get, grams))) if grams else 0.0
    logit = linear.intercept + words + sum(w for w, _ in by_cue)
    probability = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit))))
    value = round(100 * probability)
    # Why: the cues that pushed the way the score went, strongest first.
    direction = 1.0 if value >= 50 else -1.0
    pushes = [(w * direction, name) for w, name in by_cue if w * direction > 0]
    pushes.sort(key=lambda p: (-p[0], REASONS.index(p[1])))
    if words * direction > 0 and (not pushes or words * direction > pushes[0][0]):
        pushes.insert(0, (words * direction, "wording"))
    return NeedsReply(value, tuple(name for _, name in pushes[:3]))
