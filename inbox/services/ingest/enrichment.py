"""Enrichment of new inbound messages (language, sentiment, flags, "needs a reply"), pure and
fail-safe: a message the enrichers choke on is stored unenriched."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.conf import settings

from inbox.channels.base import IncomingMessage
from inbox.lib.assist.needs_reply import Model, load_model
from inbox.lib.assist.needs_reply import score as needs_reply
from inbox.models import (
    Sentiment,
)
from inbox.services.ingest.cleaning import clip
from inbox.services.ingest.records import Enriched

if TYPE_CHECKING:
    from inbox.lib.enrich.analysis import Enrichment

logger = logging.getLogger(__name__)


def enrich_messages(
    messages: list[IncomingMessage], own_handles: tuple[str, ...]
) -> dict[str, Enriched]:
    """external id -> Enriched for inbound messages. Pure: no database.

    One batch call; if it fails, message by message, so one message the enrichers choke on
    costs only its own enrichment (logged, and counted by _store).
    """
    from inbox.lib.enrich import enrich_batch

    inbound = [m for m in messages if not m.is_own]
    if not inbound:
        return {}
    items = [(m.text or "", m.author_handle, m.author_name) for m in inbound]
    try:
        results: Sequence[Enrichment | Exception] = enrich_batch(items, own_handles=own_handles)
    except Exception:
        logger.exception("enrichment of %s messages failed; retrying one by one", len(items))
        one_by_one: list[Enrichment | Exception] = []
        for message, item in zip(inbound, items, strict=True):
            try:
                one_by_one.extend(enrich_batch([item], own_handles=own_handles))
            except Exception as exc:
                logger.exception("enrichment of message %r failed", message.external_id)
                one_by_one.append(exc)
        results = one_by_one
    out: dict[str, Enriched] = {}
    # As in enrich_batch: a batch repeats texts (retweets, campaigns), each is scored once.
    hints: dict[tuple[str, str, str], tuple[int | None, str, str]] = {}
    for m, e in zip(inbound, results, strict=True):
        key = clip(m.external_id, 255)
        if isinstance(e, Exception):
            out[key] = ("", Sentiment.NEUTRAL, 0, f"{type(e).__name__}: {e}", None, "")
            continue
        language = (e.language or "")[:8]
        sentiment = e.sentiment or Sentiment.NEUTRAL
        text_key = (m.text or "", language, str(sentiment))
        if text_key not in hints:
            try:
                hint = needs_reply(text_key[0], language, sentiment=sentiment, model=_model())
                hints[text_key] = (hint.score, ",".join(hint.reasons), "")
            except Exception as exc:
                # A hint, not a gate: the message is stored with its other enrichment.
                logger.exception("needs-reply scoring of message %r failed", m.external_id)
                hints[text_key] = (None, "", f"needs reply: {type(exc).__name__}: {exc}")
        score, reasons, error = hints[text_key]
        out[key] = (language, sentiment, int(e.flags or 0), error, score, reasons)
    return out


def _model() -> Model:
    """The model settings.NEEDS_REPLY_MODEL names (the shipped one when empty), read once."""
    return load_model(settings.NEEDS_REPLY_MODEL or "")
