"""PostgreSQL restarted under a running worker: it reconnects and processes the next task.

Runs on a throwaway PostgreSQL cluster (initdb into a temp dir, free loopback port, as
.ci/services does) holding a copy of the test database: the shared server on 54329 is
never restarted. The worker keeps its connections as in production (DB_CONN_MAX_AGE=60,
CONN_HEALTH_CHECKS on), so a stale connection is what it meets after the restart.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from inbox.tasks.channels import poll_channel
from tests.factories import ChannelFactory
from tests.outbox.test_exactly_once import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

APP = "tests.faults.celery_app"
PGBIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1:] or [""]
PGBIN = PGBIN[0]


def as_postgres(args: list[str]) -> list[str]:
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(args)] if os.getuid() == 0 else args


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def own_postgres():
    if not os.path.exists(f"{PGBIN}/initdb") or not shutil.which("pg_dump"):
        pytest.skip("PostgreSQL server binaries are not installed")
    # Not under pytest's tmp_path: that is private to root, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="webcare-faults-pg-"))
    base.chmod(0o755)
    data = base / "data"
    data.mkdir()
    if os.getuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        as_postgres(
            [
                f"{PGBIN}/initdb",
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                ">/dev/null",
            ]
        ),
        check=True,
    )
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(
            f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{data}'\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        )

    def pg_ctl(*args: str) -> None:
        command = [f"{PGBIN}/pg_ctl", "-D", str(data), "-l", str(data / "log"), "-w", *args]
        subprocess.run(as_postgres(command), check=True, stdout=subprocess.DEVNULL)

    pg_ctl("start")
    url = f"postgres://postgres@127.0.0.1:{port}/copy"
    try:
        yield url, pg_ctl
    finally:
        pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(base, ignore_errors=True)


def copy_test_database(url: str) -> None:
    """The test database (schema and the rows this test committed) into the own cluster."""
    s = connection.settings_dict
    port = url.rsplit(":", 1)[1].split("/")[0]
    subprocess.run(
        ["createdb", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "copy"], check=True
    )
    dump = subprocess.run(
        [
            "pg_dump",
            "-h",
            s["HOST"],
            "-p",
            str(s["PORT"]),
            "-U",
            s["USER"],
            "--no-owner",
            s["NAME"],
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "psql",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-U",
            "postgres",
            "copy",
        ],
        input=dump.stdout,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def stored(url: str, channel_id: int) -> int:
    with psycopg.connect(url.replace("postgres://", "postgresql://")) as conn:
        return conn.execute(
            "SELECT count(*) FROM inbox_message WHERE channel_id = %s", [channel_id]
        ).fetchone()[0]


def test_a_worker_reconnects_after_postgresql_restarts(own_postgres, start_worker):
    url, pg_ctl = own_postgres
    first = ChannelFactory(kind="rss", config={"count": 40, "prefix": "first"})
    second = ChannelFactory(kind="rss", config={"count": 60, "prefix": "second"})
    copy_test_database(url)
    worker = start_worker("w1", app=APP, env={"DATABASE_URL": url, "DB_CONN_MAX_AGE": "60"})

    poll_channel.delay(first.pk)
    wait_for(lambda: stored(url, first.pk) == 40, what="the poll before the restart")
    pg_ctl("restart", "-m", "fast")  # every connection of the worker is cut

    poll_channel.delay(second.pk)
    wait_for(lambda: stored(url, second.pk) == 60, timeout=60, what="the poll after the restart")
    assert worker.poll() is None
    assert stored(url, first.pk) == 40
    log = worker.log_path.read_text()
    assert "succeeded" in log.rsplit("inbox.poll_channel", 1)[-1], log[-3000:]


def test_a_worker_keeps_its_postgresql_session_between_tasks(own_postgres, start_worker):
    """Celery's Django fixup closed the connection around every task (a new session, backend
    fork and cold catalog caches per reply send); with CELERY_DB_REUSE_MAX the worker keeps
    one session, which Django recycles after CONN_MAX_AGE."""
    url, _pg_ctl = own_postgres
    channels = [
        ChannelFactory(kind="rss", config={"count": 5, "prefix": f"c{i}"}) for i in range(3)
    ]
    copy_test_database(url)
    start_worker("w1", app=APP, env={"DATABASE_URL": url, "DB_CONN_MAX_AGE": "60"})
    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as monitor:

        def worker_sessions() -> set[int]:
            rows = monitor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = 'copy'"
                " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchall()
            return {pid for (pid,) in rows}

        def stored_here(channel_id: int) -> int:  # on the monitor: no session of its own
            return monitor.execute(
                "SELECT count(*) FROM inbox_message WHERE channel_id = %s", [channel_id]
            ).fetchone()[0]

        seen = []
        for channel in channels:
            poll_channel.delay(channel.pk)
            wait_for(lambda c=channel: stored_here(c.pk) == 5, what=f"the poll of {channel}")
            seen.append(worker_sessions())
    # After each task the worker's session is still there, and it is the same one.
    assert seen[0] and seen[0] == seen[1] == seen[2], seen
