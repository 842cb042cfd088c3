"""Enrichment of incoming messages: language, sentiment and flags. Pure functions, no DB.

The ingest service calls `enrich_batch` for every batch it upserts, so this module is on the hot
path (budget: >= 15,000 items/s on one core). Everything expensive (the lingua detector, the
lexicons, the compiled patterns) is built once, lazily, and reused; per item we do one lower-casing,
one tokenisation and a handful of precompiled regex searches.

Approach, and why:
- language: lingua restricted to the languages our customers write in, low-accuracy mode (the
  high-accuracy models are 5x slower and add little on tweet-length texts with mentions stripped).
- sentiment: a lexicon scorer in the style of VADER (valence sum with negation, boosters and "but"
  shifts, squashed to [-1, 1]). English valences come from the vaderSentiment package's lexicon;
  Dutch valences from a small hand-kept lexicon below, plus customer-care words (delays, cancelled,
  on hold...) that a general lexicon does not weigh.
- flags: rule patterns, see `_threat`, `_abuse`, `_political`, `_spam`, `_impersonation`. A
  threat is a violent act or intent that is not negated, quoted or reported as someone else's
  words (counter speech), so a customer who quotes an abusive reply is not flagged as a threat.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from inbox.models import Flag

__all__ = ["Enrichment", "enrich_batch", "enrich_text", "detect_language", "sentiment_score"]


@dataclass(frozen=True, slots=True)
class Enrichment:
    language: str  # ISO 639-1 ("nl", "en", ...) or "" when unsure
    sentiment: str  # "negative" | "neutral" | "positive" (inbox.models.Sentiment values)
    flags: int  # bits of inbox.models.Flag


# --------------------------------------------------------------------------------------------
# Language


_LANGUAGES = {
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

# Fast path before lingua. Lingua runs at a few thousand tweets/s here, a third of the ingest
# budget, while most messages give their language away in their function words. Only words
# that belong to ONE of our languages are listed ("de", "die", "je", "me", "per", "la" are shared
# and left out). A text whose votes clearly favour one language is decided here; everything else
# (short, mixed, or without such words) goes to lingua.
_FUNCTION_WORDS = {
    "nl": "het een niet ik jij jullie naar geen ook nog wel waarom heb hebben maar mijn voor van "
    "wordt worden dat deze mij bij uit weer toch gewoon kan kunnen moet moeten zou graag bedankt "
    "alsjeblieft hoe wat zijn wij ons onze jouw heeft hebt alweer vandaag morgen gisteren",
    "en": "the and you your to of for my it that this with have not be at just can our what why "
    "but get from they will would been has how thanks please i'm don't can't it's there their "
    "who when were had if all about any out now up still thank",
    "de": "und ich nicht der das ist ein eine mit auf für sie wir sehr danke bitte wie warum "
    "kein keine auch schon mein mich dich haben habe sind wird werden",
    "fr": "les et je pas est une des vous pour avec qui sur mais très merci ce ça suis nous",
    "es": "el los las muy gracias pero qué porque está estoy hola ayuda",
    "it": "che sono di della grazie molto anche questo ciao sei gli",
    "pt": "não você obrigado obrigada muito uma isso",
    "tr": "ve bir bu için çok teşekkürler ama değil",
    "pl": "nie jest się że ale dla jak",
}
_FUNCTION_WORD_LANG = {
    word: lang for lang, words in _FUNCTION_WORDS.items() for word in words.split()
}


@functools.cache
def _detector():  # type: ignore[no-untyped-def]
    # Imported lazily: building the detector loads its models, which management commands and
    # most web requests never need.
    from lingua import Language, LanguageDetectorBuilder

    languages = [getattr(Language, name) for name in _LANGUAGES]
    return (
        LanguageDetectorBuilder.from_languages(*languages)
        .with_low_accuracy_mode()
        .with_preloaded_language_models()
        .build()
    )


@functools.cache
def _iso_codes() -> dict[object, str]:
    from lingua import Language

    return {getattr(Language, name): code for name, code in _LANGUAGES.items()}


def _language_by_function_words(tokens: list[str], text: str) -> str | None:
    """The language if the function words decide it, else None (ask lingua)."""
    found = [lang for lang in map(_FUNCTION_WORD_LANG.get, tokens) if lang]
    if not found:
        if not text.isascii() and len(_ARABIC_RE.findall(text)) >= _MIN_LETTERS_FOR_LANGUAGE:
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


_ARABIC_RE = re.compile(r"[\u0600-\u06ff]")


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


def _lingua(texts: list[str]) -> list[str]:
    """Lingua's verdict for each text ("" when it has none), through its parallel batch API."""
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
    normalised = _normalise(text)
    decided = _language_by_function_words(_tokens(normalised), normalised)
    return decided if decided is not None else _lingua([text])[0]


# --------------------------------------------------------------------------------------------
# Text normalisation

# Zero-width and bidi control characters are used to slip words past filters ("k\u200bill").
_INVISIBLE = dict.fromkeys(
    [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C]
    + [0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069]
)
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"'})


