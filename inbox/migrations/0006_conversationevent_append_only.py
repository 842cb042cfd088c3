"""The audit log is append-only in the database itself, not only by convention.

On PostgreSQL a trigger refuses every UPDATE and DELETE of a row of
inbox_conversationevent, whoever sends it (the app, the admin, a psql
session). TRUNCATE is left alone so test databases can still be flushed.
SQLite (the embedded default) has no such guarantee: the operation is a no-op.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION inbox_conversationevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'inbox_conversationevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS inbox_conversationevent_append_only ON inbox_conversationevent;
CREATE TRIGGER inbox_conversationevent_append_only
    BEFORE UPDATE OR DELETE ON inbox_conversationevent
    FOR EACH ROW EXECUTE FUNCTION inbox_conversationevent_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS inbox_conversationevent_append_only ON inbox_conversationevent;
DROP FUNCTION IF EXISTS inbox_conversationevent_append_only();
"""


def _on_postgres(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("inbox", "0005_merge_enrich")]

    operations = [migrations.RunPython(_on_postgres(CREATE), _on_postgres(DROP))]
