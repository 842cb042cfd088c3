"""Pure rules of the inbox, with no database and no I/O: enrichment (language, sentiment,
flags), spike statistics, and reply text. Fast to test, safe to run on a batch."""
