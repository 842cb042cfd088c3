"""Assist figures on the held-out part of the real data; one function per figure group.

    python bench/assist.py [--n 1000000] [--queries 200] [--only needs_reply,hit_rate,lookup,embed]

needs_reply(): the "needs a reply" model (inbox/lib/assist/) scored on the held-out part of
the TWCS conversations (a fixed fifth of the threads, split by conversation; see
inbox/lib/assist/training.py for the label), as shipped (trained on the rest). Also printed,
for judging it: the baseline that says "needs a reply" to everything, the language-independent
cues alone (what a Dutch message is scored by), ROC AUC, and the scoring cost per message.

The similar-conversation groups live in bench/assist_similar.py (their data and details are
described there): the suggested-answer hit rate on held-out TWCS with the brand's most frequent
replies as baseline, the similar lookup at --n vectors (index, permission filter and fetch, in
PostgreSQL when DATABASE_URL is set, else SQLite) beside a brute-force numpy scan, and the
worker's embedding rate.

Not a timed test; needs REALWORLD_DATA_DIR (the default ../shared/data/realworld). The last
line is
    RESULT needs_reply_precision=<p> needs_reply_recall=<r> needs_reply_f1=<f1> ...
      suggest_hit_rate=... similar_lookup_p95_ms=... embed_rate_msgs_s=... ...
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webcare.settings")
    import django

    django.setup()


def needs_reply() -> dict[str, str]:
    from django.conf import settings
    from sklearn.metrics import roc_auc_score

    from inbox.lib.assist.needs_reply import load_model, score
    from inbox.lib.assist.training import THRESHOLD, TWCS_FILE, evaluate, split, twcs_examples

    path = Path(settings.REALWORLD_DATA_DIR) / TWCS_FILE
    if not path.exists():
        sys.exit(f"{path} not found (set REALWORLD_DATA_DIR)")
    model = load_model(settings.NEEDS_REPLY_MODEL or "")
    training_part, held = split(twcs_examples(path))
    answered = sum(e.needs_reply for e in held)
    print(
        f"needs a reply: {len(held)} held-out customer tweets ({answered} answered, "
        f"{len(held) - answered} not) in {len({e.group for e in held})} conversations; "
        f"trained on {len(training_part)}; model: {model.source}; threshold {THRESHOLD}"
    )
    full = evaluate(model, held)
    cues = evaluate(model, held, language="")
    base_p = answered / len(held)
    base_f1 = 2 * base_p / (base_p + 1)
    labels = [e.needs_reply for e in held]
    auc_full = roc_auc_score(labels, [score(e.text, e.language, model=model).score for e in held])
    auc_cues = roc_auc_score(labels, [score(e.text, "", model=model).score for e in held])
    for name, f, auc in (("model (English)", full, auc_full), ("cues only", cues, auc_cues)):
        print(
            f"  {name:16} precision {f.precision:.3f} recall {f.recall:.3f} F1 {f.f1:.3f} "
            f"ROC AUC {auc:.3f}; 'no reply likely' precision {f.no_reply_precision:.3f} "
            f"recall {f.no_reply_recall:.3f}"
        )
    print(f"  {'always yes':16} precision {base_p:.3f} recall 1.000 F1 {base_f1:.3f} ROC AUC 0.500")
    aside = full.set_aside
    print(
        f"  'no reply likely' view (score < {THRESHOLD}): sets aside {aside} of {full.n} "
        f"({aside / full.n:.1%}); {full.no_reply_precision:.1%} of them were left unanswered, "
        f"against {1 - base_p:.1%} unanswered overall (what setting aside at random would give)"
    )
    texts = [e.text for e in held] * 20
    started = time.perf_counter()
    for text in texts:
        score(text, "en", sentiment="neutral", model=model)
    per_message = (time.perf_counter() - started) / len(texts) * 1e6
    print(f"  scoring: {per_message:.1f} us per message (English, sentiment given, one core)")
    return {
        "needs_reply_precision": f"{full.precision:.3f}",
        "needs_reply_recall": f"{full.recall:.3f}",
        "needs_reply_f1": f"{full.f1:.3f}",
        "needs_reply_auc": f"{auc_full:.3f}",
        "needs_reply_cues_f1": f"{cues.f1:.3f}",
        "needs_reply_baseline_f1": f"{base_f1:.3f}",
        "no_reply_view_precision": f"{full.no_reply_precision:.3f}",
        "no_reply_view_base_rate": f"{1 - base_p:.3f}",
        "no_reply_view_share": f"{aside / full.n:.3f}",
        "needs_reply_us_per_msg": f"{per_message:.1f}",
    }


def main() -> None:
    import argparse

    from bench import assist_similar

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="vectors for the lookup")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--only", default="", help="comma-separated groups (default: all)")
    args = parser.parse_args()
    # Each figure group is a function returning its RESULT fields; add new groups here.
    groups: dict[str, Callable[[], Mapping[str, object]]] = {
        "needs_reply": needs_reply,
        "hit_rate": assist_similar.suggest_hit_rate,
        "lookup": lambda: assist_similar.lookup(args.n, args.queries),
        "embed": assist_similar.embed_rate,
    }
    chosen = [name for name in args.only.split(",") if name] or list(groups)
    unknown = set(chosen) - set(groups)
    if unknown:
        parser.error(f"unknown groups: {', '.join(sorted(unknown))}")
    setup()
    result: dict[str, object] = {}
    for name in chosen:
        result.update(groups[name]())
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
