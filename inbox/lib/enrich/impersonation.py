"""Impersonation: an author whose handle or name looks like one of the channel's own accounts.

Handles are folded to a core before they are compared: invisible characters dropped, lookalike
characters (digits, symbols, Cyrillic and Greek letters) folded onto the letter they imitate,
and the words impersonators add around a brand name ("official", "support") removed. A core
equal to ours, or close to it by edit distance, is an impersonation.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from rapidfuzz.distance import Levenshtein

from inbox.lib.enrich.text import INVISIBLE
from inbox.lib.enrich.wordlists import char_map, entries

_LOOKALIKES = str.maketrans(char_map("impersonation/lookalikes.txt"))
_CYRILLIC_GREEK = str.maketrans(char_map("impersonation/cyrillic-greek.txt"))
# The decorations are folded like the handles they are removed from, longest first.
_DECORATION_RE = re.compile(
    "|".join(
        sorted(
            (w.translate(_LOOKALIKES) for w in entries("impersonation/decorations.txt")),
            key=len,
            reverse=True,
        )
    )
    + "|[^a-z]"
)
_IMPERSONATION_SIMILARITY = 0.84


@functools.lru_cache(maxsize=65536)
def _handle_core(handle: str) -> str:
    handle = unicodedata.normalize("NFKC", handle.translate(INVISIBLE)).lstrip("@")
    # A capital I is an l in most fonts ("KIM" for "KLM"); a small i is not.
    handle = handle.replace("I", "l").lower()
    # Non-Latin lookalikes fold onto ASCII via their skeleton.
    handle = handle.translate(_CYRILLIC_GREEK)
    handle = handle.replace("rn", "m").replace("vv", "w")
    return _DECORATION_RE.sub("", handle.translate(_LOOKALIKES))


@functools.lru_cache(maxsize=256)
def _own_cores(own_handles: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    exact = frozenset(h.lower().lstrip("@") for h in own_handles if h)
    cores = tuple(c for c in (_handle_core(h) for h in own_handles if h) if len(c) >= 2)
    return exact, cores


def is_impersonation(author_handle: str, author_name: str, own_handles: tuple[str, ...]) -> bool:
    """Whether the author's handle or name imitates one of `own_handles` (and is not one)."""
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