def _normalise(text: str) -> str:
    if not text.isascii():
        text = text.translate(_INVISIBLE).translate(_QUOTES)
        # NFKC folds full-width and "mathematical" letters (𝐤𝐢𝐥𝐥) onto plain ones.
        text = unicodedata.normalize("NFKC", text)
    text = text.lower()
    if "&" in text:
        text = text.replace("&amp;", "&").replace("&gt;", ">").replace("&lt;", "<")
    return text


# --------------------------------------------------------------------------------------------
# Sentiment

# One tokenisation per message serves sentiment and the language fast path: words, and mentions
# as one token ("@united" is not the word "united", which VADER scores +1.8). Link fragments
# come out as junk words that match nothing. Emoticons and emoji are collected separately and
# only when the text can hold any: character classes of the whole of Unicode are what makes a
# regex slow, and most messages are plain ASCII.
_WORDS_ASCII_RE = re.compile(r"[@a-z][a-z]*(?:'[a-z]+)*", re.ASCII)
_WORDS_RE = re.compile(r"[@\w][^\W\d_]*(?:['’][^\W\d_]+)*")
_EMOTICON_RE = re.compile(r"<3|[:;=][-o^']?[()\[\]dp/\\|*]+")
_EMOJI_RE = re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]")


def _tokens(normalised: str) -> list[str]:
    if normalised.isascii():
        tokens = _WORDS_ASCII_RE.findall(normalised)
    else:
        tokens = _WORDS_RE.findall(normalised)
        tokens += _EMOJI_RE.findall(normalised)
    if ":" in normalised or ";" in normalised or "<3" in normalised or "=" in normalised:
        tokens += _EMOTICON_RE.findall(normalised)
    return tokens


# Customer-care words that general lexicons do not weigh, or weigh too mildly. VADER-style
# valences (-4..4). Kept short: each one was added for a recurring complaint, not to fit a set.
_CARE_EN = {
    "delayed": -1.6,
    "delay": -1.4,
    "delays": -1.4,
    "cancelled": -1.8,
    "canceled": -1.8,
    "cancellation": -1.2,
    "late": -1.0,
    "stuck": -1.6,
    "stranded": -2.0,
    "lost": -1.6,
    "hold": -0.8,
    "waiting": -0.8,
    "wait": -0.6,
    "rebooked": -0.6,
    "rebook": -0.5,
    "missed": -1.2,
    "refund": -0.6,
    "broken": -1.6,
    "nobody": -0.8,
    "unacceptable": -2.6,
    "ridiculous": -2.2,
    "worst": -3.1,
    "never": -0.4,
    "again": -0.3,
    "hours": -0.5,
    "hrs": -0.5,
    "why": -0.4,
    "fail": -2.0,
    "fails": -2.0,
    "failed": -2.0,
    "disappointed": -2.2,
    "sucks": -2.0,
    "thanks": 1.4,
    "thank": 1.4,
    "thx": 1.2,
    "awesome": 3.1,
    "appreciate": 2.0,
    "great": 3.1,
    "love": 3.2,
}

# A small Dutch lexicon on the same scale. Stems are not used: Dutch inflects adjectives with -e,
# so both forms are listed where they are common.
_LEXICON_NL = {
    # positive
    "goed": 1.9,
    "goede": 1.9,
    "prima": 1.8,
    "top": 2.2,
    "super": 2.4,
    "geweldig": 3.0,
    "geweldige": 3.0,
    "fantastisch": 3.2,
    "fantastische": 3.2,
    "mooi": 2.0,
    "mooie": 2.0,
    "fijn": 2.0,
    "fijne": 2.0,
    "leuk": 2.0,
    "leuke": 2.0,
    "blij": 2.4,
    "tevreden": 2.2,
    "bedankt": 1.8,
    "dank": 1.6,
    "dankjewel": 2.0,
    "dankuwel": 2.0,
    "dankzij": 1.0,
    "bedank": 1.6,
    "snel": 1.0,
    "vriendelijk": 2.0,
    "vriendelijke": 2.0,
    "behulpzaam": 2.2,
    "behulpzame": 2.2,
    "opgelost": 1.8,
    "netjes": 1.6,
    "perfect": 2.8,
    "perfecte": 2.8,
    "uitstekend": 2.8,
    "uitstekende": 2.8,
    "heerlijk": 2.6,
    "heerlijke": 2.6,
    "aardig": 1.8,
    "aardige": 1.8,
    "complimenten": 2.4,
    "compliment": 2.4,
    "chapeau": 2.4,
    "toppers": 2.6,
    "topper": 2.6,
    "hulp": 0.8,
    "handig": 1.6,
    "gelukkig": 2.0,
    "ok": 0.8,
    "oke": 0.8,
    "oké": 0.8,
    "lief": 2.0,
    "lieve": 2.0,
    "genieten": 2.2,
    "waardeer": 2.0,
    "aanrader": 2.4,
    # negative
    "slecht": -2.4,
    "slechte": -2.4,
    "slechtste": -3.0,
    "waardeloos": -2.8,
    "waardeloze": -2.8,
    "belachelijk": -2.6,
    "belachelijke": -2.6,
    "schandalig": -2.8,
    "schandalige": -2.8,
    "schande": -2.6,
    "boos": -2.4,
    "woedend": -3.0,
    "teleurgesteld": -2.2,
    "teleurstellend": -2.2,
    "teleurstelling": -2.2,
    "vertraging": -1.6,
    "vertraagd": -1.6,
    "geannuleerd": -1.8,
    "annulering": -1.2,
    "kwijt": -1.6,
    "verloren": -1.6,
    "kapot": -1.8,
    "stuk": -1.0,
    "defect": -1.6,
    "storing": -1.6,
    "storingen": -1.6,
    "klacht": -1.6,
    "klachten": -1.6,
    "klagen": -1.4,
    "probleem": -1.4,
    "problemen": -1.4,
    "helaas": -1.2,
    "jammer": -1.4,
    "irritant": -2.2,
    "irritante": -2.2,
    "ergerlijk": -2.2,
    "ergernis": -2.0,
    "zat": -1.0,
    "beu": -1.8,
    "balen": -1.8,
    "baal": -1.8,
    "klote": -2.6,
    "kut": -2.6,
    "bagger": -2.4,
    "drama": -2.0,
    "lang": -0.3,
    "wachten": -0.8,
    "wacht": -0.6,
    "weer": -0.5,
    "nooit": -0.6,
    "niemand": -0.8,
    "onbeschoft": -2.4,
    "onvriendelijk": -2.2,
    "onvriendelijke": -2.2,
    "onacceptabel": -2.6,
    "triest": -2.0,
    "trieste": -2.0,
    "zielig": -1.6,
    "zonde": -1.4,
    "haat": -3.0,
    "hekel": -2.4,
    "walgelijk": -3.0,
    "vies": -2.0,
    "vieze": -2.0,
    "smerig": -2.4,
    "smerige": -2.4,
    "oplichters": -3.0,
    "oplichting": -3.0,
    "fout": -1.4,
    "fouten": -1.4,
    "duur": -1.0,
    "traag": -1.6,
    "trage": -1.6,
    "bah": -2.0,
    "pff": -1.4,
    "pfff": -1.6,
    "zucht": -1.4,
    "lullig": -2.0,
    "ellende": -2.4,
    "verschrikkelijk": -3.0,
    "verschrikkelijke": -3.0,
    "vreselijk": -3.0,
    "vreselijke": -3.0,
    "gedoe": -1.6,
    "gezeik": -2.4,
    "onzin": -1.8,
}

