"""PostgreSQL helpers for the set-based hot paths (ingest and its SLA hooks).

Django's own cursor binds parameters client-side: it quotes every element of a
5,000-element array into the SQL text in Python, and its model iterator adds
converters and related-object plumbing per row. At ingest's volume those cost
more than the statements themselves; these helpers send arrays as parameters
and read rows in PostgreSQL's binary format, on Django's connection (so inside
the caller's transaction).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, TypeVar

import psycopg
from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


class _LoggedCursor(psycopg.Cursor):
    """A psycopg cursor whose statements Django counts like its own (connection.queries_log,
    which django_assert_num_queries and CaptureQueriesContext read): a fast path that hid its
    statements from those would make every query-count test on PostgreSQL undercount."""

    def execute(self, query, params=None, **kwargs):
        if not connection.queries_logged:
            return super().execute(query, params, **kwargs)
        start = time.monotonic()
        try:
            return super().execute(query, params, **kwargs)
        finally:
            connection.queries_log.append(
                {"sql": str(query), "time": f"{time.monotonic() - start:.3f}"}
            )

    def copy(self, statement, *args, **kwargs):
        if connection.queries_logged:
            connection.queries_log.append({"sql": str(statement), "time": "0.000"})
        return super().copy(statement, *args, **kwargs)


def pg_cursor() -> psycopg.Cursor:
    """A server-side-binding psycopg cursor on Django's connection (same transaction)."""
    connection.ensure_connection()
    return _LoggedCursor(connection.connection)


def fetch_instances(
    model: type[M], fields: Sequence[str], where: str, params: Sequence[Any]
) -> list[M]:
    """Instances of model with only `fields` (attnames) loaded, as .only() would give them.

    `where` is the SQL after WHERE (it may end in ORDER BY / FOR UPDATE), with %s
    placeholders for params. A field left out is deferred (reading it costs a query), so
    callers list everything they read. Only fields without a database converter are
    accepted (JSON and the like need Django's own loading).
    """
    meta = model._meta
    wanted = {meta.get_field(name) for name in fields}
    columns, attnames = [], []
    # from_db takes the values in the model's field order, whatever the order of the names.
    for field in (f for f in meta.concrete_fields if f in wanted):
        if hasattr(field, "from_db_value") or field.get_db_converters(connection):
            raise ValueError(f"{model.__name__}.{field.name} needs Django's loading")
        columns.append(connection.ops.quote_name(field.column))
        attnames.append(field.attname)
    sql = (
        f"SELECT {', '.join(columns)} FROM {connection.ops.quote_name(meta.db_table)} WHERE {where}"
    )
    with pg_cursor() as cur:
        cur.execute(sql, params, binary=True)
        rows = cur.fetchall()
    db = connection.alias
    return [model.from_db(db, attnames, row) for row in rows]
