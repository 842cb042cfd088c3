"""The database seam: every place where PostgreSQL gets a faster form than the portable one.

Webcare runs on PostgreSQL in production and on SQLite in the embedded default, and every
path a user can reach works on both. Where PostgreSQL has a faster form (array parameters,
binary COPY, INSERT ... SELECT FROM unnest, covering indexes), it sits here, one function
per concern, beside its portable twin; callers never look at ``connection.vendor``.
Both legs of CI run the suite, so both forms are exercised.
"""

from __future__ import annotations

from django.db import connection, models


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
