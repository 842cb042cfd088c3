"""Benchmark: the coordinator's shared inbox at 1,000,000 conversations (about 5,000,000 messages).

    python bench/inbox.py [--n 1000000] [--runs 50] [--load-only] [--reload]

Reads DATABASE_URL like the app, but works in its own database `webcare_bench_inbox` on the same
server (kept between runs: the load happens once, and again only when the size is wrong or
--reload is given). Rows are generated inside PostgreSQL with INSERT ... SELECT generate_series,
with the big tables' secondary indexes dropped during the load and rebuilt after it.

Times through Django's test client (server time, in this process): the inbox first page, a
filtered page (department + status), a deep keyset page, a full-text search and a forward action;
median and p95 over --runs runs each (and the median CPU time of this process, which varies little
with the machine's load); and, as a baseline in the same run, the bare SQL of the first page.
Prints `RESULT inbox_p95_ms=... deep_p95_ms=... search_p95_ms=... forward_p95_ms=...
sql_p95_ms=...` as its last line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DB = "webcare_bench_inbox"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import ensure_database  # noqa: E402

SNIPPETS_NL = [
    "Mijn cv-ketel doet het weer niet, al drie dagen geen warm water",
    "Er is een lekkage in de badkamer en niemand komt langs",
    "Wanneer wordt de huurverhoging bekendgemaakt",
    "De lift in ons portiek staat al een week stil",
    "Schimmel in de slaapkamer, wie kan er kijken",
    "Bedankt voor de snelle reparatie van de voordeur",
    "Waarom is mijn automatische incasso twee keer afgeschreven",
    "Geluidsoverlast van de buren, wat kan ik doen",
    "De brief over de renovatie is onduidelijk",
    "Vuilnis naast de containers wordt niet opgehaald",
]
SNIPPETS_EN = [
    "My boiler broke down again, no hot water for three days",
    "There is a leak in the kitchen ceiling, please send someone",
    "When will the rent increase be announced",
    "Great service today, the plumber was very friendly",
    "I was charged twice for my rent this month",
    "The stairwell lights have been off for a week",
    "Who do I contact about mould in my flat",
    "Your website keeps logging me out",
]
EXTRA_WORDS = [
    "dringend",
    "alweer",
    "graag reactie",
    "please help",
    "asap",
    "Rotterdam",
    "Utrecht",
    "Amsterdam",
    "flat",
    "portiek",
    "",
    "",
]


def _bench_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/inbox.py needs DATABASE_URL pointing at PostgreSQL")
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + BENCH_DB))


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webcare.settings")
    os.environ["DEBUG"] = "0"
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["*"]
    # The bench times the inbox, not e-mail delivery.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def _sizes(cur) -> tuple[int, int]:
    cur.execute("SELECT count(*) FROM inbox_conversation")
    convs = cur.fetchone()[0]
    cur.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'inbox_message'")
    msgs = cur.fetchone()[0]
    return convs, msgs


def _secondary_indexes(cur, table: str) -> list[tuple[str, str]]:
    cur.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename = %s
          AND i.indexname NOT IN (
            SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)
        """,
        [table, table],
    )
    return cur.fetchall()