_EMOJI = {
    "😀": 2.0, "😃": 2.0, "😄": 2.0, "😁": 2.0, "😊": 2.0, "🙂": 1.4, "😍": 3.0, "🥰": 3.0,
    "❤": 2.6, "♥": 2.6, "💙": 2.4, "👍": 1.8, "👏": 2.0, "🙏": 1.2, "🎉": 2.2, "😂": 1.0,
    "🤣": 1.0, "😉": 1.2, "✈": 0.0, "😡": -3.0, "🤬": -3.2, "😠": -2.6, "😤": -2.2, "😞": -2.2,
    "😢": -2.2, "😭": -2.4, "😩": -2.2, "😫": -2.2, "🙄": -1.8, "👎": -2.2, "💩": -2.4,
    "😒": -1.8, "😔": -1.8, "😖": -2.0, "😣": -1.8, "🤦": -2.0, "😱": -1.8, "☹": -2.2,
}  # fmt: skip

_NEGATORS = frozenset(
    [
        "not",
        "no",
        "never",
        "nor",
        "neither",
        "none",
        "nobody",
        "nothing",
        "cannot",
        "cant",
        "can't",
        "don't",
        "dont",
        "doesn't",
        "doesnt",
        "didn't",
        "didnt",
        "isn't",
        "isnt",
        "wasn't",
        "wasnt",
        "aren't",
        "arent",
        "weren't",
        "werent",
        "won't",
        "wont",
        "wouldn't",
        "wouldnt",
        "shouldn't",
        "shouldnt",
        "haven't",
        "havent",
        "hasn't",
        "hasnt",
        "hadn't",
        "hadnt",
        "couldn't",
        "couldnt",
        "ain't",
        "aint",
        "without",
        "niet",
        "geen",
        "nooit",
        "niks",
        "niets",
        "nergens",
        "zonder",
    ]
)
_BOOSTERS = {
    **dict.fromkeys(
        [
            "very",
            "really",
            "so",
            "extremely",
            "totally",
            "absolutely",
            "completely",
            "utterly",
            "incredibly",
            "super",
            "too",
            "most",
            "such",
            "truly",
            "hugely",
            "highly",
            "heel",
            "erg",
            "zeer",
            "echt",
            "zo",
            "enorm",
            "ontzettend",
            "hartstikke",
            "vreselijk",
            "verschrikkelijk",
            "mega",
            "behoorlijk",
        ],
        0.293,
    ),
    **dict.fromkeys(
        [
            "slightly",
            "somewhat",
            "barely",
            "hardly",
            "kind",
            "sort",
            "little",
            "bit",
            "beetje",
            "wat",
            "enigszins",
            "nauwelijks",
        ],
        -0.293,
    ),
}
_BUT = frozenset(["but", "however", "maar", "echter"])


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
    lexicon.update(_CARE_EN)
    lexicon.update(_LEXICON_NL)
    lexicon.update(_EMOJI)
    # Words that VADER scores but that are neutral or misleading in customer care.
    for word in ("no", "yes", "please", "help", "ok", "okay", "like", "want", "pretty", "fly"):
        lexicon.pop(word, None)
    return lexicon


