"""The database seam: every place where PostgreSQL gets a faster form than the portable one.

Webcare runs on PostgreSQL in production and on SQLite in the embedded default, and every
path a user can reach works on both. Where PostgreSQL has a faster form (array parameters,
binary COPY, INSERT ... SELECT FROM unnest, covering indexes), it sits here, one function
per concern, beside its portable twin; callers never look at ``connection.vendor``.
Both legs of CI run the suite, so both forms are exercised.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connection, connections, models, transaction
from django.db.models.sql import UpdateQuery


def on_postgres() -> bool:
    """Whether the default connection is PostgreSQL (the fast paths below branch on it)."""
    return connection.vendor == "postgresql"


class CoveringUniqueConstraint(models.UniqueConstraint):
    """A UniqueConstraint with INCLUDE columns where the database has covering indexes
    (PostgreSQL: index-only scans), and the same unique key without them elsewhere.

    Django skips a UniqueConstraint with ``include`` entirely on SQLite, which left the
    rollups' ``INSERT ... ON CONFLICT`` without the key it names.
    """

    def _as_written(self, schema_editor) -> models.UniqueConstraint:
        """self, or where INCLUDE is not supported, the same key without it."""
        if schema_editor.connection.features.supports_covering_indexes:
            return models.UniqueConstraint(
                fields=self.fields, name=self.name, condition=self.condition, include=self.include
            )
        return models.UniqueConstraint(fields=self.fields, name=self.name, condition=self.condition)

    def constraint_sql(self, model, schema_editor):
        return self._as_written(schema_editor).constraint_sql(model, schema_editor)

    def create_sql(self, model, schema_editor):
        return self._as_written(schema_editor).create_sql(model, schema_editor)

    def remove_sql(self, model, schema_editor):
        return self._as_written(schema_editor).remove_sql(model, schema_editor)


def update_returning_pks(queryset: models.QuerySet, **values) -> list:
    """queryset.update(**values) in one statement, returning the primary keys of the rows it
    changed (UPDATE ... RETURNING: PostgreSQL, and SQLite since 3.35).

    A select-then-update would let two workers both claim the same rows; this is the
    conditional UPDATE that claims them, with the queryset as the one description of which.
    """
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    sql, params = query.get_compiler(queryset.db).as_sql()
    if not sql:
        return []
    pk = queryset.model._meta.pk.column
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {connection.ops.quote_name(pk)}", params)
        return [row[0] for row in cursor.fetchall()]


@contextmanager
def audit_scrub():
    """Let the audit log's trigger pass erasure's UPDATE of the events' data column (and
    nothing else) for the body of this block: inbox migrations 0011 (PostgreSQL, a
    transaction-local setting) and 0016 (SQLite, a flag row no other connection sees).

    A savepoint of its own: if the body fails, rolling it back switches the permission off
    again on both databases, with no statement to run in a failed transaction."""
    if on_postgres():
        on = "SELECT set_config('webcare.audit_scrub', 'on', true)"
        off = "SELECT set_config('webcare.audit_scrub', 'off', true)"
    else:
        on = "INSERT INTO webcare_audit_scrub (on_) VALUES (1)"
        off = "DELETE FROM webcare_audit_scrub"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(on)
        yield
        cursor.execute(off)
