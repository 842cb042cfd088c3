"""Language of a message: function words first, lingua for the rest.

Lingua is restricted to the languages our customers write in, in low-accuracy mode (the
high-accuracy models are 5x slower and add little on tweet-length texts with mentions
stripped). It runs at a few thousand tweets/s here, a third of the ingest budget, while most
messages give their language away in their function words: those are decided before lingua.
"""

from __future__ import annotations

import functools
import re
from collections import Counter

from inbox.lib.enrich.text import normalise, tokenise
from inbox.lib.enrich.wordlists import entries

# Lingua's names of the languages we detect -> ISO 639-1.
LANGUAGES = {
    "DUTCH": "nl",
    "ENGLISH": "en",
    "GERMAN": "de",
    "FRENCH": "fr",
    "SPANISH": "es",
    "ITALIAN": "it",
    "PORTUGUESE": "pt",
    "TURKISH": "tr",
    "ARABIC": "ar",
    "POLISH": "pl",
}

# Mentions, links and hashtags say nothing about the language and mislead the detector
# ("@KLM_Support" looks Dutch-ish, "https" English).
_LANG_NOISE_RE = re.compile(r"(?:https?://|www\.)\S+|[@#][\w.]+|&\w+;")
_MIN_LETTERS_FOR_LANGUAGE = 3
_ARABIC_RE = re.compile(r"[\u0600-\u06ff]")

# The fast path's votes: words that belong to ONE of our languages ("de", "die", "je", "me",
# "per", "la" are shared and left out), from words/language/function-words-<code>.txt. Arabic
# needs none: its script gives it away.
_FUNCTION_WORD_LANGUAGES = ("nl", "en", "de", "fr", "es", "it", "pt", "tr", "pl")
_FUNCTION_WORD_LANG = {
    word: lang
    for lang in _FUNCTION_WORD_LANGUAGES
    for word in entries(f"language/function-words-{lang}.txt")
}


@functools.cache
def _detector():
    # Imported lazily: building the detector loads its models, which management commands and
    # most web requests never need.
    from lingua import Language, LanguageDetectorBuilder

    languages = [getattr(Language, name) for name in LANGUAGES]
    return (
        LanguageDetectorBuilder.from_languages(*languages)
        .with_low_accuracy_mode()
        .with_preloaded_language_models()
        .build()
    )


@functools.cache
def _iso_codes() -> dict[object, str]:
    from lingua import Language

    return {getattr(Language, name): code for name, code in LANGUAGES.items()}


def language_by_function_words(tokens: list[str], normalised: str) -> str | None:
    """The language if the function words decide it, else None (ask lingua).

    A text whose votes clearly favour one language is decided here; everything else (short,
    mixed, or without such words) goes to lingua.
    """
    found = [lang for lang in map(_FUNCTION_WORD_LANG.get, tokens) if lang]
    if not found:
        if (
            not normalised.isascii()
            and len(_ARABIC_RE.findall(normalised)) >= _MIN_LETTERS_FOR_LANGUAGE
        ):
            return "ar"
        return None
    first = found[0]
    if found.count(first) == len(found):
        return first  # unanimous
    votes = Counter(found).most_common(2)
    (language, top), (_, second) = votes
    if top >= 2 and top >= 3 * second:
        return language
    return None


def _language_input(text: str) -> str:
    return _LANG_NOISE_RE.sub(" ", text)


def _has_letters(text: str) -> bool:
    count = 0
    for ch in text:
        if ch.isalpha():
            count += 1
            if count >= _MIN_LETTERS_FOR_LANGUAGE:
                return True
    return False


def language_by_lingua(texts: list[str]) -> list[str]:
    """Lingua's verdict for each text ("" when it has none), through its parallel batch API
    (which releases the GIL)."""
    cleaned = [_language_input(t) for t in texts]
    wanted = [i for i, t in enumerate(cleaned) if _has_letters(t)]
    result = [""] * len(texts)
    if not wanted:
        return result
    found = _detector().detect_languages_in_parallel_of([cleaned[i] for i in wanted])
    codes = _iso_codes()
    for i, lang in zip(wanted, found, strict=True):
        result[i] = codes.get(lang, "") if lang is not None else ""
    return result


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language, or "" if there is too little text to tell."""
    normalised = normalise(text)
    decided = language_by_function_words(tokenise(normalised), normalised)
    return decided if decided is not None else language_by_lingua([text])[0]
