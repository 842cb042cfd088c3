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
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import regex as re

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


@functools.cache
def _detector():  # type: ignore[no-untyped-def]
    # Imported lazily: building the detector loads its models (about 0.1 s, ~100 MB in
    # high-accuracy mode), which management commands and most web requests never need.
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


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language, or "" if there is too little text to tell."""
    cleaned = _language_input(text)
    if not _has_letters(cleaned):
        return ""
    found = _detector().detect_language_of(cleaned)
    return _iso_codes().get(found, "") if found is not None else ""


def _detect_languages(texts: Sequence[str]) -> list[str]:
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


# --------------------------------------------------------------------------------------------
# Text normalisation

# Zero-width and bidi control characters are used to slip words past filters ("k\u200bill").
_INVISIBLE = dict.fromkeys(
    [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C]
    + [0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069]
)
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"'})


def _normalise(text: str) -> str:
    text = text.translate(_INVISIBLE).translate(_QUOTES)
    if not text.isascii():
        # NFKC folds full-width and "mathematical" letters (𝐤𝐢𝐥𝐥) onto plain ones.
        text = unicodedata.normalize("NFKC", text)
    return text.lower().replace("&amp;", "&").replace("&gt;", ">").replace("&lt;", "<")


# --------------------------------------------------------------------------------------------
# Sentiment

_TOKEN_RE = re.compile(
    r"(?:https?://|www\.)\S+"  # links: dropped below
    r"|[@#][\w.]+"  # mentions and hashtags: dropped below (hashtag words are scored separately)
    r"|\p{L}+(?:['-]\p{L}+)*"
    r"|<3|[:;=8x][-o^']?[()\[\]dp/\\|*]+"
    r"|[!?]"
    r"|\p{Extended_Pictographic}"
)

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
    "te": -0.2,
    "laat": -0.8,
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
_POSITIVE_AT = 0.3
_NEGATIVE_AT = -0.05


def sentiment_score(text: str) -> float:
    """Compound valence in [-1, 1] of an already normalised (lower-cased) text."""
    lexicon = _lexicon()
    total = 0.0
    before_but = 0.0
    seen_but = False
    exclamations = 0
    prev1 = prev2 = prev3 = ""
    for token in _TOKEN_RE.findall(text):
        first = token[0]
        if first in "@#h" and (first != "h" or token.startswith("http")):
            if first == "#":
                token = token[1:]
            else:
                continue
        if token == "!":
            exclamations += 1
            continue
        if token in _BUT:
            before_but, total, seen_but = total, 0.0, True
            prev1 = prev2 = prev3 = ""
            continue
        valence = lexicon.get(token)
        if valence is not None:
            boost = _BOOSTERS.get(prev1)
            if boost is not None:
                valence += boost if valence > 0 else -boost
            if prev1 in _NEGATORS or prev2 in _NEGATORS or prev3 in _NEGATORS:
                valence *= -0.74
            total += valence
        prev3, prev2, prev1 = prev2, prev1, token
    total = before_but * 0.5 + total * 1.5 if seen_but else total
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


def _words(*alternatives: str) -> str:
    return "(?:" + "|".join(alternatives) + ")"


# Violent acts. Dutch verbs in their infinitive, participle and common finite forms; English
# verbs need a target or an intent nearby (see _THREAT_EN_RE) because "this delay is killing me"
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
    r"(?:neer|kapot|in\s+elkaar)\s*(?:ge)?(?:steek|steken|stoken|schiet|schieten|schoten|slaan|sla|slagen|trappen|trap|getrapt)\w*",
    r"(?:ge)?wurg\w*",
    r"verdrink(?:en|t)?|verdronken|verzuipen",
    r"op(?:ge)?(?:hang|hangen|knopen|knoop)\w*|(?:ophangen|hang\s+(?:je|jou|hem|haar|ze)\s+op)",
    r"(?:ge)?ex[eé]cut\w*",
    r"uit(?:ge)?roei\w*",
    r"(?:ver|ge)?gass?en|vergast",
    r"verbrand(?:en|t)?|brandstapel",
    r"in\s+de\s+fik|in\s+brand\s+(?:steken|steek|gestoken)|fik\s+steken",
    r"(?:op)?(?:ge)?blaz\w*|bom(?:men|aanslag)?|aanslag",
    r"(?:ge)?martel\w*",
    r"pijn\s+(?:doen|gaan\s+doen|laten\s+voelen)",
    r"laten\s+lijden|zien\s+lijden|lijden\b",
    r"(?:ge)?verkracht\w*",
    r"kel(?:en|en)?\s+door(?:ge)?s?n(?:ijden|eden)|keel\s+door\w*|doorgesneden",
    r"nek(?:ken)?\s+(?:breken|gebroken|omdraaien)|nekken|breek\s+(?:je|jullie)\s+nek",
    r"einde\s+maken\s+aan|leven\s+be[eë]indigen|be[eë]indigen",
    r"aan(?:ge)?val(?:len|t)?",
    r"kogel\w*|(?:een\s+)?mes\s+in",
    r"neersteken|neerschieten|doodsteken|doodschieten|doodslaan",
    r"verdienen\s+(?:het\s+)?(?:om\s+)?te\s+sterven|verdien\s+(?:het\s+)?(?:om\s+)?te\s+sterven",
)

# Intimidation without a violent verb: "ik weet waar je woont", "ik kom langs met een knuppel".
_INTIMIDATION_NL = _words(
    r"(?:ik|wij|we)\s+(?:weet|weten)\s+(?:waar|hoe)\s+(?:je|jij|jullie|u|hij|zij|ze)\s+(?:woon|woont|wonen|werkt|werken)",
    r"(?:ik|we|wij)\s+(?:kom|komen)\s+(?:je\s+|jullie\s+|bij\s+\w+\s+)?(?:langs|verhaal\s+halen|halen)\s+met",
    r"(?:ik|we|wij)\s+(?:kom|komen)\s+(?:je|jullie|u)\s+(?:halen|opzoeken|pakken)",
    r"(?:je|jij|jullie)\s+(?:bent|zijn)\s+gewaarschuwd",
    r"(?:je|jij|jullie)\s+(?:bent|zijn)\s+(?:er\s+)?geweest",
    r"pas\s+(?:maar\s+)?op\s+(?:je|jij|jullie)\w*",
    r"(?:let|kijk)\s+(?:maar\s+)?(?:goed\s+)?uit\s+(?:als|wanneer)",
    r"ik\s+(?:pak|grijp|krijg)\s+(?:je|jou|jullie)",
)

_THREAT_EN = _words(
    r"\b(?:i|we)(?:'ll|'m\s+going\s+to|'m\s+gonna|\s+will|\s+am\s+going\s+to|\s+are\s+going\s+to|'re\s+going\s+to|\s+gonna|\s+wanna|\s+want\s+to|\s+should|\s+could)\s+(?:\w+\s+){0,3}?(?:kill|murder|shoot|stab|strangle|hang|burn|bomb|blow\s+up|hurt|beat|slap|punch|find|rape|torture|execute|gut|end)\b",
    r"\b(?:kill|murder|shoot|stab|strangle|hang|burn|bomb|hurt|beat\s+up|punch|rape|torture|execute|gas)\s+(?:all\s+(?:of\s+)?)?(?:you|u|ya|your|ur|him|her|them|every|all|those|these|the\s+(?:staff|crew|pilot|ceo|agents?|employees?))\b",
    r"\bknow\s+where\s+(?:you|u|your\s+\w+|he|she|they)\s+(?:live|work|sleep)",
    r"\bwatch\s+your\s+back\b|\byou(?:'re|\s+are)\s+(?:dead|going\s+to\s+die|gonna\s+die)\b",
    r"\b(?:you|u|they|he|she)\s+(?:all\s+)?(?:should|deserve\s+to|will|gonna|must)\s+(?:\w+\s+){0,2}?(?:die|be\s+(?:killed|shot|hanged|executed|burned))\b",
    r"\bbomb\s+(?:threat|the|your|this|that)\b|\bblow\s+up\s+(?:the|your|this)\b|\bburn\s+(?:it|the\s+\w+|your\s+\w+)\s+down\b",
    r"\bdeath\s+to\b|\bput\s+a\s+bullet\b",
)

# Violence talked about rather than threatened: negated, condemned or reported as someone else's
# words. Applied per clause, so "ik haat jullie niet, maar ik steek je neer" is still a threat.
_NEGATION_NL = re.compile(
    r"\b(?:niet|geen|nooit|niemand|nergens|zonder|not|never|no|don't|won't|wouldn't|nobody)\b"
)
# "zou niet illegaal moeten zijn" calls for violence despite its "niet".
_PERMISSION_NL = re.compile(
    r"\bniet\s+(?:illegaal|strafbaar|verboden)|\bgedecriminaliseerd|\blegaal\s+(?:zijn|worden|maken)"
)
_REPORTED = re.compile(
    r"\b(?:zeggen|zegt|zei|zeiden|gezegd|schrijven|schrijft|schreef|geschreven|beweren|beweert|"
    r"roepen|oproepen|oproep|roept|noemen|noemt|uitspraken?|berichten|bedreigingen|wensen\s+van|"
    r"tolereren|toestaan|veroordel\w*|said|says|saying|wrote|writes|tweeted|threats?\s+like|"
    r"condemn\w*)\b"
)
_QUOTED = re.compile(r'"[^"]{3,}"|\'[^\']{12,}\'')
_CLAUSES = re.compile(r"[.;!?\n]+|,\s*(?:maar|but)\b|\b(?:maar|but)\b")
_IDIOMS = re.compile(
    r"\b(?:tijd\s+(?:te\s+)?doden|de\s+tijd\s+dood|kill(?:ing)?\s+(?:the\s+)?time|"
    r"dood\s*(?:moe|ziek|stil|gewoon|leuk|eng|normaal|simpel)|doodnormaal|doodsaai|doodmoe|"
    r"doodop|lachen\s+me\s+dood|lach\s+me\s+dood|ik\s+lach\s+me|bommetje|bomvol|bomvolle|"
    r"bommel|bommelding\s+op|lijden\s+onder|last\s+van)\b"
)

_THREAT_RE = re.compile(r"\b" + _VIOLENCE_NL + r"|" + _INTIMIDATION_NL + r"|" + _THREAT_EN)
# Cheap pre-check: most messages contain none of these stems, so most never reach the clause logic.
_THREAT_HINT = re.compile(
    r"dood|doden|moord|schiet|schoten|steek|steken|stoken|slaan|sla|slacht|wurg|drink|drong|zuip|hang|"
    r"knoop|knopen|execut|exécut|roei|gas|brand|fik|blaz|bom|aanslag|martel|pijn|lijden|verkracht|"
    r"keel|kelen|nek|einde|beëindig|beeindig|val|kogel|mes|sterven|woon|langs|halen|"
    r"gewaarschuwd|geweest|pas |uit als|pak|grijp|kill|murder|shoot|stab|strangle|burn|hurt|beat|"
    r"slap|punch|find|rape|tortur|die|bullet|death|live|watch|blow|afmaken|maak"
)


def _threat(text: str) -> bool:
    if not _THREAT_HINT.search(text):
        return False
    text = _QUOTED.sub(" ", text)
    text = _IDIOMS.sub(" ", text)
    for clause in _CLAUSES.split(text):
        if not _THREAT_RE.search(clause):
            continue
        if _REPORTED.search(clause):
            continue
        if _NEGATION_NL.search(clause) and not _PERMISSION_NL.search(clause):
            continue
        return True
    return False


_ABUSE_RE = re.compile(
    r"\b(?:"
    # Dutch swearing and insults; "kanker", "tering" and "tyfus" as curses.
    r"kut\w*|klote\w*|kanker\w*|k@nker|tering\w*|tyfus\w*|pleur\w*|godverdomme|verdomme|"
    r"klootzak\w*|klootviool|lul|lullen|lulletje|eikels?|hoer\w*|slet\w*|mongool|mongolen|debiel\w*|"
    r"idioot|idioten|sukkel\w*|achterlijk\w*|randdebiel\w*|flikker\w*|schoft\w*|rotzak\w*|"
    r"oprotten|rot\s+op|opgerot|oprot|opflikkeren|flikker\s+op|kankerlijer|teringlijer|"
    r"hoerenzoon|kutwijf|trut|stomme\s+trut|loser|mafkees|oplichters?|zakkenvullers?|"
    r"zakkenwassers?|pik|gelul|lulverhaal|lulkoek|verneukt|neuk\w*|kakkerlak\w*|ongedierte|uitschot|"
    # English
    r"fuck\w*|f\*+k\w*|fck\w*|fuk\w*|wtf|stfu|shit\w*|sh\*t|bullshit|asshole\w*|a\*+hole|bastards?|"
    r"bitch\w*|dick\w*|dickhead|cunt\w*|moron\w*|idiots?|stupid|dumbass|jackass|retard\w*|"
    r"scum\w*|pathetic|crap\w*|damn|dammit|goddamn\w*|piss\w*|twat\w*|wanker\w*|prick\w*"
    r")\b"
)

_POLITICAL_RE = re.compile(
    r"\b(?:"
    r"vvd|pvv|d66|cda|pvda|groenlinks|gl-pvda|christenunie|sgp|fvd|forum\s+voor\s+democratie|"
    r"ja21|bbb|boerburgerbeweging|nsc|volt|denk|partij\s+voor\s+de\s+dieren|pvdd|"
    r"wilders|rutte|schoof|timmermans|omtzigt|baudet|yesilgoz|yeşilgöz|jetten|klaver|van\s+der\s+plas|"
    r"kabinet\w*|minister\w*|premier|staatssecretaris|tweede\s+kamer|eerste\s+kamer|kamerleden|"
    r"kamerlid|kamervragen|den\s+haag|regering\w*|politiek\w*|politici|politicus|verkiezing\w*|"
    r"stemmen\s+op|stem\s+op|links(?:e)?\s+(?:kerk|hobby|elite)|linkse|rechtse|woke|"
    r"democrats?|republicans?|gop|maga|trump\w*|biden|obama|clinton|harris|congress\w*|senat\w*|"
    r"election\w*|vote\s+(?:for|them|him|her)|liberals?|conservatives?|government|politic\w*|"
    r"parliament\w*|prime\s+minister|tories|labour\s+party|brexit"
    r")\b"
)

_LINK_RE = re.compile(r"https?://|www\.|\b(?:bit\.ly|tinyurl\.com|t\.me|wa\.me|goo\.gl)/")
_SPAM_RE = re.compile(
    r"\b(?:"
    r"bitcoin|btc|crypto\w*|ethereum|eth|usdt|nft\w*|airdrop\w*|forex|binary\s+options?|"
    r"giveaway|give\s*away|winnaar|gewonnen|win\s+(?:a|an|free|\$|€)|free\s+(?:money|iphone|gift|followers)|"
    r"gratis\s+(?:geld|iphone|followers|volgers|cadeau)|"
    r"follow\s*back|followback|f4f|volg\s+terug|volgers\s+kopen|buy\s+followers|"
    r"dm\s+(?:me|us)\s+(?:for|to\s+earn)|earn\s+\$?\d|verdien\s+€?\d|make\s+\$\d|"
    r"per\s+(?:day|dag|week)\s+(?:from|vanuit)\s+(?:home|huis)|work\s+from\s+home|thuiswerk\s+vacature|"
    r"promo\s*code|kortingscode|click\s+(?:here|the\s+link)|klik\s+(?:hier|op\s+de\s+link)|"
    r"casino|onlyfans|investment\s+opportunity|investering|guaranteed\s+(?:profit|returns?)|"
    r"gegarandeerd\s+(?:rendement|winst)|wallet|seed\s+phrase|claim\s+(?:your|je|now|nu)"
    r")\b|[$€£]\s?\d[\d.,]*\s?(?:k|per|a\s+day|p/d|daily)"
)


def _abuse(text: str) -> bool:
    return _ABUSE_RE.search(text) is not None


def _political(text: str) -> bool:
    return _POLITICAL_RE.search(text) is not None


def _spam(text: str) -> bool:
    hits = len(_SPAM_RE.findall(text))
    if hits == 0:
        return False
    return hits >= 2 or _LINK_RE.search(text) is not None


# --------------------------------------------------------------------------------------------
# Impersonation

# Characters an impersonator swaps in because they look alike; folded onto one letter.
_CONFUSABLES = str.maketrans(
    {"0": "o", "1": "l", "i": "l", "|": "l", "!": "l", "3": "e", "4": "a", "@": "a", "5": "s",
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


def _handle_core(handle: str) -> str:
    handle = unicodedata.normalize("NFKC", handle.translate(_INVISIBLE)).lower().lstrip("@")
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
    from rapidfuzz.distance import Levenshtein

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


def _flags(text: str) -> int:
    flags = 0
    if _threat(text):
        flags |= Flag.THREAT
    if _abuse(text):
        flags |= Flag.ABUSE
    if _political(text):
        flags |= Flag.POLITICAL
    if _spam(text):
        flags |= Flag.SPAM
    return flags


def _enrich_one(
    text: str, language: str, author_handle: str, author_name: str, own: tuple[str, ...]
) -> Enrichment:
    normalised = _normalise(text)
    flags = _flags(normalised)
    if own and _impersonation(author_handle, author_name, own):
        flags |= Flag.IMPERSONATION
    return Enrichment(
        language=language,
        sentiment=_sentiment_label(sentiment_score(normalised)),
        flags=int(flags),
    )


def enrich_text(
    text: str,
    *,
    author_handle: str = "",
    author_name: str = "",
    own_handles: Sequence[str] = (),
) -> Enrichment:
    """Language, sentiment and flags of one message. `own_handles`: the channel's own accounts."""
    return _enrich_one(text, detect_language(text), author_handle, author_name, tuple(own_handles))


def enrich_batch(
    items: Sequence[tuple[str, str, str]], *, own_handles: Sequence[str] = ()
) -> list[Enrichment]:
    """`enrich_text` for many (text, author_handle, author_name) items; same order as given.

    Language detection runs in lingua's parallel batch API, which releases the GIL.
    """
    own = tuple(own_handles)
    languages = _detect_languages([item[0] for item in items])
    return [
        _enrich_one(text, language, handle, name, own)
        for (text, handle, name), language in zip(items, languages, strict=True)
    ]
