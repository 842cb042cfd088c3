"""README command 1 (.ci/dev) moves a SQLite database migrated by the migrations that were
squashed aside and starts fresh; a database migrated by today's migrations stays.

The real script runs in a copy of the project tree whose tools are stubs: `manage.py ...`,
celery and the set-up are recorded or skipped, the script's own Python runs for real, and the
migration files carry today's names.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUB_PYTHON = """#!/bin/sh
if [ "$1" = manage.py ]; then echo "$*" >> "$WEBCARE_VAR_DIR/calls"; exit 0; fi
exec {python} "$@"
"""
# What a database migrated by the old chain has in django_migrations (a sample of it).
OLD_CHAIN = [
    ("contenttypes", "0001_initial"),
    ("accounts", "0001_initial"),
    ("inbox", "0001_initial"),
    ("inbox", "0017_channel_ingest_problems"),
    ("routing", "0006_reopened_holidays"),
    ("reports", "0001_dashboard_rollups"),
]
MIGRATE = "manage.py migrate --noinput -v0"


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    (root / ".ci").mkdir(parents=True)
    (root / ".ci" / "dev").write_bytes((ROOT / ".ci" / "dev").read_bytes())
    (root / ".ci" / "setup").write_text("exit 0\n")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(STUB_PYTHON.format(python=sys.executable))
    (bin_dir / "celery").write_text("#!/bin/sh\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    for path in [*ROOT.glob("*/migrations/0*.py"), *ROOT.glob("webcare/*/migrations/0*.py")]:
        copy = root / path.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.touch()
    return root


def today() -> list[tuple[str, str]]:
    """django_migrations of a database migrated by today's migrations."""
    paths = [*ROOT.glob("*/migrations/0*.py"), *ROOT.glob("webcare/*/migrations/0*.py")]
    return [("contenttypes", "0001_initial")] + [(p.parent.parent.name, p.stem) for p in paths]


def migrated_by(path: Path, applied: list[tuple[str, str]]) -> sqlite3.Connection:
    """A WAL database at path with `applied` as its migration history, left open (so its -wal
    and -shm files stay, as while a worker of the last run still had it open)."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE django_migrations (id integer PRIMARY KEY, app text, name text)")
    db.executemany("INSERT INTO django_migrations (app, name) VALUES (?, ?)", applied)
    db.commit()
    return db


def run_dev(project: Path, var: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        ["bash", str(project / ".ci" / "dev")],
        env=env | {"WEBCARE_VAR_DIR": str(var)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_database_from_the_squashed_migrations_is_moved_aside(project, tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    old = migrated_by(var / "webcare.sqlite3", OLD_CHAIN)
    try:
        result = run_dev(project, var)

        assert result.returncode == 0, result.stderr
        moved = [line for line in result.stdout.splitlines() if "pre-squash" in line]
        assert moved == [
            f"{var}/webcare.sqlite3 was migrated by migrations that were since squashed: "
            f"moved to {var}/webcare.sqlite3.pre-squash, starting fresh"
        ]
        assert sorted(p.name for p in var.glob("webcare.sqlite3*")) == [
            "webcare.sqlite3.pre-squash",
            "webcare.sqlite3.pre-squash-shm",
            "webcare.sqlite3.pre-squash-wal",
        ]
        # Its history is still in the moved write-ahead log: the log went along.
        kept = sqlite3.connect(var / "webcare.sqlite3.pre-squash")
        count = kept.execute("SELECT count(*) FROM django_migrations").fetchone()
        kept.close()
        assert count == (len(OLD_CHAIN),)
        assert (var / "calls").read_text().splitlines()[0] == MIGRATE
    finally:
        old.close()


@pytest.mark.parametrize("applied", [today(), [("contenttypes", "0001_initial")], []])
def test_a_current_database_stays(project, tmp_path, applied):
    var = tmp_path / "var"
    var.mkdir()
    migrated_by(var / "webcare.sqlite3", applied).close()

    result = run_dev(project, var)

    assert result.returncode == 0, result.stderr
    assert "pre-squash" not in result.stdout
    assert not list(var.glob("*.pre-squash*"))
    db = sqlite3.connect(var / "webcare.sqlite3")
    assert db.execute("SELECT count(*) FROM django_migrations").fetchone() == (len(applied),)
    db.close()
    assert (var / "calls").read_text().splitlines()[0] == MIGRATE


@pytest.mark.parametrize("empty_file", [False, True])
def test_no_database_yet(project, tmp_path, empty_file):
    var = tmp_path / "var"
    if empty_file:
        var.mkdir()
        (var / "webcare.sqlite3").touch()

    result = run_dev(project, var)

    assert result.returncode == 0, result.stderr
    assert "pre-squash" not in result.stdout
    assert not list(var.glob("*.pre-squash*"))
    assert (var / "calls").read_text().splitlines()[0] == MIGRATE
