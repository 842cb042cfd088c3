"""Flags of a message text: threat, abuse, political, spam (impersonation needs the author,
see impersonation.py).

Each flag is a regular expression built from a list in words/flags/, and regular expressions
with hundreds of alternatives cost 20-100 us per tweet. So one Aho-Corasick automaton first
looks for the hint strings of all flags at once (about 1 us); a flag's expression only runs
when one of its hints occurred. Every expression's alternatives start with (or contain) one of
its hints; test_enrich checks this on its examples and bench/enrich.py on the data sets.

A threat is a violent act or intent that is not negated, quoted or reported as someone else's
words (counter speech), so a customer who quotes an abusive reply is not flagged as a threat.
"""

from __future__ import annotations

import functools
import re

from inbox.lib.enrich.wordlists import entries
from inbox.models import Flag


def _alternatives(patterns: list[str]) -> str:
    return "(?:" + "|".join(patterns) + ")"


def _wordlist(name: str) -> tuple[str, list[str]]:
    """A regex for a word list file and its hints. "%" ends a stem (any word ending), a space
    is any whitespace; the hint is the literal start of the entry."""
    alternatives, hints = [], []
    for entry in entries(name):
        alternatives.append(re.escape(entry).replace("%", r"\w*").replace(r"\ ", r"\s+"))
        hints.append(entry.split("%")[0])
    return r"\b(?:" + "|".join(alternatives) + r")\b", hints


# Violent acts. Dutch verbs in their common forms; English verbs need a target or an intent
# nearby (see words/flags/threat-en.txt).
_VIOLENCE_NL = _alternatives(entries("flags/threat-violence-nl.txt"))
_VIOLENCE_NL_HINTS = entries("flags/threat-violence-nl-hints.txt")
# Intimidation without a violent verb: "ik weet waar je woont", "ik kom langs met een knuppel".
_INTIMIDATION_NL = _alternatives(entries("flags/threat-intimidation-nl.txt"))
_INTIMIDATION_NL_HINTS = entries("flags/threat-intimidation-nl-hints.txt")
_THREAT_EN = _alternatives(entries("flags/threat-en.txt"))
_THREAT_EN_HINTS = entries("flags/threat-en-hints.txt")

# Violence talked about rather than threatened: negated, condemned or reported as someone else's
# words. Applied per clause, so "ik haat jullie niet, maar ik steek je neer" is still a threat.
_NEGATION = re.compile(r"\b(?:" + "|".join(entries("flags/threat-negation.txt")) + r")\b")
_PERMISSION = re.compile("|".join(entries("flags/threat-permission.txt")))
_REPORTED = re.compile(r"\b(?:" + "|".join(entries("flags/threat-reported.txt")) + r")\b")
# A negated condition does not negate the threat that follows it: "als mijn pakket niet komt,
# steek ik de winkel in de fik".
_CONDITION = re.compile(
    r"\b(?:als|wanneer|indien|tenzij|if|unless)\b[^,]*?\b(?:niet|geen|nooit|not|no|never)\s+\w+"
)
_QUOTED = re.compile(r'"[^"]{3,}"|\'[^\']{12,}\'')
# "maar" is only a clause break after a comma: "ook maar", "pas maar op" are not contrasts.
_CLAUSES = re.compile(r"[.;!?\n]+|,\s*(?:maar|but)\b|\bbut\b")
_IDIOMS = re.compile(r"\b(?:" + "|".join(entries("flags/threat-idioms.txt")) + r")\b")

_ABUSE_RE_SRC, _ABUSE_HINTS = _wordlist("flags/abuse.txt")
_POLITICAL_RE_SRC, _POLITICAL_HINTS = _wordlist("flags/political.txt")
_SPAM_RE_SRC, _SPAM_HINTS = _wordlist("flags/spam.txt")
# Money amounts per period ("$500 a day", "€300 per week"): a spam phrase of its own, hinted by
# its currency sign.
_MONEY_RE = re.compile(r"[$€£]\s?\d[\d.,]*\s?(?:k\b|per\b|a\s+day|p/d|daily|weekly)")
_MONEY_HINTS = ["$", "€", "£"]

_LINK_RE = re.compile(
    r"https?://|www\.|\b(?:"
    + "|".join(map(re.escape, entries("flags/link-shorteners.txt")))
    + r")/"
)

