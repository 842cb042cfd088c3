"""The migrations (one initial set per app) build the database the models describe, plus what
the models cannot say, carried by hand: the append-only audit log, the seed lists, the reports'
index on message time and, on PostgreSQL, full-text search's GIN index and the conversation
table's fillfactor. Every test runs on both legs: the suite's own database is the fresh migrate
these tests inspect."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.models import F, OrderBy

from inbox.models import Conversation, ConversationEvent, HouseRule, NoReplyReason
from inbox.selectors.inbox import search_filter

ROOT = Path(__file__).resolve().parents[2]
PROJECT_APPS = ("accounts", "inbox", "routing", "reports")
NO_REPLY_REASONS = ["Political remark", "Spam", "Handled elsewhere", "Praise acknowledged"]
HOUSE_RULES = [
    "No threats or intimidation",
    "No discrimination or hate",
    "No personal data of others",
    "No spam or advertising",
]


@pytest.mark.django_db
def test_the_migrations_describe_the_models():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit:
        pytest.fail(f"the models have changes no migration describes:\n{out.getvalue()}")


def project_models():
    for label in PROJECT_APPS:
        yield from apps.get_app_config(label).get_models(include_auto_created=True)


def columns(model, index) -> list[str | None]:
    """The columns the database lists for an index or unique constraint: its key, then its
    INCLUDE columns where the database has covering indexes. An expression index lists the
    column of a plain field reference and None for any other expression."""
    if getattr(index, "expressions", ()):
        listed: list[str | None] = []
        for expression in index.expressions:
            inner = expression.expression if isinstance(expression, OrderBy) else expression
            is_column = isinstance(inner, F)
            listed.append(model._meta.get_field(inner.name).column if is_column else None)
        return listed
    names = [*index.fields]
    if connection.features.supports_covering_indexes:
        names += index.include
    return [model._meta.get_field(name.lstrip("-")).column for name in names]


@pytest.mark.django_db
def test_the_database_has_the_models_columns_indexes_and_constraints():
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
        for model in project_models():
            table = model._meta.db_table
            assert table in tables
            described = {
                c.name: c for c in connection.introspection.get_table_description(cursor, table)
            }
            fields = {f.column: f for f in model._meta.local_concrete_fields}
            assert set(described) == set(fields), table
            nullable = {name for name, c in described.items() if c.null_ok}
            assert nullable == {name for name, f in fields.items() if f.null}, table

            in_db = connection.introspection.get_constraints(cursor, table)
            for index in model._meta.indexes:
                assert index.name in in_db, (table, index.name)
                assert in_db[index.name]["columns"] == columns(model, index)
            for constraint in model._meta.constraints:
                assert constraint.name in in_db, (table, constraint.name)
                if getattr(constraint, "fields", ()):
                    assert in_db[constraint.name]["columns"] == columns(model, constraint)
                    assert in_db[constraint.name]["unique"]


@pytest.mark.django_db
def test_the_audit_log_refuses_update_and_delete(conversation):
    event = ConversationEvent.objects.create(conversation=conversation, kind="note", data={})
    for sql in (
        "UPDATE inbox_conversationevent SET data = '{}' WHERE id = %s",
        "DELETE FROM inbox_conversationevent WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [event.pk])
    assert ConversationEvent.objects.get(pk=event.pk).data == {}


@pytest.mark.django_db
def test_the_audit_triggers_exist():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger"
                " WHERE tgrelid = 'inbox_conversationevent'::regclass AND NOT tgisinternal"
            )
            assert [name for (name,) in cursor] == ["inbox_conversationevent_append_only"]
        else:
            cursor.execute(
                "SELECT type, name FROM sqlite_master"
                " WHERE tbl_name IN ('inbox_conversationevent', 'webcare_audit_scrub')"
                " AND type IN ('trigger', 'table') ORDER BY type, name"
            )
            assert cursor.fetchall() == [
                ("table", "inbox_conversationevent"),
                ("table", "webcare_audit_scrub"),
                ("trigger", "inbox_conversationevent_no_delete"),
                ("trigger", "inbox_conversationevent_no_update"),
            ]


@pytest.mark.django_db
def test_the_lists_start_with_the_usual_entries():
    assert list(NoReplyReason.objects.values_list("label", "order", "active")) == [
        (label, order, True) for order, label in enumerate(NO_REPLY_REASONS)
    ]
    assert list(HouseRule.objects.values_list("title", "order", "active")) == [
        (title, order, True) for order, title in enumerate(HOUSE_RULES)
    ]
    assert all(HouseRule.objects.values_list("text", flat=True))


@pytest.mark.django_db
def test_the_reports_index_on_message_time_exists():
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, "inbox_message")
    assert found["reports_msg_created_idx"]["columns"] == ["created_at"]


@pytest.mark.postgres
@pytest.mark.django_db
def test_search_uses_the_full_text_index():
    qs = search_filter(Conversation.objects.all(), "ketel lekt")
    with transaction.atomic(), connection.cursor() as cursor:
        # The table is all but empty: forbid the sequential scan to see whether the planner
        # can use the index at all (it cannot if its expression differs from the query's).
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = qs.explain()
    assert "conv_fts_idx" in plan


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_conversation_table_leaves_room_for_hot_updates():
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'inbox_conversation'")
        assert cursor.fetchone()[0] == ["fillfactor=80"]


# A fresh database of its own: the project's apps (and what they need) migrated, taken back to
# before inbox (which takes routing and reports along) and migrated again, so every
# hand-carried operation must undo itself cleanly. Prints the seed rows and audit triggers.
ROUND_TRIP = """
import django
django.setup()
from django.core.management import call_command
from django.db import connection
def forwards():
    for app in ("inbox", "routing", "reports"):
        call_command("migrate", app, verbosity=0)
forwards()
call_command("migrate", "inbox", "zero", verbosity=0)
forwards()
from inbox.models import NoReplyReason
with connection.cursor() as cursor:
    if connection.vendor == "postgresql":
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'inbox_conversationevent%%'")
    else:
        cursor.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")
    print(NoReplyReason.objects.count(), cursor.fetchone()[0])
"""


@pytest.fixture
def fresh_database_url(tmp_path):
    """A DATABASE_URL naming an empty database on the leg's own database server."""
    if connection.vendor != "postgresql":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    import psycopg
    from psycopg import sql

    settings = connection.settings_dict
    server = {"host": settings["HOST"], "port": settings["PORT"], "user": settings["USER"]}
    name = f"{settings['NAME']}_fresh"
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{name}"
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.mark.slow
@pytest.mark.django_db
def test_a_fresh_database_migrates_back_and_forth(fresh_database_url, tmp_path):
    env = os.environ | {
        "DATABASE_URL": fresh_database_url,
        "DJANGO_SETTINGS_MODULE": "webcare.settings",
        "WEBCARE_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    triggers = 1 if connection.vendor == "postgresql" else 2
    assert result.stdout.split() == [str(len(NO_REPLY_REASONS)), str(triggers)]
