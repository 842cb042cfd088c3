"""Django's SQLite backend, and one thing more: flush may empty the append-only audit log.

On PostgreSQL the audit trigger leaves TRUNCATE alone, so `manage.py flush` (and the test
runner between transactional tests) can still empty the database. SQLite has no TRUNCATE:
flush is DELETE FROM, which the audit trigger refuses (inbox's initial migration). So flush's
statements are bracketed by the flag row that lets a DELETE through, as TRUNCATE passes on
PostgreSQL; nothing else may delete an event.
"""

from django.db.backends.sqlite3 import base, operations

AUDIT_TABLE = "inbox_conversationevent"
FLAG_TABLE = "webcare_audit_scrub"
FLUSHING = 2  # the flag value the delete trigger lets through (1 is erasure's scrub)


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = super().sql_flush(
            style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        if AUDIT_TABLE not in tables:
            return statements
        return [
            f"INSERT INTO {FLAG_TABLE} (on_) VALUES ({FLUSHING})",
            *statements,
            f"DELETE FROM {FLAG_TABLE}",
        ]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
