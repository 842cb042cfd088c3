"""The audit log is append-only on SQLite too (the embedded default), as on PostgreSQL.

PostgreSQL has had its trigger since 0006 (with 0011's one narrow way to change: erasure
scrubbing the data column). SQLite gets the same rules as two triggers. SQLite has no
session setting a trigger can read, so the scrub's permission is a row in a one-column
table that inbox.services.privacy inserts and deletes inside its own transaction
(webcare.db.audit_scrub): no other connection ever sees it. Flush, SQLite's TRUNCATE, sets
the row to 2 around its DELETEs (webcare.sqlite, the project's SQLite backend).
"""

from django.db import migrations

FLAG_TABLE = "webcare_audit_scrub"

CREATE = [
    f"CREATE TABLE IF NOT EXISTS {FLAG_TABLE} (on_ integer NOT NULL)",
    f"""
    CREATE TRIGGER IF NOT EXISTS inbox_conversationevent_no_delete
    BEFORE DELETE ON inbox_conversationevent
    WHEN NOT EXISTS (SELECT 1 FROM {FLAG_TABLE} WHERE on_ = 2)
    BEGIN
        SELECT RAISE(ABORT, 'inbox_conversationevent is append-only: DELETE refused');
    END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS inbox_conversationevent_no_update
    BEFORE UPDATE ON inbox_conversationevent
    WHEN NOT (
        EXISTS (SELECT 1 FROM {FLAG_TABLE} WHERE on_ = 1)
        AND NEW.id = OLD.id
        AND NEW.conversation_id = OLD.conversation_id
        AND NEW.actor_id IS OLD.actor_id
        AND NEW.kind = OLD.kind
        AND NEW.created_at = OLD.created_at
        AND OLD.kind NOT IN ('privacy_export', 'privacy_erasure')
    )
    BEGIN
        SELECT RAISE(ABORT, 'inbox_conversationevent is append-only: UPDATE refused');
    END
    """,
]
DROP = [
    "DROP TRIGGER IF EXISTS inbox_conversationevent_no_update",
    "DROP TRIGGER IF EXISTS inbox_conversationevent_no_delete",
    f"DROP TABLE IF EXISTS {FLAG_TABLE}",
]


def _on_sqlite(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "sqlite":
            for sql in statements:
                schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("inbox", "0015_team_queue_index")]

    operations = [migrations.RunPython(_on_sqlite(CREATE), _on_sqlite(DROP))]
