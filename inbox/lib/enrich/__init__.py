"""Enrichment of incoming messages: language, sentiment and flags. Pure functions, no DB.

The ingest service calls `enrich_batch` for every batch it upserts, so this package is on the
hot path (budget: >= 15,000 items/s on one core). Everything expensive (the lingua detector, the
lexicons, the compiled patterns) is built once and reused; per item there is one lower-casing,
one tokenisation and a handful of precompiled regex searches.

- text.py: normalisation (invisible characters, lookalike letters) and tokenisation;
- language.py: function words of our languages first, lingua for the rest;
- sentiment.py: a VADER-style lexicon scorer with English and Dutch valences;
- flags.py: threat, abuse, political and spam patterns behind an Aho-Corasick pre-filter;
- impersonation.py: an author imitating one of the channel's own accounts;
- analysis.py: `enrich_text` and `enrich_batch`, which combine them;
- wordlists.py and words/: the word lists, lexicons and patterns as text files.
"""

from inbox.lib.enrich.analysis import Enrichment, enrich_batch, enrich_text
from inbox.lib.enrich.language import detect_language
from inbox.lib.enrich.sentiment import sentiment_score

__all__ = ["Enrichment", "enrich_batch", "enrich_text", "detect_language", "sentiment_score"]
