"""The shipped "needs a reply" model on fixed Dutch and English messages, its reasons, and
training that gives the same file twice (no database)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from inbox.demo.examples_nl import EXAMPLES
from inbox.lib.assist.needs_reply import REASONS, load_model, score
from inbox.lib.assist.training import Example, dumps, split, train, twcs_examples
from tests.realworld import TWCS, needs_twcs

DUTCH_QUESTIONS = [
    "@woonstad al drie dagen geen warm water, de cv-ketel geeft storing E119. Wanneer komt er iemand?",
    "Hoe lang moet ik nog wachten op de schimmelbehandeling? Melding gedaan op 3 maart.",
    "Kunnen jullie mij helpen met mijn huurcontract? Graag een reactie",
    "@gemeente wie kan ik bellen over de kapotte lantaarnpaal in onze straat?",
]
DUTCH_NO_REPLY = [
    "Dank @woonstad voor de snelle reparatie van onze voordeur, super vriendelijk 👏",
    "RT @woonstad: Vanaf maandag is ons kantoor weer open op werkdagen",
    "@gemeente top, gelukt!",
    "@woonstad bedankt 👍",
]
ENGLISH_QUESTIONS = [
    "@AmazonHelp my order still hasn't arrived, can you help me please?",
    "@sprintcare why is my bill twice as high this month?",
    "@Delta how do I change my seat on a booked flight?",
]
ENGLISH_NO_REPLY = [
    "@AmazonHelp Thanks!",
    "@Uber_Support DM sent",
    "RT @Delta: Our new lounge in Atlanta is open",
    "@Tesco all sorted now, thanks",
]
# Not here: English praise ("thank you so much, love it"). In TWCS the brands answer praise
# too (a "love it" to Chipotle gets a reply), so the English model scores it around 65; Dutch
# praise is scored by the cues and is low.


@pytest.mark.parametrize("text", DUTCH_QUESTIONS)
def test_a_dutch_question_needs_a_reply(text):
    hint = score(text, "nl")
    assert hint.score >= 60, hint
    assert {"question", "question_word", "request"} & set(hint.reasons)


@pytest.mark.parametrize("text", DUTCH_NO_REPLY)
def test_dutch_thanks_and_retweets_are_no_reply_likely(text):
    hint = score(text, "nl")
    assert hint.score < 50, hint
    assert {"thanks", "retweet", "acknowledgement", "short"} & set(hint.reasons)


@pytest.mark.parametrize("text", ENGLISH_QUESTIONS)
def test_an_english_question_needs_a_reply(text):
    assert score(text, "en").score >= 60


@pytest.mark.parametrize("text", ENGLISH_NO_REPLY)
def test_english_thanks_and_retweets_are_no_reply_likely(text):
    assert score(text, "en").score < 50


def test_the_demo_questions_rank_above_the_demo_thanks():
    texts = {text: score(text, "nl").score for _h, _n, text, _m, _r in EXAMPLES}
    question = next(t for t in texts if t.startswith("Hoe lang moet ik nog wachten"))
    thanks = next(t for t in texts if t.startswith("Dank @woonstad"))
    assert texts[question] - texts[thanks] >= 25


def test_reasons_are_known_codes_strongest_first():
    hint = score("Wanneer komt er iemand? Graag spoed aub", "nl")
    assert hint.reasons and set(hint.reasons) <= set(REASONS)
    assert hint.reasons[0] == "question"  # the heaviest cue in the shipped model
    assert len(",".join(hint.reasons)) <= 64  # fits Conversation.needs_reply_reasons


def test_the_shipped_model_is_small_and_english_only():
    model = load_model()
    assert model.languages == {"en"}
    assert len(model.lexical.words) < 40_000
    # The cues carry over to Dutch: a question weighs up, thanks and a retweet weigh down.
    assert model.cues.cues["question"] > 0 > model.cues.cues["retweet"]
    assert model.cues.cues["acknowledgement"] < 0


EXAMPLES_TO_TRAIN = [
    Example(text, True, f"q{i}", "en") for i, text in enumerate(ENGLISH_QUESTIONS * 5)
] + [Example(text, False, f"n{i}", "en") for i, text in enumerate(ENGLISH_NO_REPLY * 5)]


def test_training_twice_gives_the_same_file():
    first = dumps(train(EXAMPLES_TO_TRAIN, languages=["en"], source="test"))
    second = dumps(train(list(EXAMPLES_TO_TRAIN), languages=["en"], source="test"))
    assert first == second
    assert json.loads(first)["cues"]["weights"]["cue:question"] > 0


def test_training_needs_both_kinds():
    with pytest.raises(ValueError, match="both kinds"):
        train(EXAMPLES_TO_TRAIN[:5], languages=["en"], source="test")


@needs_twcs
def test_the_held_out_part_is_whole_conversations_and_fixed():
    examples = twcs_examples(TWCS)
    training_part, held = split(examples)
    assert {e.group for e in training_part}.isdisjoint({e.group for e in held})
    assert 0.15 < len(held) / len(examples) < 0.25
    assert split(examples)[1] == held
    # Threads are split, not tweets: a thread with several customer tweets stays together.
    assert any(sum(e.group == g for e in held) > 2 for g in {e.group for e in held})


@needs_twcs
def test_the_command_rebuilds_the_shipped_model_byte_for_byte(tmp_path):
    from django.core.management import call_command

    from inbox.lib.assist.needs_reply import DEFAULT_MODEL

    out = tmp_path / "model.json"
    call_command("train_needs_reply", output=out)
    assert out.read_bytes() == DEFAULT_MODEL.read_bytes()
    assert DEFAULT_MODEL.stat().st_size < 2_000_000


@needs_twcs
def test_bench_assist_prints_its_result_line(tmp_path):
    # Every figure group, the lookup on a small table in SQLite (the 1,000,000 is for bench runs).
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["WEBCARE_VAR_DIR"] = str(tmp_path)
    run = subprocess.run(
        [sys.executable, "bench/assist.py", "--n", "3000", "--queries", "20"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT needs_reply_precision=")
    fields = dict(item.split("=") for item in last.split()[1:])
    assert float(fields["needs_reply_f1"]) >= 0.75
    for figure in ("suggest_hit_rate", "similar_lookup_p95_ms", "embed_rate_msgs_s"):
        assert float(fields[figure]) > 0, figure
