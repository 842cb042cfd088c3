"""Two workers at once, and a worker killed mid-batch, on the real database (PostgreSQL, or the
embedded default's SQLite file)."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connections

from inbox.channels.base import IncomingMessage
from inbox.models import Channel, Contact, Conversation, Message
from inbox.services.ingest import ingest_messages
from tests.conftest import test_database_url
from tests.factories import ChannelFactory

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def thread_batch(n, *, prefix=""):
    """n messages in threads of 5 (a root and four replies), 13 authors."""
    out = []
    for i in range(n):
        root = i - i % 5
        out.append(
            IncomingMessage(
                external_id=f"{prefix}{i}",
                text=f"Bericht {i}: de lift is weer kapot",
                created_at=T0 + timedelta(seconds=i),
                author_id=f"a{i % 13}",
                author_handle=f"a{i % 13}",
                parent_external_id=f"{prefix}{i - 1}" if i != root else "",
            )
        )
    return out


def assert_exactly_once(channel, n):
    assert Message.objects.filter(channel=channel).count() == n
    assert Message.objects.filter(channel=channel).values("external_id").distinct().count() == n
    assert Conversation.objects.filter(channel=channel).count() == n // 5
    assert Contact.objects.filter(channel=channel).count() == 13
    counts = Conversation.objects.filter(channel=channel).values_list("message_count", flat=True)
    assert sorted(set(counts)) == [5]


@pytest.mark.django_db(transaction=True)
def test_two_workers_ingesting_one_channel_at_once_leave_no_duplicates():
    channel = ChannelFactory()
    batch = thread_batch(3000)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker(messages):
        try:
            barrier.wait()
            results.append(ingest_messages(channel=channel, messages=messages))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    # Overlapping but differently ordered deliveries of the same messages.
    threads = [
        threading.Thread(target=worker, args=(batch,)),
        threading.Thread(target=worker, args=(list(reversed(batch[1000:])) + batch[:1000],)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(r.created for r in results) == 3000
    assert sum(r.duplicates for r in results) == 3000
    assert_exactly_once(channel, 3000)


KILLED_WORKER = """
import os, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webcare.settings")
django.setup()
from inbox.services.ingest import batch
from inbox.models import Channel
from tests.inbox.test_ingest_concurrency import thread_batch

batch.BATCH_SIZE = 500
original = batch.write

def slow_write(*args, **kwargs):
    original(*args, **kwargs)
    print("batch-written", flush=True)
    import time; time.sleep(0.5)  # give the test time to kill us mid-call

batch.write = slow_write
channel = Channel.objects.get(pk=int(sys.argv[1]))
batch.ingest_messages(channel=channel, messages=thread_batch(4000), cursor={"page": "next"})
print("finished", flush=True)
"""


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_loses_nothing_on_rerun():
    channel = ChannelFactory(cursor={"page": "first"})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # The test database, not the one DATABASE_URL names.
    env["DATABASE_URL"] = test_database_url()
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, str(channel.pk)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        written = 0
        deadline = time.monotonic() + 60
        while written < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "worker ended before it could be killed"
            written += line.strip() == "batch-written"
        # Mid-call: 3 batches written (2 committed, the third inside its transaction).
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()

    stored = Message.objects.filter(channel=channel).count()
    assert 0 < stored < 4000
    channel.refresh_from_db()
    assert channel.cursor == {"page": "first"}, "the cursor moves only with the last batch"

    # The rerun from the saved cursor fetches everything again.
    result = ingest_messages(
        channel=Channel.objects.get(pk=channel.pk),
        messages=thread_batch(4000),
        cursor={"page": "next"},
    )
    assert result.created == 4000 - stored
    assert_exactly_once(channel, 4000)
    channel.refresh_from_db()
    assert channel.cursor == {"page": "next"}