def load(n: int) -> None:
    """Generate n conversations with ~5 messages each, inside PostgreSQL."""
    from django.db import connection

    n_msgs = n * 5
    with connection.cursor() as cur:
        t0 = time.perf_counter()
        print(f"loading {n:,} conversations and {n_msgs:,} messages into {BENCH_DB}...", flush=True)
        cur.execute(
            "TRUNCATE inbox_message, inbox_conversationevent, inbox_notification, "
            "inbox_conversation, inbox_contactnote, inbox_contact, inbox_channel, "
            "routing_membership, routing_routingrule, routing_department, inbox_savedview, "
            "accounts_user CASCADE"
        )
        cur.execute(
            """
            INSERT INTO inbox_channel (id, kind, name, own_handles, keywords, credentials_encrypted,
              config, poll_interval_seconds, enabled, cursor, status, last_error,
              consecutive_failures, reviewed_replies_only, ingest_day_count, ingest_problem_count,
              last_ingest_problem, created_at)
            SELECT g, (ARRAY['x','facebook','instagram','mastodon','email'])[g],
              'Bench channel ' || g, '[]', '[]', '', '{}', 60, true, '{}', 'ok', '', 0, false, 0, 0,
              '', now()
            FROM generate_series(1, 5) g
            """
        )
        cur.execute(
            """
            INSERT INTO routing_department (id, name, slug, description, escalation_email,
              review_policy, created_at)
            SELECT g, 'Team ' || g, 'team-' || g, '', '', 'new_staff', now()
            FROM generate_series(1, 10) g
            """
        )
        n_contacts = max(n // 5, 10)
        cur.execute(
            """
            INSERT INTO inbox_contact (id, channel_id, external_id, handle, name, avatar_url,
              profile_url, tags, is_blocked, is_fake, is_own_account, created_at)
            SELECT g, 1 + g %% 5, 'author-' || g, 'huurder' || g, 'Huurder ' || g, '', '',
              '[]', false, false, false, now()
            FROM generate_series(1, %s) g
            """,
            [n_contacts],
        )
        print(f"  channels, departments, {n_contacts:,} contacts", flush=True)
        # The definitions of the dropped indexes are kept in a table first, so a load that dies
        # half-way is repaired by the next run instead of leaving the tables without indexes.
        cur.execute("CREATE TABLE IF NOT EXISTS bench_dropped_index (definition text)")
        cur.execute("SELECT definition FROM bench_dropped_index")
        for (definition,) in cur.fetchall():
            cur.execute(definition.replace(" INDEX ", " INDEX IF NOT EXISTS ", 1))
        cur.execute("DELETE FROM bench_dropped_index")
        dropped = []
        for table in ("inbox_conversation", "inbox_message"):
            for name, definition in _secondary_indexes(cur, table):
                cur.execute("INSERT INTO bench_dropped_index VALUES (%s)", [definition])
                cur.execute(f'DROP INDEX "{name}"')
                dropped.append(definition)
        # 30% sit open in the shared inbox, 40% are with a department (open or closed),
        # 30% are finished. received_at: one every ~30 s going back from now.
        cur.execute(
            """
            INSERT INTO inbox_conversation (id, channel_id, contact_id, thread_key, status,
              status_reason, department_id, priority, language, sentiment, flags, snippet,
              is_public, message_count, received_at, last_message_at, last_inbound_at, version,
              sla_state, created_at, updated_at)
            SELECT g, 1 + c %% 5, c, 'thread-' || g,
              CASE WHEN g %% 10 < 3 THEN 'new'
                   WHEN g %% 10 < 5 THEN (ARRAY['triaged','assigned','answered','waiting'])[1 + g %% 4]
                   WHEN g %% 10 < 7 THEN 'closed'
                   WHEN g %% 10 = 7 THEN 'no_reply_needed'
                   WHEN g %% 10 = 8 THEN 'closed'
                   ELSE 'hidden' END,
              '',
              CASE WHEN g %% 10 < 3 THEN NULL ELSE 1 + (g / 10) %% 10 END,
              1, CASE WHEN g %% 3 = 0 THEN 'en' ELSE 'nl' END,
              (ARRAY['negative','neutral','positive'])[1 + g %% 3],
              CASE WHEN g %% 97 = 0 THEN 1 WHEN g %% 53 = 0 THEN 2 ELSE 0 END,
              CASE WHEN g %% 3 = 0 THEN (%s::text[])[1 + (g / 3) %% %s]
                   ELSE (%s::text[])[1 + g %% %s] END
                || ' ' || (%s::text[])[1 + (g / 7) %% %s],
              true, 5, ts, ts + interval '2 hours', ts + interval '1 hour', 1,
              'none', ts, ts
            FROM (
              SELECT g, (1 + (g::bigint * 7919) %% %s)::int AS c,
                now() - (g * interval '30 seconds') - ((g %% 13) * interval '1 second') AS ts
              FROM generate_series(1, %s) g
            ) s
            """,
            [
                SNIPPETS_EN,
                len(SNIPPETS_EN),
                SNIPPETS_NL,
                len(SNIPPETS_NL),
                EXTRA_WORDS,
                len(EXTRA_WORDS),
                n_contacts,
                n,
            ],
        )
        print(f"  conversations {time.perf_counter() - t0:.0f}s", flush=True)
        cur.execute(
            """
            INSERT INTO inbox_message (id, channel_id, conversation_id, external_id,
              parent_external_id, direction, contact_id, text, url, is_public, is_automatic,
              language, sentiment, flags, created_at, ingested_at, raw)
            SELECT m, c.channel_id, c.id, 'm-' || m,
              CASE WHEN k = 0 THEN '' ELSE 'm-' || (m - 1) END,
              CASE WHEN k % 2 = 1 THEN 'out' ELSE 'in' END,
              CASE WHEN k % 2 = 1 THEN NULL ELSE c.contact_id END,
              CASE WHEN k = 0 THEN c.snippet ELSE 'Antwoord ' || k || ' op gesprek ' || c.id END,
              'https://example.org/p/' || m, true, false, c.language, c.sentiment, 0,
              c.received_at + k * interval '20 minutes', c.received_at + k * interval '20 minutes',
              '{}'
            FROM inbox_conversation c, generate_series(0, 4) k,
              LATERAL (SELECT (c.id - 1) * 5 + k + 1 AS m) mm
            """
        )
        print(f"  messages {time.perf_counter() - t0:.0f}s", flush=True)
        for definition in dropped:
            cur.execute(definition)
        cur.execute("DELETE FROM bench_dropped_index")
        print(f"  indexes rebuilt {time.perf_counter() - t0:.0f}s", flush=True)
        for table in (
            "inbox_channel",
            "inbox_contact",
            "inbox_conversation",
            "inbox_message",
            "routing_department",
        ):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        cur.execute("VACUUM ANALYZE inbox_conversation")
        cur.execute("VACUUM ANALYZE inbox_message")
        cur.execute("ANALYZE")
        print(f"loaded in {time.perf_counter() - t0:.0f}s", flush=True)


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered) * 1000, p95 * 1000


