"""Migration operations the project needs beyond Django's own."""

from django.db import migrations


class RunSQLOn(migrations.RunSQL):
    """RunSQL on one database vendor only ("postgresql" or "sqlite"); a no-op on the other.

    What the models cannot express is often written differently per database (a plpgsql
    trigger against SQLite's, a GIN index PostgreSQL alone has). Django's RunSQL runs on every
    database; RunPython with a vendor check would hide the SQL from `sqlmigrate`. Give the
    statements as a list: each runs as written, so a body with semicolons stays whole.
    """

    def __init__(self, vendor, sql, reverse_sql=None, **kwargs):
        self.vendor = vendor
        super().__init__(sql, reverse_sql, **kwargs)

    def deconstruct(self):
        name, args, kwargs = super().deconstruct()
        return name, args, {"vendor": self.vendor, **kwargs}

    def describe(self):
        return f"Raw SQL operation on {self.vendor} only"

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == self.vendor:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == self.vendor:
            super().database_backwards(app_label, schema_editor, from_state, to_state)
