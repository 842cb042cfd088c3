"""The database seam: every place where PostgreSQL gets a faster form than the portable one.

Webcare runs on PostgreSQL in production and on SQLite in the embedded default, and every
path a user can reach works on both. Where PostgreSQL has a faster form (array parameters,
binary COPY, INSERT ... SELECT FROM unnest, covering indexes), it sits here, one function
per concern, beside its portable twin; callers never look at ``connection.vendor``.
Both legs of CI run the suite, so both forms are exercised.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from django.db import connection, connections, models, transaction
from django.db.models.sql import UpdateQuery

M = TypeVar("M", bound=models.Model)


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
                fields=self.fields,
                name=self.name,
                condition=self.condition,
                include=self.include,  # type: ignore[attr-defined]  # django-stubs lacks .include
            )
        return models.UniqueConstraint(fields=self.fields, name=self.name, condition=self.condition)

    def _check(self, model, connection):
        # Django warns (models.W039) that SQLite would skip the constraint; this one does not.
        return [e for e in super()._check(model, connection) if e.id != "models.W039"]

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
    assert isinstance(query, UpdateQuery)
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
    nothing else) for the body of this block: inbox's initial migration carries both triggers
    (PostgreSQL: a transaction-local setting; SQLite: a flag row no other connection sees).

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


@models.Field.register_lookup
class InArray(models.Lookup):
    """``field__in_array=values``: ``field IN values``, with the values sent as ONE parameter
    (PostgreSQL: ``= ANY(%s)`` with an array; elsewhere ``IN (SELECT value FROM json_each(%s))``).

    Ingest asks for thousands of ids per batch. Django's ``__in`` builds and binds one
    placeholder per value (slow to build and bind for thousands, and SQLite allows 999
    placeholders a statement); one array parameter does not grow with them.
    """

    lookup_name = "in_array"
    prepare_rhs = False

    def _values(self, connection) -> list:
        field = self.lhs.output_field
        return [field.get_db_prep_value(v, connection, prepared=False) for v in self.rhs]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = json.dumps(self._values(connection), default=str)
        return f"{lhs} IN (SELECT value FROM json_each(%s))", [*lhs_params, values]

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*lhs_params, self._values(connection)]


# Lookups on a foreign key (``conversation_id__in_array``) are looked up on ForeignObject only.
models.ForeignObject.register_lookup(InArray)


# --- PostgreSQL's binary, server-side-binding cursor -----------------------------------------


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
    """A server-side-binding psycopg cursor on Django's connection (same transaction), for the
    PostgreSQL halves of the functions here. Django's own cursor binds parameters client-side:
    it quotes every element of a 5,000-element array into the SQL text in Python."""
    connection.ensure_connection()
    return _LoggedCursor(connection.connection)


# --- Reads -----------------------------------------------------------------------------------


def fetch_rows(queryset: models.QuerySet) -> list[tuple]:
    """list(queryset) of a values_list() queryset; on PostgreSQL read in binary through
    pg_cursor (Django's row iterator costs more than the query at ingest's thousands of rows).
    The ORM compiles the query either way. Values come as the driver gives them: for fields
    with a database converter (JSON and the like) use the queryset itself."""
    if not on_postgres():
        return list(queryset)
    sql, params = queryset.query.get_compiler(queryset.db).as_sql()
    with pg_cursor() as cur:
        cur.execute(sql, params, binary=True)
        return cur.fetchall()


def fetch_instances(queryset: models.QuerySet[M], fields: Sequence[str]) -> list[M]:
    """queryset.only(*fields) as instances; on PostgreSQL their values read by fetch_rows.

    Only fields without a database converter are accepted (JSON and the like need Django's
    own loading)."""
    if not on_postgres():
        return list(queryset.only(*fields))
    model = queryset.model
    meta = model._meta
    wanted = {meta.get_field(name) for name in fields}
    attnames = []
    # from_db takes the values in the model's field order, whatever the order of the names.
    for f in (f for f in meta.concrete_fields if f in wanted):
        if hasattr(f, "from_db_value") or f.get_db_converters(connection):
            raise ValueError(f"{model.__name__}.{f.name} needs Django's loading")
        attnames.append(f.attname)
    rows = fetch_rows(queryset.values_list(*attnames))
    return [model.from_db(queryset.db, attnames, row) for row in rows]


# --- Bulk writes -----------------------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")


def json_for_storage(value: Any) -> str:
    """value as the JSON text both databases store: NaN and Infinity (which Python's JSON
    reads and jsonb refuses) as strings, no NUL, lone surrogates as U+FFFD. One such payload
    used to fail its whole ingest batch (found by tests/fuzz)."""
    try:
        text = json.dumps(value or {}, default=str, ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(value or {}), default=str, ensure_ascii=False)
    return _SURROGATE.sub("\ufffd", text.replace("\\u0000", ""))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def plain(value: Any) -> Any:
    """value as psycopg dumps it in an array (TextChoices members are str subclasses it cannot)."""
    return str(value) if isinstance(value, str) else value


def bulk_insert(
    model: type[models.Model],
    values: dict[str, list[Any]],
    *,
    now: datetime,
    conflict_target: tuple[str, ...] = (),
    returning: tuple[str, ...] = (),
) -> list[tuple]:
    """Insert rows given as columns (attname -> list, all the same length). Fields not given
    take their default (auto_now fields: `now`, which callers take from the clock). JSON values
    are stored as json_for_storage.

    With conflict_target, rows whose key exists already are skipped (ON CONFLICT DO NOTHING).
    Returns the `returning` columns of the rows actually inserted, in input order.

    PostgreSQL: one INSERT ... SELECT FROM unnest(arrays), the arrays sent in binary (50-57k
    rows/s here against bulk_create's 13-16k). Elsewhere bulk_create, reading back which
    rows were new.
    """
    n = len(next(iter(values.values())))
    if n == 0:
        return []
    json_names = {
        f.attname for f in model._meta.concrete_fields if isinstance(f, models.JSONField)
    } & values.keys()
    if on_postgres():
        return _pg_insert(model, values, json_names, n, now, conflict_target, returning)
    for name in json_names:
        values = {**values, name: [json.loads(json_for_storage(v)) for v in values[name]]}
    objs = [model(**{name: col[i] for name, col in values.items()}) for i in range(n)]
    if not conflict_target:
        model._default_manager.bulk_create(objs, batch_size=500)
        return [tuple(getattr(o, "pk" if r == "id" else r) for r in returning) for o in objs]
    keys = [tuple(getattr(o, a) for a in conflict_target) for o in objs]
    key_filter = _key_filter(conflict_target, keys)
    before = set(model._default_manager.filter(key_filter).values_list(*conflict_target))
    model._default_manager.bulk_create(objs, ignore_conflicts=True, batch_size=500)
    fresh = [k for k in keys if k not in before]
    if not fresh or not returning:
        return []
    found = {
        tuple(row[: len(conflict_target)]): row[len(conflict_target) :]
        for row in model._default_manager.filter(_key_filter(conflict_target, fresh)).values_list(
            *conflict_target, *returning
        )
    }
    return [found[k] for k in fresh if k in found]


def _key_filter(names: tuple[str, ...], keys: list[tuple]) -> models.Q:
    """Rows whose (names) is one of keys: the last name as one array parameter per value of
    the others (ingest's keys are (channel, external id): one channel a batch)."""
    by_prefix: dict[tuple, list] = {}
    for key in keys:
        by_prefix.setdefault(key[:-1], []).append(key[-1])
    q = models.Q(pk__in=[])
    for prefix, last in by_prefix.items():
        q |= models.Q(
            **dict(zip(names[:-1], prefix, strict=True)), **{f"{names[-1]}__in_array": last}
        )
    return q


def _pg_insert(model, values, json_names, n, now, conflict_target, returning) -> list[tuple]:
    meta = model._meta
    qn = connection.ops.quote_name
    columns: list[str] = []
    selects: list[str] = []
    scalar_params: list[Any] = []
    arrays: list[tuple[Any, str]] = []
    aliases: list[str] = []
    for f in meta.concrete_fields:
        if f.primary_key:
            continue
        db_type = f.db_type(connection)
        columns.append(qn(f.column))
        if f.attname in values:
            alias = f"c{len(aliases)}"
            aliases.append(alias)
            col = values[f.attname]
            if f.attname in json_names:
                arrays.append((_json_texts(col), "text[]"))
                selects.append(f"u.{alias}::jsonb")
            else:
                arrays.append(([plain(v) for v in col], f"{db_type}[]"))
                selects.append(f"u.{alias}")
        else:
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                default = now
            else:
                default = f.get_default()
            scalar_params.append(f.get_db_prep_save(default, connection))
            selects.append(f"%s::{db_type}")
    sql = (
        f"INSERT INTO {qn(meta.db_table)} ({', '.join(columns)}) "
        f"SELECT {', '.join(selects)} "
        f"FROM unnest({', '.join(f'%b::{t}' for _, t in arrays)}) AS u({', '.join(aliases)})"
    )
    if conflict_target:
        targets = ", ".join(qn(meta.get_field(a).column) for a in conflict_target)
        sql += f" ON CONFLICT ({targets}) DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(qn(meta.get_field(r).column) for r in returning)
    with pg_cursor() as cur:
        cur.execute(sql, scalar_params + [col for col, _ in arrays])
        # INSERT ... SELECT FROM unnest returns the rows in input order.
        return cur.fetchall() if returning else []


def _json_texts(column: list) -> list[str]:
    """json_for_storage of each value; a batch often repeats one object (the calendar snapshot
    its clocks share), whose text is made once."""
    texts: dict[int, str] = {}
    out = []
    for value in column:
        text = texts.get(id(value))
        if text is None:
            text = texts[id(value)] = json_for_storage(value)
        out.append(text)
    return out


_PG_ARRAY_TYPES = {"DateTimeField": "timestamptz", "CharField": "text"}


def bulk_update(model: type[models.Model], objs: Sequence[models.Model], fields: list[str]) -> None:
    """One UPDATE of these fields (plain values, no expressions) for many rows: PostgreSQL
    UPDATE ... FROM unnest(arrays) for the field types it knows; otherwise, and on SQLite, one
    prepared UPDATE run for each row (executemany). Django's bulk_update builds a CASE per
    field and row, whose expressions cost more Python than the update itself."""
    if not objs:
        return
    meta = model._meta
    types = [_PG_ARRAY_TYPES.get(meta.get_field(f).get_internal_type()) for f in fields]
    if not on_postgres() or None in types:
        _update_each(model, objs, fields)
        return
    qn = connection.ops.quote_name
    columns = [_column(model, f) for f in fields]
    sets = ", ".join(f"{qn(c)} = u.{qn(c)}" for c in columns)
    arrays = ", ".join(f"%s::{t}[]" for t in ["bigint", *types])
    pk = qn(_column(model, "pk"))
    sql = (
        f"UPDATE {qn(meta.db_table)} AS t SET {sets} FROM unnest({arrays})"
        f" AS u(pk, {', '.join(qn(c) for c in columns)}) WHERE t.{pk} = u.pk"
    )
    params = [[o.pk for o in objs]] + [[plain(getattr(o, f)) for o in objs] for f in fields]
    with pg_cursor() as cur:
        cur.execute(sql, params)


def _update_each(model: type[models.Model], objs: Sequence[models.Model], fields: list[str]):
    meta = model._meta
    qn = connection.ops.quote_name
    columns = [_concrete_field(model, name) for name in fields]
    sets = ", ".join(f"{qn(_column(model, name))} = %s" for name in fields)
    sql = f"UPDATE {qn(meta.db_table)} SET {sets} WHERE {qn(_column(model, 'pk'))} = %s"
    rows = [
        [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns] + [obj.pk]
        for obj in objs
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def insert_rows(table: str, columns: dict[str, str], rows: list[tuple], conflict: str) -> None:
    """INSERT rows (tuples in the order of columns; columns maps name -> PostgreSQL type)
    into table, then the ON CONFLICT clause. Keys must be unique within rows (ON CONFLICT DO
    UPDATE touches a row once per statement).

    PostgreSQL: binary COPY into a scratch table and one INSERT ... SELECT (executemany sends
    an INSERT per row; binary COPY rows cost the client a fraction of array parameters).
    Elsewhere executemany, the values adapted as Django adapts them.
    """
    if not rows:
        return
    names = ", ".join(columns)
    if on_postgres():
        scratch = f"scratch_{table}"
        with pg_cursor() as cur:
            cur.execute(
                f"CREATE TEMP TABLE {scratch} ({', '.join(map(' '.join, columns.items()))})"
            )
            with cur.copy(f"COPY {scratch} FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(list(columns.values()))
                for row in rows:
                    copy.write_row(row)
            cur.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {scratch} {conflict}")
            cur.execute(f"DROP TABLE {scratch}")
        return
    adapt = {
        "timestamptz": connection.ops.adapt_datetimefield_value,
        "date": connection.ops.adapt_datefield_value,
    }
    adapters = [adapt.get(kind) for kind in columns.values()]
    with connection.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))}) {conflict}",
            [[f(v) if f else v for f, v in zip(adapters, row, strict=True)] for row in rows],
        )


def _concrete_field(model: type[models.Model], name: str) -> models.Field:
    """The field stored in a column of model's table ("pk" for the primary key)."""
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.column:
        raise ValueError(f"{model.__name__}.{name} is not a column")
    return field


def _column(model: type[models.Model], name: str) -> str:
    column = _concrete_field(model, name).column
    assert column  # _concrete_field checked
    return column