def _time(label: str, fn, runs: int) -> float:
    """Wall-clock median and p95 (the figures that count), plus the median CPU time of this
    process: on a machine shared with other jobs the wall time swings with the load, the CPU
    time hardly, so it shows whether a change made the Python side cheaper."""
    fn(-1)  # warm the caches and the template loader once
    samples, cpu = [], []
    for i in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn(i)
        samples.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    median, p95 = _ms(samples)
    cpu_median = statistics.median(cpu) * 1000
    print(
        f"{label:<34} median {median:7.1f} ms   p95 {p95:7.1f} ms   (cpu median {cpu_median:5.1f} ms)",
        flush=True,
    )
    return p95


def measure(runs: int) -> None:
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from inbox.models import Conversation
    from inbox.selectors import inbox as selectors
    from routing.models import Department
    from webcare.accounts.models import User

    coord, _ = User.objects.get_or_create(username="bench-coord", defaults={"role": "coordinator"})
    client = Client()
    client.force_login(coord)
    url = reverse("inbox:inbox")

    def get(path, **params):
        def run(i=0):
            response = client.get(path, params)
            assert response.status_code == 200, response.status_code
            return response

        return run

    results = {}
    results["inbox"] = _time("inbox first page", get(url), runs)
    results["filtered"] = _time(
        "filtered page (department+status)",
        get(url, department=Department.objects.order_by("id")[0].pk, status="triaged"),
        runs,
    )
    # A deep page: the keyset of a row ~200,000 rows down the shared inbox.
    deep = (
        selectors.shared_inbox(coord)
        .order_by("-received_at", "-id")
        .values_list("received_at", "id")[200_000:200_001]
    )
    deep_key = deep[0] if deep else None
    before = f"{deep_key[0].isoformat()}_{deep_key[1]}" if deep_key else ""
    results["deep"] = _time("deep keyset page (~200,000 down)", get(url, before=before), runs)
    results["search"] = _time("full-text search 'lekkage'", get(url, q="lekkage"), runs)

    # Forward: each run forwards a different conversation from the shared inbox, then the rows
    # are put back with one UPDATE so the next run of the bench sees the same data.
    targets = list(
        selectors.shared_inbox(coord)
        .order_by("-received_at", "-id")
        .values_list("id", "version")[: runs + 1]
    )
    department = Department.objects.order_by("id").first()

    def forward(i=0):
        pk, version = targets[i + 1]  # the warm-up (i = -1) uses targets[0]
        response = client.post(
            reverse("inbox:forward", args=[pk]),
            {"department": department.pk, "note": "bench", "version": version},
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 200, (response.status_code, response.content[:300])

    results["forward"] = _time("forward action", forward, runs)
    ids = [pk for pk, _ in targets]
    # Put the forwarded ones back for the next run; their audit events stay (the table is append-only).
    Conversation.objects.filter(id__in=ids).update(status="new", department=None, version=1)

    qs, _ = selectors.inbox_queryset(coord, {})
    sql, params = qs.order_by("-received_at", "-id")[:51].query.sql_with_params()

    def bare(i=0):
        with connection.cursor() as cur:
            cur.execute(sql, params)
            cur.fetchall()

    results["sql"] = _time("bare SQL of the first page", bare, runs)
    load1, load5, _ = os.getloadavg()
    print(
        f"(machine load average during the run: {load1:.1f} / {load5:.1f} on {os.cpu_count()} cores)"
    )
    print(
        f"RESULT inbox_p95_ms={results['inbox']:.1f} filtered_p95_ms={results['filtered']:.1f} "
        f"deep_p95_ms={results['deep']:.1f} search_p95_ms={results['search']:.1f} "
        f"forward_p95_ms={results['forward']:.1f} sql_p95_ms={results['sql']:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="conversations")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--load-only", action="store_true")
    parser.add_argument("--reload", action="store_true", help="regenerate the data")
    args = parser.parse_args()

    url = ensure_database(_bench_url(), BENCH_DB)
    _setup_django(url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        convs, msgs = _sizes(cur)
    # reltuples is an estimate: within 2% of 5 per conversation counts as the right size.
    if args.reload or convs != args.n or abs(msgs - 5 * args.n) > 0.02 * 5 * args.n:
        load(args.n)
    else:
        print(f"reusing {BENCH_DB}: {convs:,} conversations, ~{msgs:,} messages", flush=True)
    if not args.load_only:
        measure(args.runs)


if __name__ == "__main__":
    main()
