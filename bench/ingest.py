"""Ingest throughput into PostgreSQL, against a plain COPY of the same rows.

    python bench/ingest.py [--n 200000] [--repeat 3] [--call-size 20000] [--no-enrich]
                           [--with-sla | --no-sla] [--kinds all|whatsapp,...]

Builds N realistic threaded messages amplified from the real data (the twcs
reply threads, with customer texts from the airline set mixed in; ids,
authors and times varied per copy), runs them through the real
inbox.services.ingest.ingest_messages (normalise, upsert, thread, enrich) in
batches into PostgreSQL, and COPYs the same rows into a bare table in the same
run. With --with-sla (the default) an active SLA policy (office-hours
calendar for the team, a 24/7 one for urgent items) makes ingest start and stop
SLA clocks as it would in production. Prints both rates (medians over --repeat) and their ratio; the last line is
    RESULT ingest_msgs_per_s=<n> copy_rows_per_s=<n> ratio=<r>

Reads DATABASE_URL; without it, creates a fresh database webcare_bench on the
local test cluster (127.0.0.1:54329).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import backend_cpu  # noqa: E402

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:54329"
CHANNELS = 4


def setup_database() -> None:
    if not os.environ.get("DATABASE_URL"):
        import psycopg

        with psycopg.connect(f"{DEFAULT_SERVER}/postgres", autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS webcare_bench")
            conn.execute("CREATE DATABASE webcare_bench")
        os.environ["DATABASE_URL"] = f"{DEFAULT_SERVER}/webcare_bench"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webcare.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def airline_texts() -> list[str]:
    from django.conf import settings

    path = Path(settings.REALWORLD_DATA_DIR) / "twitter_us_airline_sentiment.csv"
    with open(path, encoding="utf-8", newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def build(n: int, kinds: tuple[str, ...] = ()):
    """N messages: {(kind, channel index): [IncomingMessage, ...]}, oldest first.

    Copy c of the base data goes to kind ("simulator", *kinds)[c % (1 + len(kinds))], re-shaped
    by bench/kinds.py as that platform delivers it; a message the platform would not deliver is
    skipped, so N counts what is built, not what is stored.
    """
    from bench.kinds import KINDS
    from inbox.channels.replay import twcs_messages_by_brand

    order = ("simulator", *kinds)
    configs = {k: KINDS[k].config() for k in kinds}

    base = twcs_messages_by_brand()
    texts = airline_texts()
    brands = sorted(base)
    channel_of = {brand: i % CHANNELS for i, brand in enumerate(brands)}
    own = {i: [b for b in brands if channel_of[b] == i] for i in range(CHANNELS)}
    flat = [(channel_of[b], m) for b in brands for m in base[b]]
    out: dict[tuple[str, int], list] = {(k, i): [] for k in order for i in range(CHANNELS)}
    made = 0
    copy = 0
    while made < n:
        shift = timedelta(minutes=7 * copy)
        for i, (ch, m) in enumerate(flat):
            if made >= n:
                break
            author = m.author_id if m.is_own else f"{m.author_id}.{copy % 40}"
            text = m.text
            if not m.is_own and copy % 2:
                text = texts[(copy * 7919 + i) % len(texts)]
            kind = order[copy % len(order)]
            message = replace(
                m,
                external_id=f"{copy}-{m.external_id}",
                parent_external_id=f"{copy}-{m.parent_external_id}" if m.parent_external_id else "",
                author_id=author,
                author_handle=author,
                text=text,
                created_at=m.created_at + shift,
            )
            shaped = KINDS[kind].convert(configs[kind], message, copy) if kind in KINDS else message
            if shaped is not None:
                out[kind, ch].append(shaped)
            made += 1
        copy += 1
    for key in out:
        out[key].sort(key=lambda m: m.created_at)
    return {key: messages for key, messages in out.items() if messages}, own


def create_sla_policies() -> None:
    """What production has: a standard policy in office hours and a 24/7 urgent one."""
    from datetime import time as wall

    from inbox.models import Priority
    from routing.models import BusinessCalendar, BusinessWindow, SlaPolicy

    SlaPolicy.objects.all().delete()
    office, _ = BusinessCalendar.objects.get_or_create(name="bench office hours")
    office.windows.all().delete()
    BusinessWindow.objects.bulk_create(
        BusinessWindow(calendar=office, weekday=d, start=wall(9), end=wall(17)) for d in range(5)
    )
    always, _ = BusinessCalendar.objects.get_or_create(name="bench 24/7", is_24_7=True)
    SlaPolicy.objects.create(
        name="bench urgent",
        order=1,
        priorities=[Priority.URGENT],
        first_response_minutes=15,
        next_response_minutes=30,
        resolution_minutes=240,
        calendar=always,
    )
    SlaPolicy.objects.create(
        name="bench standard",
        order=100,
        first_response_minutes=60,
        next_response_minutes=120,
        resolution_minutes=2880,
        calendar=office,
    )


def run_ingest(data, own, batch: int) -> float:
    from bench.kinds import KINDS
    from inbox.models import Channel
    from inbox.services.ingest import ingest_messages

    tag = uuid.uuid4().hex[:6]
    channels = {
        (kind, i): Channel.objects.create(
            kind=KINDS[kind].channel_kind if kind in KINDS else kind,
            name=f"bench {tag} {kind} {i}",
            own_handles=own[i],
            config=KINDS[kind].settings if kind in KINDS else {},
        )
        for kind, i in data
    }
    calls = []
    for key, messages in data.items():
        for start in range(0, len(messages), batch):
            calls.append((start, key, messages[start : start + batch]))
    calls.sort(key=lambda c: (c[0], c[1]))  # round-robin over channels, like parallel polls
    total = sum(len(c[2]) for c in calls)
    started = time.perf_counter()
    cpu = time.process_time()
    backend = backend_cpu()
    created = 0
    for _, i, chunk in calls:
        created += ingest_messages(
            channel=channels[i], messages=chunk, cursor={"offset": len(chunk)}
        ).created
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    backend = backend_cpu() - backend
    assert created == total, (created, total)
    # On a shared machine the wall clock also measures the neighbours: say how
    # much CPU this process (enrichment threads included) and its PostgreSQL backend spent.
    print(
        f"  ingest: {elapsed:.1f} s wall, {cpu:.1f} s CPU in this process"
        f" ({1000 * cpu / total:.3f} ms CPU per message), {backend:.1f} s CPU in PostgreSQL"
    )
    return total / elapsed


def run_copy(data) -> float:
    from django.db import connection

    channel_number = {key: number for number, key in enumerate(data)}
    rows = [(channel_number[key], m) for key, messages in data.items() for m in messages]
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_copy")
        cur.execute(
            "CREATE TABLE bench_copy (id bigserial PRIMARY KEY, channel_id bigint,"
            " external_id varchar(255), parent_external_id varchar(255), direction varchar(3),"
            " author varchar(255), text text, url varchar(1000), created_at timestamptz,"
            " raw jsonb, UNIQUE (channel_id, external_id))"
        )
    raw = connection.connection
    started = time.perf_counter()
    with (
        raw.cursor() as cur,
        cur.copy(
            "COPY bench_copy (channel_id, external_id, parent_external_id, direction, author,"
            " text, url, created_at, raw) FROM STDIN"
        ) as copy,
    ):
        for i, m in rows:
            copy.write_row(
                (
                    i,
                    m.external_id,
                    m.parent_external_id,
                    "out" if m.is_own else "in",
                    m.author_id,
                    m.text,
                    m.url,
                    m.created_at,
                    json.dumps(m.raw),
                )
            )
    raw.commit()
    elapsed = time.perf_counter() - started
    return len(rows) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--call-size",
        type=int,
        default=20_000,
        help="messages per ingest_messages call (it writes them in batches of BATCH_SIZE)",
    )
    parser.add_argument("--no-enrich", action="store_true", help="measure without enrichment")
    parser.add_argument(
        "--kinds",
        default="",
        help="channel kinds mixed in beside the public simulator ones: 'all' or a comma list of"
        " bench/kinds.py's KINDS (default: none, the public mix of earlier figures)",
    )
    sla = parser.add_mutually_exclusive_group()
    sla.add_argument(
        "--with-sla",
        dest="with_sla",
        action="store_true",
        default=True,
        help="an active SLA policy, so ingest starts and stops clocks (the default)",
    )
    sla.add_argument("--no-sla", dest="with_sla", action="store_false", help="no active policy")
    args = parser.parse_args()

    setup_database()
    if args.with_sla:
        create_sla_policies()
    else:
        from routing.models import SlaPolicy

        SlaPolicy.objects.update(is_active=False)
    print(f"SLA policy active: {'yes' if args.with_sla else 'no'}")
    from inbox.services.ingest import batch, cleaning

    if args.no_enrich:
        batch.enrich_messages = lambda messages, own_handles: {
            cleaning.clip(m.external_id, 255): ("", "neutral", 0, "", None, "") for m in messages
        }
    else:
        try:
            import inbox.lib.enrich  # noqa: F401

            enriched = "yes"
        except ImportError:
            enriched = "no (inbox.lib.enrich not available)"
        print(f"enrichment: {enriched}")

    from bench.kinds import KINDS

    kinds = tuple(KINDS) if args.kinds == "all" else tuple(k for k in args.kinds.split(",") if k)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds {sorted(unknown)}; known: {sorted(KINDS)}")
    print(f"kinds: simulator{''.join(', ' + k for k in kinds)}")
    t = time.perf_counter()
    data, own = build(args.n, kinds)
    print(f"built {sum(map(len, data.values())):,} messages in {time.perf_counter() - t:.1f} s")

    ingest_rates, copy_rates = [], []
    for r in range(args.repeat):
        ingest_rates.append(run_ingest(data, own, args.call_size))
        copy_rates.append(run_copy(data))
        print(
            f"repeat {r + 1}: ingest {ingest_rates[-1]:,.0f} msgs/s, copy {copy_rates[-1]:,.0f} rows/s"
        )
    ingest_rate = statistics.median(ingest_rates)
    copy_rate = statistics.median(copy_rates)
    print(
        f"RESULT ingest_msgs_per_s={ingest_rate:.0f} copy_rows_per_s={copy_rate:.0f}"
        f" ratio={ingest_rate / copy_rate:.3f} sla={'on' if args.with_sla else 'off'}"
        f" kinds={','.join(('simulator', *kinds))}"
    )


if __name__ == "__main__":
    main()
