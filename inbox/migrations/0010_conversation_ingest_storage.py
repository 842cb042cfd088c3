"""Cheaper conversation writes for ingest (issue 3's budget), PostgreSQL only.

1. One GIN index over the Dutch and English tsvectors concatenated replaces the two
   per-language GIN indexes of 0005. Every conversation row version (INSERT, and every
   UPDATE that is not HOT) paid two GIN insertions; now one, with the lexemes both
   configurations share stored once. inbox.selectors.search_filter renders exactly this
   expression (SearchVector(dutch) + SearchVector(english)) and ORs the two tsqueries.
2. fillfactor 80: ingest updates stored conversations every batch (counts, last message
   time, flags), columns no index covers, so with free room on the page PostgreSQL can do
   a HOT update and skip all ~14 indexes. A full page (the default fillfactor 100) forces a
   new version in every index. Only pages written from now on get the room.
"""

from django.db import migrations

FTS_EXPRESSION = (
    "(to_tsvector('dutch'::regconfig, COALESCE(snippet, ''))"
    " || to_tsvector('english'::regconfig, COALESCE(snippet, '')))"
)
OLD = [("conv_fts_dutch_idx", "dutch"), ("conv_fts_english_idx", "english")]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS conv_fts_idx ON inbox_conversation USING gin ({FTS_EXPRESSION})"
    )
    for name, _config in OLD:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    schema_editor.execute("ALTER TABLE inbox_conversation SET (fillfactor = 80)")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("ALTER TABLE inbox_conversation RESET (fillfactor)")
    for name, config in OLD:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON inbox_conversation USING gin "
            f"(to_tsvector('{config}'::regconfig, COALESCE(snippet, '')))"
        )
    schema_editor.execute("DROP INDEX IF EXISTS conv_fts_idx")


class Migration(migrations.Migration):
    dependencies = [("inbox", "0009_merge_hardening")]

    operations = [migrations.RunPython(forwards, backwards)]
