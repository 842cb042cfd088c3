"""Migration operations for tables that stay busy while a release migrates them."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db.migrations.operations import AddIndex


class AddIndexOnline(AddIndexConcurrently):
    """Django's AddIndexConcurrently on PostgreSQL: a plain CREATE INDEX blocks every write to
    the table while it reads all rows, and ingest writes to the conversations table all day.
    Needs a migration with atomic = False. Other databases (SQLite, the embedded default) have
    no CONCURRENTLY and get AddIndex's plain CREATE INDEX."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)