# Thresholds on the compound score, chosen on the training split of the airline data
# (bench/enrich.py --tune). Customers rarely bother to write when things are merely fine, so
# "neutral" is a narrow band below zero.
_POSITIVE_AT = 0.4
_NEGATIVE_AT = -0.05


def sentiment_score(text: str) -> float:
    """Compound valence in [-1, 1] of a text."""
    normalised = _normalise(text)
    return _sentiment_of_tokens(_tokens(normalised), normalised.count("!"))


def _sentiment_of_tokens(tokens: list[str], exclamations: int = 0) -> float:
    """VADER-style compound score: valences with negation and boosters in a 3-word window,
    "but" shifting weight to what follows, "!" amplifying, squashed to [-1, 1]."""
    lexicon = _lexicon()
    # Most tokens score nothing: find the few that do in one pass at C speed.
    hits = [(i, v) for i, v in enumerate(map(lexicon.get, tokens)) if v is not None]
    if not hits:
        return 0.0
    but_at = -1
    if not _BUT.isdisjoint(tokens):
        but_at = max(i for i, token in enumerate(tokens) if token in _BUT)
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


def _sentiment_label(score: float) -> str:
    if score >= _POSITIVE_AT:
        return "positive"
    if score <= _NEGATIVE_AT:
        return "negative"
    return "neutral"


# --------------------------------------------------------------------------------------------
# Flags
#
# Each flag is a regular expression, and regular expressions with hundreds of alternatives cost
# 20-100 us per tweet. So one Aho-Corasick automaton first looks for the hint strings of all
# flags at once (about 1 us); a flag's expression only runs when one of its hints occurred.
# Every expression's alternatives start with (or contain) one of its hints; test_enrich checks
# this on its examples and bench/enrich.py on the data sets.


def _words(*alternatives: str) -> str:
    return "(?:" + "|".join(alternatives) + ")"


def _phrases(entries: str) -> list[str]:
    return [entry.strip() for entry in entries.split(",") if entry.strip()]


def _wordlist(entries: str) -> tuple[str, list[str]]:
    """A regex for a word list and its hints. "%" ends a stem (any word ending), a space is any
    whitespace; the hint is the literal start of the entry."""
    alternatives, hints = [], []
    for entry in entries.split(","):
        entry = entry.strip()
        if not entry:
            continue
        alternatives.append(re.escape(entry).replace("%", r"\w*").replace(r"\ ", r"\s+"))
        hints.append(entry.split("%")[0])
    return r"\b(?:" + "|".join(alternatives) + r")\b", hints


# Violent acts. Dutch verbs in their infinitive, participle and common finite forms; English
# verbs need a target or an intent nearby (see _THREAT_EN) because "this delay is killing me"
# and "shoot us a DM" are everyday customer-care English.
_VIOLENCE_NL = _words(
    r"(?:dood|neer|af)(?:ge)?(?:schiet|schoten|schieten|steek|steken|stoken|slaan|slagen|sla)\w*",
    r"(?:ge)?dood(?:t|de|den|en)?",
    r"dood\s+(?:aan|zijn|gaan|maken|wensen)",
    r"(?:een\s+)?(?:gruwelijke\s+|pijnlijke\s+)?dood\s+sterven",
    r"sterven",
    r"(?:ver|ge)?moord\w*",
    r"afmaken|afgemaakt|maak\s+(?:je|jou|jullie|hem|haar|ze|jij)\s+af",
    r"(?:af)?(?:ge)?slacht\w*",
    r"(?:neer|kapot|in\s+elkaar\s*)(?:ge)?(?:steek|steken|stoken|schiet|schieten|schoten|slaan|sla|slagen|trappen|trap|getrapt)\w*",
    r"(?:ge)?wurg\w*",
    r"(?:steek|steken|schiet|schieten|sla|slaan|schop|schoppen|trap|trappen)\s+(?:je|jou|jullie|hem|haar|ze|die\s+\w+)\s+(?:neer|dood|kapot|in\s+elkaar)",
    r"verdrink(?:en|t)?|verdronken|verzuipen",
    r"op(?:ge)?(?:hang|hangen|knopen|knoop)\w*|hang\s+(?:je|jou|hem|haar|ze)\s+op",
    r"(?:ge)?ex[eé]cut(?:ie|ies|eren|eer|eert|eerde|eerden|eerd)|geëxecuteerd",
    r"uit(?:ge)?roei\w*",
    r"vergass?en|vergast",
    r"verbrand(?:en|t)?|brandstapel",
    r"in\s+de\s+fik|in\s+brand\s+(?:steken|steek|gestoken)|fik\s+steken",
    r"op(?:ge)?blaz\w*|blaas\s+\w+(?:\s+\w+)?\s+op|(?:een|de|die|met)\s+bom|bommen|bomaanslag|aanslag",
    r"(?:ge)?martel\w*",
    r"pijn\s+(?:doen|gaan\s+doen|laten\s+voelen)",
    r"laten\s+lijden|zien\s+lijden|lijden",
    r"(?:ge)?verkracht\w*",
    r"(?:kel(?:en)?|keel)\s+door\w*|door(?:ge)?sn(?:ijd|eden)\w*",
    r"nek(?:ken)?\s+(?:breken|gebroken|omdraaien)|nekken|breek\s+(?:je|jullie)\s+nek",
    r"einde\s+(?:\w+\s+){0,2}?maken\s+aan|leven\s+be[eë]indigen|be[eë]indigen",
    r"(?:wereld|land|iedereen|samenleving)\s+(?:\w+\s+){0,2}?beter\s+af\s+(?:\w+\s+)?zonder",
    r"aan(?:ge)?val(?:len|t)?",
    r"kogel\w*|(?:een\s+)?mes\s+in",
    r"verdien(?:en)?\s+(?:het\s+)?(?:om\s+)?te\s+sterven",
)
_VIOLENCE_NL_HINTS = [
    "dood",
    "doden",
    "moord",
    "schiet",
    "schoten",
    "steek",
    "steken",
    "stoken",
    "slaan",
    "slagen",
    "slacht",
    "afmaken",
    "afgemaakt",
    "maak",
    "wurg",
    "verdrink",
    "verdronk",
    "verzuip",
    "hang",
    "knoop",
    "knopen",
    "xecut",
    "roei",
    "vergas",
    "verbrand",
    "brandstapel",
    "fik",
    "brand",
    "blaz",
    "bom",
    "aanslag",
    "martel",
    "pijn",
    "lijden",
    "verkracht",
    "keel",
    "kelen",
    "doorgesneden",
    "doorsn",
    "sla",
    "schop",
    "beter af",
    "nek",
    "einde",
    "beëindig",
    "beeindig",
    "aanval",
    "aangeval",
    "kogel",
    "mes",
    "sterven",
    "trap",
]

