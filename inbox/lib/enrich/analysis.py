"""The entry points: `enrich_text` for one message, `enrich_batch` for an ingest batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from inbox.lib.enrich.flags import flag_bits
from inbox.lib.enrich.impersonation import is_impersonation
from inbox.lib.enrich.language import language_by_function_words, language_by_lingua
from inbox.lib.enrich.sentiment import score_tokens, sentiment_label
from inbox.lib.enrich.text import normalise, tokenise
from inbox.models import Flag


@dataclass(frozen=True, slots=True)
class Enrichment:
    language: str  # ISO 639-1 ("nl", "en", ...) or "" when unsure
    sentiment: str  # "negative" | "neutral" | "positive" (inbox.models.Sentiment values)
    flags: int  # bits of inbox.models.Flag


def _analyse(
    text: str, author_handle: str, author_name: str, own: tuple[str, ...]
) -> tuple[str | None, str, int]:
    """(language if the fast path decides it, sentiment, flags) of one message."""
    language, sentiment, flags = _analyse_text(text)
    if own and is_impersonation(author_handle, author_name, own):
        flags |= Flag.IMPERSONATION
    return language, sentiment, int(flags)


def _analyse_text(text: str) -> tuple[str | None, str, int]:
    """What depends on the text alone (no author): language by the fast path, sentiment, flags."""
    normalised = normalise(text)
    tokens = tokenise(normalised)
    flags = flag_bits(normalised)
    language = language_by_function_words(tokens, normalised)
    sentiment = sentiment_label(score_tokens(tokens, normalised.count("!")))
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
        language = language_by_lingua([text])[0]
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
                hit = impersonating[key] = bool(is_impersonation(handle, name, own))
            if hit:
                result = (result[0], result[1], int(result[2] | Flag.IMPERSONATION))
        analysed.append(result)
    undecided = list(dict.fromkeys(items[i][0] for i, a in enumerate(analysed) if a[0] is None))
    by_lingua = dict(zip(undecided, language_by_lingua(undecided), strict=True))
    languages = {i: by_lingua[items[i][0]] for i, a in enumerate(analysed) if a[0] is None}
    return [
        Enrichment(
            language=language if language is not None else languages[i],
            sentiment=sentiment,
            flags=flags,
        )
        for i, (language, sentiment, flags) in enumerate(analysed)
    ]
