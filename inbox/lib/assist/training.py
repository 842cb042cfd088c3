"""Training and evaluating the "needs a reply" model (inbox/lib/assist/needs_reply.py).

Offline only (the management command train_needs_reply and bench/assist.py): this module
imports scikit-learn, which the scoring at run time never needs.

The label of the real data (TWCS, twcs_head5000.csv): a customer tweet "needed a reply" when a
brand tweet in the file answers it (its id is in the customer tweet's response_tweet_id). Not
answered: no response at all, or only the customer's own follow-up tweets. A tweet whose
responses point outside the file (the head cut) and include no brand tweet in it cannot be
told and is left out. Whether a tweet opens its thread is not a feature: the dump holds only
conversations a brand took part in, so every opener "was answered", which says nothing about
an organisation's own traffic.

The held-out part is chosen per thread (the root tweet of a conversation), by a hash of the
root id with a fixed seed, so no conversation has tweets on both sides.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inbox.lib.assist.needs_reply import Model, features, model_from_dict, score

TWCS_FILE = "twcs_head5000.csv"
SEED = "needs-reply-1"
HELD_OUT_PERCENT = 20
THRESHOLD = 50  # a score from here up counts as "needs a reply" in the figures
# Weights smaller than this are dropped from the file: they change no score by a point and
# make up most of the vocabulary.
PRUNE = 0.02
# Cues a training set may hold no example of (TWCS has no retweets: its customer tweets are
# addressed to the brand). A retweet passes a message on and asks nothing of us: a rule, not
# learned, heavy enough to outweigh the words of what was passed on. Data that holds retweets
# learns its own weight instead.
PRIORS = {"cue:retweet": -3.0}


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    needs_reply: bool
    group: str  # the conversation; the split never divides one
    language: str = ""


def twcs_examples(path: Path) -> list[Example]:
    """The labelled customer tweets of the TWCS head (see the module docstring)."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_id = {r["tweet_id"]: r for r in rows}

    def root(tweet_id: str) -> str:
        seen = set()
        while (parent := by_id.get(tweet_id, {}).get("in_response_to_tweet_id")) and (
            parent in by_id and parent not in seen
        ):
            seen.add(tweet_id)
            tweet_id = parent
        return tweet_id

    def answered(row: dict[str, str], depth: int = 0) -> bool | None:
        """True, False, or None when the answer may lie outside the file."""
        unknown = False
        for x in filter(None, row["response_tweet_id"].split(",")):
            response = by_id.get(x)
            if response is None:
                unknown = True
            elif response["inbound"] == "False":
                return True
            elif response["author_id"] == row["author_id"] and depth < 50:
                # The customer carried on in a tweet of their own: answering that one
                # answered them.
                carried = answered(response, depth + 1)
                if carried:
                    return True
                unknown = unknown or carried is None
        return None if unknown else False

    examples = []
    for r in rows:
        if r["inbound"] != "True":
            continue
        label = answered(r)
        if label is not None:
            examples.append(Example(r["text"], label, root(r["tweet_id"]), "en"))
    return examples


def held_out(group: str, seed: str = SEED) -> bool:
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HELD_OUT_PERCENT


def split(examples: Sequence[Example], seed: str = SEED) -> tuple[list[Example], list[Example]]:
    """(training part, held-out part), by conversation."""
    train = [e for e in examples if not held_out(e.group, seed)]
    test = [e for e in examples if held_out(e.group, seed)]
    return train, test


def _fit(rows: list[dict[str, float]], labels: list[bool], c: float) -> dict[str, Any]:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = DictVectorizer(sort=True)
    matrix = vectorizer.fit_transform(rows)
    # lbfgs on a fixed matrix is deterministic: the same data gives the same file.
    fitted = LogisticRegression(C=c, max_iter=2000, solver="lbfgs", class_weight="balanced").fit(
        matrix, labels
    )
    weights = {
        name: round(float(w), 3)
        for name, w in zip(vectorizer.get_feature_names_out(), fitted.coef_[0], strict=True)
        if name.startswith("cue:") or abs(w) >= PRUNE
    }
    for name, prior in PRIORS.items():
        weights.setdefault(name, prior)
    return {"intercept": round(float(fitted.intercept_[0]), 3), "weights": weights}


def train(
    examples: Sequence[Example], *, languages: Iterable[str], source: str, c: float = 1.0
) -> dict[str, Any]:
    """A model (as the JSON data the scorer reads) from labelled examples."""
    languages = sorted(set(languages))
    labels = [e.needs_reply for e in examples]
    if len(set(labels)) < 2:
        raise ValueError("training needs examples of both kinds (answered and not answered)")
    cue_rows = [features(e.text, lexical=False) for e in examples]
    lexical_rows = [
        features(e.text, lexical=True) if e.language in languages else cue_rows[i]
        for i, e in enumerate(examples)
    ]
    return {
        "source": source,
        "languages": languages,
        "examples": len(examples),
        "answered": sum(labels),
        "cues": _fit(cue_rows, labels, c),
        "lexical": _fit(lexical_rows, labels, c),
    }


def dumps(data: dict[str, Any]) -> str:
    """The model file's text: sorted keys, so one training gives one byte sequence."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, indent=0) + "\n"


@dataclass(frozen=True, slots=True)
class Figures:
    n: int
    positives: int
    precision: float
    recall: float
    f1: float
    no_reply_precision: float  # of the messages scored below THRESHOLD, how many were not answered
    no_reply_recall: float  # of the messages not answered, how many scored below THRESHOLD
    set_aside: int  # how many scored below THRESHOLD (the "no reply likely" view)


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def evaluate(
    model: Model | dict[str, Any],
    examples: Sequence[Example],
    *,
    language: str | None = None,
    threshold: int = THRESHOLD,
) -> Figures:
    """Precision and recall of "needs a reply" on examples; language overrides each example's
    (e.g. "" to score English text by the language-independent cues alone)."""
    if isinstance(model, dict):
        model = model_from_dict(model)
    tp = fp = fn = tn = 0
    for e in examples:
        lang = e.language if language is None else language
        predicted = score(e.text, lang, model=model).score >= threshold
        tp += predicted and e.needs_reply
        fp += predicted and not e.needs_reply
        fn += (not predicted) and e.needs_reply
        tn += (not predicted) and not e.needs_reply
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return Figures(
        n=len(examples),
        positives=tp + fn,
        precision=precision,
        recall=recall,
        f1=_ratio(2 * precision * recall, precision + recall) if precision + recall else 0.0,
        no_reply_precision=_ratio(tn, tn + fn),
        no_reply_recall=_ratio(tn, tn + fp),
        set_aside=tn + fn,
    )