# Intimidation without a violent verb: "ik weet waar je woont", "ik kom langs met een knuppel".
_INTIMIDATION_NL = _words(
    r"(?:ik|wij|we)\s+(?:weet|weten)\s+(?:waar|hoe)\s+(?:je|jij|jullie|u|hij|zij|ze)\s+(?:woon|woont|wonen|werkt|werken)",
    r"(?:ik|we|wij)\s+(?:kom|komen)\s+(?:je\s+|jullie\s+|bij\s+\w+\s+)?(?:langs|verhaal\s+halen|halen)\s+met",
    r"(?:ik|we|wij)\s+(?:kom|komen)\s+(?:je|jullie|u)\s+(?:halen|opzoeken|pakken)",
    r"(?:kom|komen)\s+(?:ik|we|wij)\s+(?:\w+\s+){0,3}?langs\s+met",
    r"(?:je|jij|jullie)\s+(?:bent|zijn)\s+gewaarschuwd",
    r"(?:je|jij|jullie)\s+(?:bent|zijn)\s+(?:er\s+)?geweest",
    r"pas\s+(?:maar\s+)?op\s+(?:je|jij|jullie)\w*",
    r"(?:let|kijk)\s+(?:maar\s+)?(?:goed\s+)?uit\s+(?:als|wanneer)",
    r"ik\s+grijp\s+(?:je|jou|jullie)",
)
# Multi-word hints: "let", "pas" and "kijk" alone are too common to be worth a regex run.
_INTIMIDATION_NL_HINTS = _phrases(
    "weet waar, weten waar, weet hoe, weten hoe, kom, komen, gewaarschuwd, bent geweest, "
    "bent er geweest, zijn geweest, zijn er geweest, pas op, pas maar op, uit als, uit wanneer, "
    "grijp"
)

_THREAT_EN = _words(
    r"\b(?:i|we)(?:'ll|'m\s+going\s+to|'m\s+gonna|\s+will|\s+am\s+going\s+to|\s+are\s+going\s+to|'re\s+going\s+to|\s+gonna|\s+wanna|\s+want\s+to)\s+(?:\w+\s+){0,3}?(?:kill|murder|shoot|stab|strangle|hang|burn|bomb|blow\s+up|hurt|beat|slap|punch|rape|torture|execute)\b",
    r"\b(?:i|we)(?:'ll|\s+will|\s+gonna|'m\s+going\s+to|\s+are\s+going\s+to)\s+find\s+(?:you|u|your\s+(?:family|home|house|kids))\b",
    r"\b(?:kill|murder|shoot|stab|strangle|hang|burn|bomb|hurt|beat\s+up|punch|rape|torture|execute|gas)\s+(?:all\s+(?:of\s+)?)?(?:you|u|ya|your|ur|him|her|them|every(?:one|body|\s+one)|all|those|these|the\s+(?:staff|crew|pilot|ceo|agents?|employees?))\b",
    r"\bknow\s+where\s+(?:you|u|your\s+\w+|he|she|they)\s+(?:live|work|sleep)",
    r"\bwatch\s+your\s+back\b|\byou(?:'re|\s+are)\s+(?:dead|going\s+to\s+die|gonna\s+die)\b",
    r"\b(?:you|u|they|he|she)\s+(?:all\s+)?(?:should|deserve\s+to|will|gonna|must)\s+(?:\w+\s+){0,2}?(?:die|be\s+(?:killed|shot|hanged|executed|burned))\b",
    r"\bbomb\s+(?:threat|the|your|this|that)\b|\bblow\s+up\s+(?:the|your|this)\b|\bburn\s+(?:it|the\s+\w+|your\s+\w+)\s+down\b",
    r"\bdeath\s+to\b|\bput\s+a\s+bullet\b",
)
# The intent forms ("i'll ... kill") start with a pronoun, so they are hinted by their verbs.
_THREAT_EN_HINTS = _phrases(
    "kill, murder, shoot, stab, strangl, hang, burn, bomb, blow up, hurt, beat, slap, punch, "
    "find you, find u, find your, rape, tortur, execut, gas, know where, watch your, dead, die, "
    "killed, shot, death, bullet"
)

