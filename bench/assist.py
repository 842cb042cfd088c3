"""Assist figures on the held-out part of the real data; one function per figure group.

    python bench/assist.py

needs_reply(): the "needs a reply" model (inbox/lib/assist/) scored on the held-out part of
the TWCS conversations (a fixed fifth of the threads, split by conversation; see
inbox/lib/assist/training.py for the label), as shipped (trained on the rest). Also printed,
for judging it: the baseline that says "needs a reply" to everything, the language-independent
cues alone (what a Dutch message is scored by), ROC AUC, and the scoring cost per message.

The threshold (training.THRESHOLD, the inbox's NO_REPLY_LIKELY_BELOW) is fixed, not chosen on
the held-out part: the fit weighs both classes alike, so 50 is its even odds. Read the figures
with the data in mind: the dump holds only threads a brand took part in, so 97% of the openers
were answered and the unanswered tweets are mostly follow-ups ("thanks!" after an answer);
"needs a reply" is 77% of the held-out part, and at a fixed threshold F1 cannot beat saying yes
to everything. What the team uses is the "no reply likely" view: its precision (how many of the
items it sets aside were really left unanswered) is printed beside what setting aside at random
would give (the unanswered share), with how much it sets aside.

Not a timed test; needs REALWORLD_DATA_DIR (the default ../shared/data/realworld) and no
database. The last line is
    RESULT needs_reply_precision=<p> needs_reply_recall=<r> needs_reply_f1=<f1> ...
"""

from __future__ import annotations

import os
import sys
import time
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


# Each figure group is a function returning its RESULT fields; add new groups here.
GROUPS = (needs_reply,)


def main() -> None:
    setup()
    result: dict[str, str] = {}
    for group in GROUPS:
        result.update(group())
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
