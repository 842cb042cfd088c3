"""Normalisation and tokenisation of a message text, shared by language, sentiment and flags.

Per message there is one normalisation and one tokenisation; both have an ASCII fast path
because most messages are plain ASCII and character classes over the whole of Unicode are
what makes a regex slow.
"""

from __future__ import annotations

import re
import unicodedata

# Zero-width and bidi control characters are used to slip words past filters ("k\u200bill").
INVISIBLE = dict.fromkeys(
    [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C]
    + [0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069]
)
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"'})


def normalise(text: str) -> str:
    """Lower-cased text without invisible characters, with plain quotes and folded letters."""
    if not text.isascii():
        text = text.translate(INVISIBLE).translate(_QUOTES)
        # NFKC folds full-width and "mathematical" letters (𝐤𝐢𝐥𝐥) onto plain ones.
        text = unicodedata.normalize("NFKC", text)
    text = text.lower()
    if "&" in text:
        text = text.replace("&amp;", "&").replace("&gt;", ">").replace("&lt;", "<")
    return text


# One tokenisation per message serves sentiment and the language fast path: words, and mentions
# as one token ("@united" is not the word "united", which VADER scores +1.8). Link fragments
# come out as junk words that match nothing. Emoticons and emoji are collected separately and
# only when the text can hold any.
_WORDS_ASCII_RE = re.compile(r"[@a-z][a-z]*(?:'[a-z]+)*", re.ASCII)
_WORDS_RE = re.compile(r"[@\w][^\W\d_]*(?:['’][^\W\d_]+)*")
_EMOTICON_RE = re.compile(r"<3|[:;=][-o^']?[()\[\]dp/\\|*]+")
_EMOJI_RE = re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]")


def tokenise(normalised: str) -> list[str]:
    """Words, mentions, emoji and emoticons of a normalised text, in that order."""
    if normalised.isascii():
        tokens = _WORDS_ASCII_RE.findall(normalised)
    else:
        tokens = _WORDS_RE.findall(normalised)
        tokens += _EMOJI_RE.findall(normalised)
    if ":" in normalised or ";" in normalised or "<3" in normalised or "=" in normalised:
        tokens += _EMOTICON_RE.findall(normalised)
    return tokens