# Violence talked about rather than threatened: negated, condemned or reported as someone else's
# words. Applied per clause, so "ik haat jullie niet, maar ik steek je neer" is still a threat.
_NEGATION = re.compile(
    r"\b(?:niet|geen|nooit|niemand|nergens|zonder|not|never|no|don't|won't|wouldn't|nobody)\b"
)
# "zou niet illegaal moeten zijn" calls for violence despite its "niet", and "beter af zonder"
# wishes someone gone despite its "zonder".
_PERMISSION = re.compile(
    r"\bniet\s+(?:illegaal|strafbaar|verboden)|\bgedecriminaliseerd|\blegaal\s+(?:zijn|worden|maken)"
    r"|\bbeter\s+af\s+(?:\w+\s+)?zonder\b"
)
_REPORTED = re.compile(
    r"\b(?:zeggen|zegt|zei|zeiden|gezegd|schrijven|schrijft|schreef|geschreven|beweren|beweert|"
    r"roepen|oproepen|oproep|roept|noemen|noemt|uitspraken?|berichten|bedreigingen|wensen\s+van|"
    r"tolereren|toestaan|veroordel\w*|said|says|saying|wrote|writes|tweeted|threats?\s+like|"
    r"condemn\w*)\b"
)
# A negated condition does not negate the threat that follows it: "als mijn pakket niet komt,
# steek ik de winkel in de fik".
_CONDITION = re.compile(
    r"\b(?:als|wanneer|indien|tenzij|if|unless)\b[^,]*?\b(?:niet|geen|nooit|not|no|never)\s+\w+"
)
_QUOTED = re.compile(r'"[^"]{3,}"|\'[^\']{12,}\'')
# "maar" is only a clause break after a comma: "ook maar", "pas maar op" are not contrasts.
_CLAUSES = re.compile(r"[.;!?\n]+|,\s*(?:maar|but)\b|\bbut\b")
_IDIOMS = re.compile(
    r"\b(?:tijd\s+(?:te\s+)?doden|de\s+tijd\s+dood|kill(?:ing)?\s+(?:the\s+)?time|"
    r"dood\s*(?:moe|ziek|stil|gewoon|leuk|eng|normaal|simpel)|doodnormaal|doodsaai|doodmoe|"
    r"doodop|lach(?:en|te)?\s+(?:me|ons|mij)\s+(?:\w+\s+)?dood|bommetje|bomvol|bomvolle|"
    r"bommel|lijden\s+onder|last\s+van|would\s+it\s+kill\s+(?:you|ya|u))\b"
)

_ABUSE_RE_SRC, _ABUSE_HINTS = _wordlist(
    # Dutch swearing and insults; "kanker", "tering" and "tyfus" as curses.
    "kut%, klote%, kolere%, kanker%, k@nker%, tering%, tyfus%, pleur%, godver%, verdomme, "
    "klootzak%, klootviool, lul, lullen, lulletje%, eikel, eikels, hoer%, slet, sletten, mongool, "
    "mongolen, debiel%, idioot, idioten, sukkel%, achterlijk%, randdebiel%, flikker%, schoft%, "
    "rotzak%, oprotten, rot op, opgerot, oprot, opflikkeren, teringlijer%, hoerenzoon, trut, "
    "loser%, mafkees, oplichter%, zakkenvuller%, zakkenwasser%, pik, gelul, lulverhaal, lulkoek, "
    "verneukt, neuk%, kakkerlak%, ongedierte, uitschot, rotbek, "
    # English
    "fuck%, f*ck%, f**k%, fck%, fuk%, wtf, stfu, shit%, sh*t%, bullshit, asshole%, a**hole%, "
    "bastard%, bitch%, dick, dicks, dickhead%, cunt%, moron%, idiot, idiots, stupid, dumbass, "
    "jackass, retard%, scum%, pathetic, crap%, damn, dammit, goddamn%, pissed, piss, twat%, "
    "wanker%, prick%"
)
_POLITICAL_RE_SRC, _POLITICAL_HINTS = _wordlist(
    "vvd, pvv, d66, cda, pvda, groenlinks, gl-pvda, christenunie, sgp, fvd, forum voor democratie, "
    "ja21, bbb, boerburgerbeweging, nsc, pvdd, partij voor de dieren, wilders, rutte, schoof, "
    "timmermans, omtzigt, baudet, yesilgoz, yeşilgöz, jetten, kabinet%, minister%, premier, "
    "staatssecretaris, tweede kamer, eerste kamer, kamerleden, kamerlid, kamervragen, "
    "regering%, politiek%, politici, politicus, verkiezing%, stem op, stemmen op, linkse%, "
    "rechtse%, woke, "
    "democrat%, republican%, gop, maga, trump%, biden, obama, clinton, congress%, senator%, "
    "senate, election%, vote for, liberals, conservatives, politic%, parliament%, "
    "prime minister, tories, brexit, government"
)
_SPAM_RE_SRC, _SPAM_HINTS = _wordlist(
    "bitcoin, btc, crypto%, ethereum, eth, usdt, nft, nfts, airdrop%, forex, binary option%, "
    "giveaway, give away, winnaar, gewonnen, win a, win an, win free, free money, free iphone, "
    "free gift%, free followers, gratis geld, gratis iphone, gratis followers, gratis volgers, "
    "follow back, followback, f4f, volg terug, volgers kopen, buy followers, dm me for, "
    "dm us for, dm me to earn, earn money, earn cash, verdien geld, work from home, promo code, "
    "promocode, kortingscode, click here, click the link, klik hier, klik op de link, casino, "
    "onlyfans, investment opportunit%, guaranteed profit%, guaranteed return%, "
    "gegarandeerd rendement, gegarandeerde winst, seed phrase, claim your, claim je, claim now, "
    "claim nu"
)
# Money amounts per period ("$500 a day", "€300 per week"): a spam phrase of its own.
_MONEY_RE = re.compile(r"[$€£]\s?\d[\d.,]*\s?(?:k\b|per\b|a\s+day|p/d|daily|weekly)")