# Hint bits: which expressions to run.
_H_VIOLENCE, _H_INTIMIDATION, _H_THREAT_EN, _H_ABUSE, _H_POLITICAL, _H_SPAM = (
    1 << i for i in range(6)
)
_H_THREAT = _H_VIOLENCE | _H_INTIMIDATION | _H_THREAT_EN
# Violence hints found inside words (Dutch compounds and participles: "vermoorden",
# "neergestoken"); all others must start a word, so "change" does not hint "hang".
_INSIDE_WORDS = frozenset(entries("flags/threat-inside-words.txt"))


@functools.cache
def _automaton():
    import ahocorasick

    table: dict[str, list[int]] = {}  # hint -> [bits when at a word start, bits anywhere]
    groups = [
        (_VIOLENCE_NL_HINTS, _H_VIOLENCE),
        (_INTIMIDATION_NL_HINTS, _H_INTIMIDATION),
        (_THREAT_EN_HINTS, _H_THREAT_EN),
        (_ABUSE_HINTS, _H_ABUSE),
        (_POLITICAL_HINTS, _H_POLITICAL),
        (_SPAM_HINTS, _H_SPAM),
        (_MONEY_HINTS, _H_SPAM),
    ]
    for hints, bit in groups:
        for hint in hints:
            slot = table.setdefault(hint, [0, 0])
            slot[1 if hint in _INSIDE_WORDS and bit == _H_VIOLENCE else 0] |= bit
    automaton = ahocorasick.Automaton()
    for hint, (word_start, anywhere) in table.items():
        automaton.add_word(hint, (len(hint), word_start, anywhere))
    automaton.make_automaton()
    return automaton


def _hints(text: str) -> int:
    bits = 0
    for end, (length, word_start, anywhere) in _automaton().iter(text):
        bits |= anywhere
        if word_start:
            start = end - length + 1
            if start == 0 or not text[start - 1].isalnum():
                bits |= word_start
    return bits


@functools.cache
def _threat_re(bits: int) -> re.Pattern[str]:
    parts = []
    if bits & _H_VIOLENCE:
        parts.append(r"\b" + _VIOLENCE_NL + r"\b")
    if bits & _H_INTIMIDATION:
        parts.append(r"\b" + _INTIMIDATION_NL)
    if bits & _H_THREAT_EN:
        parts.append(_THREAT_EN)
    return re.compile("|".join(parts))


_ABUSE_RE = re.compile(_ABUSE_RE_SRC)
_POLITICAL_RE = re.compile(_POLITICAL_RE_SRC)
_SPAM_RE = re.compile(_SPAM_RE_SRC)


def _threat(text: str, bits: int = _H_THREAT) -> bool:
    threat_re = _threat_re(bits & _H_THREAT)
    if not threat_re.search(text):
        return False  # the common case, decided without the clause analysis below
    text = _QUOTED.sub(" ", text)
    text = _IDIOMS.sub(" ", text)
    for clause in _CLAUSES.split(text):
        if not threat_re.search(clause):
            continue
        if _REPORTED.search(clause):
            continue
        negatable = _CONDITION.sub(" ", clause)
        if _NEGATION.search(negatable) and not _PERMISSION.search(negatable):
            continue
        return True
    return False


def _spam(text: str) -> bool:
    hits = len(_SPAM_RE.findall(text)) + len(_MONEY_RE.findall(text))
    if hits == 0:
        return False
    return hits >= 2 or _LINK_RE.search(text) is not None


def flag_bits(normalised: str) -> int:
    """Flag bits of a normalised text (without impersonation, which needs the author)."""
    hints = _hints(normalised)
    if not hints:
        return 0
    flags = 0
    if hints & _H_THREAT and _threat(normalised, hints):
        flags |= Flag.THREAT
    if hints & _H_ABUSE and _ABUSE_RE.search(normalised):
        flags |= Flag.ABUSE
    if hints & _H_POLITICAL and _POLITICAL_RE.search(normalised):
        flags |= Flag.POLITICAL
    if hints & _H_SPAM and _spam(normalised):
        flags |= Flag.SPAM
    return flags


def flag_bits_unhinted(normalised: str) -> int:
    """flag_bits without the hint pre-filter: for checking that the hints miss nothing."""
    flags = 0
    if _threat(normalised):
        flags |= Flag.THREAT
    if _ABUSE_RE.search(normalised):
        flags |= Flag.ABUSE
    if _POLITICAL_RE.search(normalised):
        flags |= Flag.POLITICAL
    if _spam(normalised):
        flags |= Flag.SPAM
    return flags
