"""The word lists of enrichment, read from the text files in `words/` beside this module.

The lists are data, so the people who tend them (adding a swear word, a party, a Dutch
valence) edit a text file rather than Python. The format is one entry per line:

- a line whose first non-blank character is "#" is a comment, and a blank line is skipped
  (there are no comments at the end of a line: "#" may be part of an entry or a pattern);
- an entry is the line with its surrounding whitespace removed; file order is kept (the
  order of regex alternatives can matter);
- `valences` and `char_map` read two fields separated by whitespace.

Every file is read once, when the module that needs it is imported. The files live in the
source tree and are read relative to this module, so the app needs no build step for them.
"""

from __future__ import annotations

from pathlib import Path

WORDS_DIR = Path(__file__).with_name("words")


def entries(name: str) -> list[str]:
    """The entries of words/<name>, in file order."""
    with (WORDS_DIR / name).open(encoding="utf-8") as fh:
        stripped = (line.strip() for line in fh)
        return [line for line in stripped if line and not line.startswith("#")]


def valences(name: str) -> dict[str, float]:
    """A "word valence" file as a mapping."""
    result = {}
    for entry in entries(name):
        word, valence = entry.split()
        result[word] = float(valence)
    return result


def char_map(name: str) -> dict[str, str]:
    """A "character replacement" file as a mapping for str.maketrans."""
    result = {}
    for entry in entries(name):
        char, replacement = entry.split()
        result[char] = replacement
    return result
