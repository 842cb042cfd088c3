"""Migration operations for tables that stay busy while a release migrates them."""

from django.db.migrations.operations import AddIndex


class AddIndexOnline(AddIndex):
    """AddIndex that PostgreSQL builds CONCURRENTLY: a plain CREATE INDEX blocks every write to
    the table while it reads all rows, and ingest writes to the conversations table all day.
    Needs a migration with atomic = False. Other databases (SQLite, the embedded default) get
    the plain CREATE INDEX."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)
