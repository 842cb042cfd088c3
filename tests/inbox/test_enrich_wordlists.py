"""The word lists of inbox.lib.enrich as data files: the format, and that every file is read,
repeats nothing and (for patterns) compiles line by line."""

import re
from collections import Counter
from pathlib import Path

import pytest

import inbox.lib.enrich
from inbox.lib.enrich import language, wordlists
from inbox.lib.enrich.wordlists import WORDS_DIR, char_map, entries, valences

PACKAGE = Path(inbox.lib.enrich.__file__).parent
WORD_FILES = sorted(p.relative_to(WORDS_DIR).as_posix() for p in WORDS_DIR.rglob("*.txt"))
# Files whose lines are regular expressions (the others are words, phrases or pairs).
PATTERN_FILES = [
    "flags/threat-en.txt",
    "flags/threat-idioms.txt",
    "flags/threat-intimidation-nl.txt",
    "flags/threat-permission.txt",
    "flags/threat-reported.txt",
    "flags/threat-violence-nl.txt",
]
PAIR_FILES = ["impersonation/cyrillic-greek.txt", "impersonation/lookalikes.txt"]
VALENCE_FILES = ["sentiment/care-en.txt", "sentiment/emoji.txt", "sentiment/lexicon-nl.txt"]


def test_the_words_are_beside_the_code():
    assert WORDS_DIR == PACKAGE / "words"
    assert len(WORD_FILES) > 30


def test_comments_blank_lines_and_indentation_are_not_entries(tmp_path, monkeypatch):
    (tmp_path / "list.txt").write_text(
        "# a comment\n\n  kut%  \n   # an indented comment\nrot op\n\\b#not-a-comment\n",
        encoding="utf-8",
    )
    (tmp_path / "valences.txt").write_text("# word valence\ngoed 1.9\n😡 -3.0\n", encoding="utf-8")
    monkeypatch.setattr(wordlists, "WORDS_DIR", tmp_path)
    assert entries("list.txt") == ["kut%", "rot op", "\\b#not-a-comment"]
    assert valences("valences.txt") == {"goed": 1.9, "😡": -3.0}


def test_every_word_file_is_read_by_the_code():
    """A list added but never loaded would be ignored without a word; a list named in the code
    but missing fails on first use. Either way the two sets differ."""
    # The enrichment reads its lists; the "needs a reply" model (inbox/lib/assist) the reply/ ones.
    readers = [*PACKAGE.glob("*.py"), *(PACKAGE.parent / "assist").glob("*.py")]
    sources = "".join(p.read_text(encoding="utf-8") for p in readers)
    named = set(re.findall(r'"(\w+/[\w-]+\.txt)"', sources))
    named |= {f"language/function-words-{lang}.txt" for lang in language._FUNCTION_WORD_LANGUAGES}
    assert set(WORD_FILES) == named


@pytest.mark.parametrize("name", WORD_FILES)
def test_no_list_repeats_an_entry(name):
    if name in VALENCE_FILES or name in PAIR_FILES:
        keys = [entry.split()[0] for entry in entries(name)]
    else:
        keys = entries(name)
    assert keys, name
    assert [key for key, n in Counter(keys).items() if n > 1] == []


def test_function_words_belong_to_one_language():
    seen = Counter(
        word
        for lang in language._FUNCTION_WORD_LANGUAGES
        for word in entries(f"language/function-words-{lang}.txt")
    )
    assert [word for word, n in seen.items() if n > 1] == []


@pytest.mark.parametrize("name", PATTERN_FILES)
def test_every_pattern_line_compiles_on_its_own(name):
    for number, pattern in enumerate(entries(name), 1):
        try:
            re.compile(pattern)
        except re.error as error:
            pytest.fail(f"{name}, entry {number}: {error}")


def test_pairs_and_valences_parse():
    for name in PAIR_FILES:
        assert all(len(k) == 1 and len(v) == 1 for k, v in char_map(name).items()), name
    for name in VALENCE_FILES:
        assert all(-4 <= v <= 4 for v in valences(name).values()), name
