"""Benchmark: one minute of the incremental dashboard rollup (reports.rollup.run.run_rollups).

    python bench/rollup.py [--messages 60000] [--runs 3] [--reload]

Reads DATABASE_URL like the app, but works in its own database `webcare_bench_rollup` on the same
server, kept between runs (loaded again when missing, of another size, from another local day, or
with --reload).

The load: a history of 10,000 conversations (an hour or two old, a fifth answered) is counted
once by run_rollups, and every reports table is saved as it is then. On top come one minute's
worth of rows at the load benchmark's rate: --messages messages (half of them start a new
conversation; the rest are agent answers, automatic acknowledgements and customer follow-ups in
new and old conversations, texts drawn from a Zipf-like vocabulary) and as many audit events
(one per new conversation, assignments, and 3,000 closes of old conversations).

Each run puts the saved reports tables back (untimed) and times run_rollups() over that minute:
CPU seconds of this process (what the Celery worker spends) and of our PostgreSQL backend, and
wall time. Baseline in the same run: a plain SELECT of the same message and event rows through
Django's cursor. Medians over --runs; the last line is
    RESULT rollup_cpu_s=<n> rollup_wall_s=<n> backend_cpu_s=<n> select_cpu_s=<n> ratio=<r>
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

BENCH_DB = "webcare_bench_rollup"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import backend_cpu, ensure_database  # noqa: E402

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:54329"

CHANNELS = 6
DEPARTMENTS = 6
AGENTS = 30
HISTORY = 10_000
CLOSES = 3_000
LANGUAGES = ("nl", "nl", "nl", "en", "de", "")
REPORT_TABLES = (
    "reports_conversationclock",
    "reports_countrollup",
    "reports_durationbin",
    "reports_keywordcount",
    "reports_rollupwatermark",
    "reports_backlogsnapshot",
    "reports_windowbin",
    "reports_windowtotal",
    "reports_windowcount",
)


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def setup(*, reload: bool) -> None:

    server = os.environ.get("DATABASE_URL") or DEFAULT_SERVER
    if not server.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/rollup.py needs PostgreSQL (DATABASE_URL)")
    os.environ["DATABASE_URL"] = ensure_database(server, BENCH_DB, reload=reload)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webcare.settings")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:63799/11")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _stamp(n: int) -> str:
    from django.utils import timezone

    from reports.periods import day_start

    return f"{n}@{day_start(timezone.now()).date()}"


def loaded(n: int) -> bool:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bench_meta (stamp text)")
        cur.execute("SELECT stamp FROM bench_meta")
        row = cur.fetchone()
    return bool(row and row[0] == _stamp(n))


def _words(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = sorted({"".join(rng.choices(letters, k=rng.randint(4, 10))) for _ in range(6000)})
    return vocab


def _text(rng: random.Random, vocab: list[str]) -> str:
    # Zipf-like: a few words are everywhere, most are rare.
    picks = [vocab[min(int(rng.paretovariate(0.9)) - 1, len(vocab) - 1)] for _ in range(12)]
    return " ".join(picks) + " @brand #tag https://t.co/x 12345"


def load(n: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from inbox.models import Channel, Contact, Conversation, ConversationEvent, Message
    from reports.periods import day_start
    from reports.rollup.run import run_rollups
    from routing.models import Department
    from webcare.accounts.models import User

    rng = random.Random(20260311)
    vocab = _words(rng)
    with connection.cursor() as cur:
        cur.execute("DELETE FROM bench_meta")
        tables = ", ".join(
            (*REPORT_TABLES, "inbox_conversationevent", "inbox_message", "inbox_conversation")
        )
        cur.execute(f"TRUNCATE {tables} CASCADE")
    now = timezone.now()
    # Everything happens today (local), so the run never marks the pre-merged windows stale.
    today = day_start(now)
    span = max(60.0, min(3 * 3600.0, (now - today).total_seconds() - 60))

    def at(lo: float, hi: float) -> datetime:
        return now - timedelta(seconds=span * rng.uniform(lo, hi))

    channels = [
        Channel.objects.get_or_create(name=f"bench {i}", defaults={"kind": "simulator"})[0]
        for i in range(CHANNELS)
    ]
    depts = [
        Department.objects.get_or_create(slug=f"bench-{i}", defaults={"name": f"Bench {i}"})[0]
        for i in range(DEPARTMENTS)
    ]
    agents = [
        User.objects.get_or_create(username=f"bench-agent-{i}", defaults={"role": "staff"})[0]
        for i in range(AGENTS)
    ]
    contacts = {}
    for ch in channels:
        Contact.objects.bulk_create(
            [Contact(channel=ch, external_id=f"c{i}", handle=f"c{i}") for i in range(500)],
            ignore_conflicts=True,
        )
        contacts[ch.pk] = list(Contact.objects.filter(channel=ch))

    seq = iter(range(10**9))

    def conversations(count: int, lo: float, hi: float) -> list[tuple[Conversation, datetime]]:
        out = []
        for _ in range(count):
            ch = rng.choice(channels)
            first = at(lo, hi)
            conv = Conversation(
                channel=ch,
                contact=rng.choice(contacts[ch.pk]),
                thread_key=f"t{next(seq)}",
                department=rng.choice([*depts, None]),
                language=rng.choice(LANGUAGES),
                received_at=first,
                last_message_at=first,
                first_response_due_at=first + timedelta(minutes=rng.choice([5, 30, 120]))
                if rng.random() < 0.7
                else None,
                resolution_due_at=first + timedelta(hours=2) if rng.random() < 0.5 else None,
            )
            out.append((conv, first))
        Conversation.objects.bulk_create([c for c, _ in out], batch_size=5000)
        return out

    def message(conv, when, direction, **kw):
        return Message(
            channel_id=conv.channel_id,
            conversation=conv,
            contact_id=conv.contact_id,
            external_id=f"m{next(seq)}",
            direction=direction,
            text=_text(rng, vocab) if direction == "in" else "Thanks, we are on it.",
            created_at=when,
            language=rng.choice(LANGUAGES),
            sentiment=rng.choice(["negative", "neutral", "positive"]),
            flags=rng.choice([0, 0, 0, 0, 1, 64, 2 | 16]),
            **kw,
        )

    def save(messages, events) -> None:
        messages.sort(key=lambda m: m.created_at)
        Message.objects.bulk_create(messages, batch_size=5000)
        ConversationEvent.objects.bulk_create(events, batch_size=5000)

    _log("history: 10,000 conversations, counted once")
    old = conversations(HISTORY, 0.4, 1.0)
    msgs, events = [], []
    for conv, first in old:
        msgs.append(message(conv, first, "in"))
        events.append(ConversationEvent(conversation=conv, kind="created"))
        if rng.random() < 0.2:
            msgs.append(message(conv, first + timedelta(minutes=3), "out", sent_by=agents[0]))
    save(msgs, events)
    run_rollups(now=timezone.now() + timedelta(seconds=10))
    with connection.cursor() as cur:
        for table in REPORT_TABLES:
            cur.execute(f"DROP TABLE IF EXISTS bench_saved_{table}")
            cur.execute(f"CREATE TABLE bench_saved_{table} AS SELECT * FROM {table}")

    _log(f"the minute: {n:,} messages, {n:,} audit events")
    new = conversations(n // 2, 0.0, 0.3)
    msgs, events = [], []
    for conv, first in new:
        msgs.append(message(conv, first, "in"))
        events.append(ConversationEvent(conversation=conv, kind="created"))
    rest = n - len(msgs)
    for i in range(rest):
        conv, first = rng.choice(new) if i % 3 else rng.choice(old)
        when = min(first + timedelta(seconds=rng.uniform(30, 900)), now - timedelta(seconds=30))
        kind = rng.random()
        if kind < 0.15:
            msgs.append(message(conv, when, "out", is_automatic=True))
        elif kind < 0.65:
            msgs.append(message(conv, when, "out", sent_by=rng.choice(agents + [None])))
        else:
            msgs.append(message(conv, when, "in"))
    closed = rng.sample(old, CLOSES)
    for conv, first in closed:
        conv.status = "closed"
        conv.closed_at = first + timedelta(minutes=rng.uniform(5, 200))
        conv.assignee = rng.choice(agents)
    Conversation.objects.bulk_update([c for c, _ in closed], ["status", "closed_at", "assignee"])
    closed_ids = [c.pk for c, _ in closed]
    events += [ConversationEvent(conversation_id=c, kind="closed") for c in closed_ids]
    everyone = [c for c, _ in old + new]
    while len(events) < n:
        events.append(ConversationEvent(conversation=rng.choice(everyone), kind="assigned"))
    save(msgs, events)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
        cur.execute("INSERT INTO bench_meta VALUES (%s)", [_stamp(n)])


def restore() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE {', '.join(REPORT_TABLES)}")
        for table in REPORT_TABLES:
            cur.execute(f"INSERT INTO {table} SELECT * FROM bench_saved_{table}")
            cur.execute(f"ANALYZE {table}")


def timed(fn) -> tuple[float, float, float]:
    backend = backend_cpu()
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall, backend_cpu() - backend


def plain_select() -> None:
    from django.db import connection

    from reports.models import RollupWatermark

    marks = dict(RollupWatermark.objects.values_list("name", "last_id"))
    with connection.cursor() as cur:
        cur.execute(
            "SELECT m.id, m.conversation_id, m.direction, m.is_automatic, m.sent_by_id,"
            " m.created_at, m.ingested_at, m.language, m.sentiment, m.flags, m.text,"
            " c.channel_id, c.department_id, c.language, c.first_response_due_at,"
            " c.next_response_due_at FROM inbox_message m"
            " JOIN inbox_conversation c ON c.id = m.conversation_id WHERE m.id > %s ORDER BY m.id",
            [marks.get("messages", 0)],
        )
        cur.fetchall()
        cur.execute(
            "SELECT id, conversation_id FROM inbox_conversationevent WHERE id > %s ORDER BY id",
            [marks.get("events", 0)],
        )
        cur.fetchall()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args()
    setup(reload=args.reload)
    if not loaded(args.messages):
        load(args.messages)

    from django.db import connection
    from django.utils import timezone

    from reports.rollup.run import run_rollups

    connection.close()  # a fresh backend: its CPU counter is ours alone
    rollups, selects = [], []
    for run in range(args.runs):
        restore()
        selects.append(timed(plain_select))
        rows: list[int] = []
        rollups.append(timed(lambda rows=rows: rows.append(run_rollups(now=timezone.now()))))
        cpu, wall, backend = rollups[-1]
        _log(
            f"run {run + 1}: {rows[0]:,} rows, {cpu:.2f} s CPU, {wall:.2f} s wall,"
            f" {backend:.2f} s backend CPU; plain SELECT {selects[-1][0]:.2f} s CPU"
        )
    med = [statistics.median(col) for col in zip(*rollups, strict=True)]
    select_cpu = statistics.median(s[0] for s in selects)
    print(
        f"RESULT rollup_cpu_s={med[0]:.2f} rollup_wall_s={med[1]:.2f} backend_cpu_s={med[2]:.2f}"
        f" select_cpu_s={select_cpu:.2f} ratio={med[0] / select_cpu:.1f}"
    )


if __name__ == "__main__":
    main()
