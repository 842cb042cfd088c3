"""SLA sweep at 100,000 open conversations in PostgreSQL.

    DATABASE_URL=postgres://... python bench/sla.py [--n 100000] [--changed-pct 1] [--runs 7]

Loads N open conversations with running clocks (INSERT ... SELECT
generate_series: seconds, not minutes), then repeatedly moves 1% of them past
a threshold (half past "warn", half past "due") and times one sweep
(routing.sla.sweep.sweep_sla: two conditional UPDATEs through the partial
indexes, breach rows, audit events). Baselines in the same run: a sweep when
nothing changed, and a full scan of every open conversation for due clocks
(what a sweep without the partial indexes would do). Also times the
notification task for one batch. Wipes the conversation tables of the
database it is given: point it at a scratch database.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webcare.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--changed-pct", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        sys.exit("bench/sla.py needs DATABASE_URL pointing at PostgreSQL")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from inbox.models import Channel, Contact, Conversation
    from routing.models import SlaBreach, SlaClock
    from routing.sla import escalation, sweep
    from webcare.accounts.models import User

    call_command("migrate", verbosity=0)
    conv_t = Conversation._meta.db_table
    clock_t = SlaClock._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"TRUNCATE {conv_t}, {clock_t}, {SlaBreach._meta.db_table}, "
            "inbox_conversationevent, inbox_notification, inbox_message CASCADE"
        )
    channel = Channel.objects.create(kind="simulator", name="bench")
    contact = Contact.objects.create(channel=channel, external_id="bench")
    for i in range(2):
        User.objects.get_or_create(
            username=f"bench-coord-{i}", defaults={"role": "coordinator", "email": ""}
        )

    n = args.n
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO {conv_t} (channel_id, contact_id, thread_key, status, status_reason,
                priority, language, sentiment, flags, snippet, is_public, message_count,
                received_at, last_message_at, last_inbound_at, version, sla_state,
                first_response_due_at, resolution_due_at, sla_warn_at, sla_due_at,
                created_at, updated_at)
            SELECT %s, %s, 'bench-' || g, 'assigned', '', 1, 'nl', 'neutral', 0,
                'bench conversation ' || g, true, 1,
                now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour',
                1, 'ok',
                now() + interval '1 day' + g * interval '1 second',
                now() + interval '3 days',
                now() + interval '18 hours' + g * interval '1 second',
                now() + interval '1 day' + g * interval '1 second',
                now(), now()
            FROM generate_series(1, %s) AS g
            """,
            [channel.pk, contact.pk, n],
        )
        cur.execute(
            f"""
            INSERT INTO {clock_t} (conversation_id, kind, target_minutes, warn_percent,
                calendar_spec, started_at, pauses, warn_at, due_at)
            SELECT id, 'first_response', 1440, 75, '{{}}'::jsonb, received_at, '[]'::jsonb,
                sla_warn_at, sla_due_at
            FROM {conv_t}
            """
        )
        cur.execute(f"ANALYZE {conv_t}; ANALYZE {clock_t}")
    load_s = time.perf_counter() - t0
    print(f"loaded {n} open conversations with clocks in {load_s:.1f} s")

    changed = int(n * args.changed_pct / 100)

    def touch(ids_warn: list[int], ids_due: list[int]) -> None:
        """Move clocks past their thresholds, as time passing would."""
        with connection.cursor() as cur:
            for ids, warn, due in (
                (ids_warn, "now() - interval '1 minute'", "now() + interval '1 hour'"),
                (ids_due, "now() - interval '20 minutes'", "now() - interval '1 minute'"),
            ):
                cur.execute(
                    f"UPDATE {conv_t} SET sla_state = 'ok', sla_warn_at = {warn}, "
                    f"sla_due_at = {due} WHERE id = ANY(%s)",
                    [ids],
                )
                cur.execute(
                    f"UPDATE {clock_t} SET warn_at = {warn}, due_at = {due} "
                    "WHERE conversation_id = ANY(%s)",
                    [ids],
                )

    def reset(ids: list[int]) -> None:
        with connection.cursor() as cur:
            cur.execute(
                f"UPDATE {conv_t} SET sla_state = 'ok', sla_warn_at = now() + interval '18 hours',"
                f" sla_due_at = now() + interval '1 day' WHERE id = ANY(%s)",
                [ids],
            )
            cur.execute(
                f"UPDATE {clock_t} SET warn_at = now() + interval '18 hours', "
                "due_at = now() + interval '1 day' WHERE conversation_id = ANY(%s)",
                [ids],
            )
            # Breaches are reset; the sweep's audit events stay (that table is append-only).
            cur.execute(f"DELETE FROM {SlaBreach._meta.db_table}")

    def timed_sweep() -> tuple[float, int]:
        start = time.perf_counter()
        result = sweep.sweep_sla(now=timezone.now(), enqueue_notifications=False)
        return (time.perf_counter() - start) * 1000, result.changed

    with connection.cursor() as cur:
        cur.execute(f"SELECT min(id), max(id) FROM {conv_t}")
        lo, hi = cur.fetchone()

    import random

    rng = random.Random(6)
    timed_sweep()  # warm up
    noop = [timed_sweep()[0] for _ in range(args.runs)]
    sweeps, counts = [], []
    last_overdue: list[int] = []
    for _ in range(args.runs):
        ids = rng.sample(range(lo, hi + 1), changed)
        touch(ids[: changed // 2], ids[changed // 2 :])
        ms, count = timed_sweep()
        sweeps.append(ms)
        counts.append(count)
        last_overdue = ids[changed // 2 :]
        if _ < args.runs - 1:
            reset(ids)

    # Baseline: find due clocks by scanning every open conversation (no partial index).
    scans = []
    with connection.cursor() as cur:
        for _ in range(args.runs):
            start = time.perf_counter()
            cur.execute(
                f"SELECT count(*) FROM {conv_t} WHERE status IN "
                "('new','triaged','assigned','answered','waiting') "
                "AND coalesce(sla_due_at, 'infinity') + interval '0' <= now()"
            )
            cur.fetchone()
            scans.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    made = escalation.notify_sla_state(
        conversation_ids=last_overdue[: sweep.NOTIFY_CHUNK], state="overdue"
    )
    notify_ms = (time.perf_counter() - start) * 1000

    def p95(values: list[float]) -> float:
        return sorted(values)[max(0, int(round(0.95 * len(values))) - 1)]

    med = statistics.median(sweeps)
    print(f"open conversations: {n}, changed per sweep: {changed} ({args.changed_pct}%)")
    print(f"sweep after change: median {med:.1f} ms, p95 {p95(sweeps):.1f} ms (runs={args.runs})")
    print(f"baseline sweep, nothing changed: median {statistics.median(noop):.2f} ms")
    print(f"baseline full scan of open items: median {statistics.median(scans):.1f} ms")
    print(
        f"notification task, one batch of {sweep.NOTIFY_CHUNK} overdue: {notify_ms:.0f} ms "
        f"({made} notifications; runs in the worker after the sweep commits)"
    )
    print(f"RESULT sweep_100k_ms={med:.1f} changed={counts[-1]}")


if __name__ == "__main__":
    main()