_LINK_RE = re.compile(r"https?://|www\.|\b(?:bit\.ly|tinyurl\.com|t\.me|wa\.me|goo\.gl)/")

# Hint bits: which expressions to run.
_H_VIOLENCE, _H_INTIMIDATION, _H_THREAT_EN, _H_ABUSE, _H_POLITICAL, _H_SPAM = (
    1 << i for i in range(6)
)
_H_THREAT = _H_VIOLENCE | _H_INTIMIDATION | _H_THREAT_EN
# Hints found inside words (Dutch compounds and participles: "vermoorden", "neergestoken");
# all others must start a word, so "change" does not hint "hang".
_INSIDE_WORDS = frozenset(
    [
        "dood",
        "doden",
        "moord",
        "schiet",
        "schoten",
        "steek",
        "steken",
        "stoken",
        "slaan",
        "slagen",
        "slacht",
        "wurg",
        "verdrink",
        "verdronk",
        "verzuip",
        "hang",
        "knoop",
        "knopen",
        "xecut",
        "roei",
        "vergas",
        "verbrand",
        "blaz",
        "martel",
        "verkracht",
        "kogel",
        "sterven",
        "trap",
    ]
)


@functools.cache
def _automaton():  # type: ignore[no-untyped-def]
    import ahocorasick

    table: dict[str, list[int]] = {}  # hint -> [bits when at a word start, bits anywhere]
    groups = [
        (_VIOLENCE_NL_HINTS, _H_VIOLENCE),
        (_INTIMIDATION_NL_HINTS, _H_INTIMIDATION),
        (_THREAT_EN_HINTS, _H_THREAT_EN),
        (_ABUSE_HINTS, _H_ABUSE),
        (_POLITICAL_HINTS, _H_POLITICAL),
        (_SPAM_HINTS, _H_SPAM),
        (["$", "€", "£"], _H_SPAM),
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


def _flags(text: str) -> int:
    """Flag bits for a normalised text (without impersonation, which needs the author)."""
    hints = _hints(text)
    if not hints:
        return 0
    flags = 0
    if hints & _H_THREAT and _threat(text, hints):
        flags |= Flag.THREAT
    if hints & _H_ABUSE and _ABUSE_RE.search(text):
        flags |= Flag.ABUSE
    if hints & _H_POLITICAL and _POLITICAL_RE.search(text):
        flags |= Flag.POLITICAL
    if hints & _H_SPAM and _spam(text):
        flags |= Flag.SPAM
    return flags


def _flags_unhinted(text: str) -> int:
    """_flags without the hint pre-filter: for checking that the hints miss nothing."""
    flags = 0
    if _threat(text):
        flags |= Flag.THREAT
    if _ABUSE_RE.search(text):
        flags |= Flag.ABUSE
    if _POLITICAL_RE.search(text):
        flags |= Flag.POLITICAL
    if _spam(text):
        flags |= Flag.SPAM
    return flags


# --------------------------------------------------------------------------------------------
# Impersonation

# Characters an impersonator swaps in because they look alike; folded onto one letter.
_CONFUSABLES = str.maketrans(
    {"0": "o", "1": "l", "|": "l", "!": "l", "3": "e", "4": "a", "@": "a", "5": "s",
     "$": "s", "7": "t", "8": "b", "9": "g", "2": "z", "6": "b"}
)  # fmt: skip
# Words impersonators add around a brand name. Matched after folding confusables, so the words
# themselves are folded too ("official" -> "offlclal").
_DECORATIONS = [
    "official",
    "offical",
    "officiel",
    "officieel",
    "real",
    "the",
    "support",
    "helpdesk",
    "help",
    "care",
    "service",
    "klantenservice",
    "klantendienst",
    "webcare",
    "team",
    "desk",
    "info",
    "nl",
    "hq",
]
_DECORATION_RE = re.compile(
    "|".join(sorted((w.translate(_CONFUSABLES) for w in _DECORATIONS), key=len, reverse=True))
    + "|[^a-z]"
)
_IMPERSONATION_SIMILARITY = 0.84


@functools.lru_cache(maxsize=65536)
def _handle_core(handle: str) -> str:
    handle = unicodedata.normalize("NFKC", handle.translate(_INVISIBLE)).lstrip("@")
    # A capital I is an l in most fonts ("KIM" for "KLM"); a small i is not.
    handle = handle.replace("I", "l").lower()
    # Non-Latin lookalikes (Cyrillic "а", Greek "ο") fold onto ASCII via their skeleton; a cheap
    # approximation of Unicode's confusables table that covers the letters seen in the wild.
    handle = handle.translate(_CYRILLIC_GREEK)
    handle = handle.replace("rn", "m").replace("vv", "w")
    return _DECORATION_RE.sub("", handle.translate(_CONFUSABLES))


_CYRILLIC_GREEK = str.maketrans(
    {"а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
     "ѕ": "s", "к": "k", "м": "m", "т": "t", "в": "b", "н": "h", "ο": "o", "α": "a", "ε": "e",
     "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "τ": "t", "υ": "u", "χ": "x"}
)  # fmt: skip


@functools.lru_cache(maxsize=256)
def _own_cores(own_handles: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    exact = frozenset(h.lower().lstrip("@") for h in own_handles if h)
    cores = tuple(c for c in (_handle_core(h) for h in own_handles if h) if len(c) >= 2)
    return exact, cores


def _impersonation(author_handle: str, author_name: str, own_handles: tuple[str, ...]) -> bool:
    if not own_handles or not (author_handle or author_name):
        return False
    exact, cores = _own_cores(own_handles)
    if author_handle.lower().lstrip("@") in exact:
        return False  # it is us
    if not cores:
        return False

    for candidate in (author_handle, author_name):
        if not candidate:
            continue
        core = _handle_core(candidate)
        if len(core) < 2:
            continue
        for own in cores:
            if core == own:
                return True
            if len(own) >= 4 and Levenshtein.normalized_similarity(core, own) >= (
                _IMPERSONATION_SIMILARITY
            ):
                return True
    return False


# --------------------------------------------------------------------------------------------
# Public API


def _analyse(
    text: str, author_handle: str, author_name: str, own: tuple[str, ...]
) -> tuple[str | None, str, int]:
    """(language if the fast path decides it, sentiment, flags) of one message."""
    language, sentiment, flags = _analyse_text(text)
    if own and _impersonation(author_handle, author_name, own):
        flags |= Flag.IMPERSONATION
    return language, sentiment, int(flags)


def _analyse_text(text: str) -> tuple[str | None, str, int]:
    """What depends on the text alone (no author): language by the fast path, sentiment, flags."""
    normalised = _normalise(text)
    tokens = _tokens(normalised)
    flags = _flags(normalised)
    language = _language_by_function_words(tokens, normalised)
    sentiment = _sentiment_label(_sentiment_of_tokens(tokens, normalised.count("!")))
    return language, sentiment, int(flags)


def enrich_text(
    text: str,
    *,
    author_handle: str = "",
    author_name: str = "",
    own_handles: Sequence[str] = (),
) -> Enrichment:
    """Language, sentiment and flags of one message. `own_handles`: the channel's own accounts."""
    language, sentiment, flags = _analyse(text, author_handle, author_name, tuple(own_handles))
    if language is None:
        language = _lingua([text])[0]
    return Enrichment(language=language, sentiment=sentiment, flags=flags)


def enrich_batch(
    items: Sequence[tuple[str, str, str]], *, own_handles: Sequence[str] = ()
) -> list[Enrichment]:
    """`enrich_text` for many (text, author_handle, author_name) items; same order as given.

    The texts the function-word fast path cannot place go to lingua in one parallel batch call
    (which releases the GIL).
    """
    own = tuple(own_handles)
    # Why the caches: a batch repeats texts (retweets, copy-paste campaigns, spam) and
    # authors; each distinct text is analysed (and sent to lingua) once per batch.
    by_text: dict[str, tuple[str | None, str, int]] = {}
    impersonating: dict[tuple[str, str], bool] = {}
    analysed = []
    for text, handle, name in items:
        result = by_text.get(text)
        if result is None:
            result = by_text[text] = _analyse_text(text)
        if own:
            key = (handle, name)
            hit = impersonating.get(key)
            if hit is None:
                hit = impersonating[key] = bool(_impersonation(handle, name, own))
            if hit:
                result = (result[0], result[1], int(result[2] | Flag.IMPERSONATION))
        analysed.append(result)
    undecided = list(dict.fromkeys(items[i][0] for i, a in enumerate(analysed) if a[0] is None))
    by_lingua = dict(zip(undecided, _lingua(undecided), strict=True))
    languages = {i: by_lingua[items[i][0]] for i, a in enumerate(analysed) if a[0] is None}
    return [
        Enrichment(
            language=language if language is not None else languages[i],
            sentiment=sentiment,
            flags=flags,
        )
        for i, (language, sentiment, flags) in enumerate(analysed)
    ]
