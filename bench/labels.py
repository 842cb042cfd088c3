"""Benchmark: the label panels ("By label", "Labels per week") over 2,000,000 conversations, 40%
labelled.

    python bench/labels.py [--conversations 2000000] [--runs 20] [--load-only] [--reload]

Reads DATABASE_URL like the app, but works in its own database `webcare_bench_labels` on the
same server, kept between runs (loaded again only when incomplete, of another size, or with
--reload). Generated inside PostgreSQL (INSERT ... SELECT generate_series, as bench/dashboard.py):
channels, teams and agents, the conversations over the last 400 days (first response drawn from
bench/dashboard.py's log-normal, one in 50 not answered, one in 40 an orphan start), their clocks
(reports' ConversationClock: what the rollup knows of them), 12 labels and their links: 40% of the
conversations labelled, one in sixteen of those with a second label. No messages: the label figures
never read them. The label rollup rows are then written by the app's own code,
reports.rollup.labels.rebuild_labels (what rebuild_rollups runs), timed.

Times through Django's test client (server time, in this process) the two label panels (htmx
fragments) for the manager over 30 and 365 days, cold (the panel cache cleared before every run),
and the team lead's "By label" over 30 days; baseline in the same run: the settings page, as in
bench/dashboard.py. For comparison, the read the panel did before the rollup (the labels table
joined to the clocks, in SQL, fetched; without its Python half) is timed over 30 days, 3 runs.
Median and p95 over --runs runs. Last line: `RESULT labels30_p95_ms=<n> ...`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import ensure_database  # noqa: E402
from bench.dashboard import _exec, _log, _setup_django, _time, p95  # noqa: E402

BENCH_DB = "webcare_bench_labels"
CHANNELS = 6
DEPARTMENTS = 6
AGENTS = 60
LABELS = 12
DAYS = 400
VERSION = 1


def _bench_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/labels.py needs DATABASE_URL pointing at PostgreSQL")
    return urlunsplit(urlsplit(url)._replace(path="/" + BENCH_DB))


def _ready(n: int) -> bool:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bench_meta (n bigint, version int)")
        cur.execute("SELECT n, version FROM bench_meta")
        row = cur.fetchone()
        cur.execute("SELECT EXISTS (SELECT 1 FROM reports_labeltally)")
        tallies = cur.fetchone()[0]
    return bool(row and row[0] == n and row[1] == VERSION and tallies)


def load(n: int) -> None:
    from django.db import connection

    from inbox.models import Channel, Label
    from reports.models import LabelTally, RollupWatermark
    from reports.rollup.labels import rebuild_labels
    from reports.rollup.metrics import LABELS as LABELS_MARK
    from routing.models import Department, Membership
    from webcare.accounts.models import User

    with connection.cursor() as cur:
        cur.execute("DELETE FROM bench_meta")
        for table in (
            "reports_labeltally",
            "reports_durationbin",
            "reports_countrollup",
            "reports_conversationclock",
            "inbox_conversationlabel",
            "inbox_conversation",
            "inbox_contact",
        ):
            cur.execute(f"TRUNCATE {table} CASCADE")
    Membership.objects.all().delete()
    User.objects.all().delete()
    Department.objects.all().delete()
    Channel.objects.all().delete()
    Label.objects.all().delete()
    channels = [Channel.objects.create(kind="x", name=f"X @bench{i}") for i in range(CHANNELS)]
    depts = [
        Department.objects.create(name=f"Team {i}", slug=f"team-{i}") for i in range(DEPARTMENTS)
    ]
    agents = []
    for i in range(AGENTS):
        user = User.objects.create_user(f"agent{i}", password="bench", role="staff")
        Membership.objects.create(user=user, department=depts[i % DEPARTMENTS], is_lead=i < 6)
        agents.append(user)
    User.objects.create_user("manager", password="bench", role="manager")
    labels = [Label.objects.create(name=f"Label {i}", colour="red") for i in range(LABELS)]
    ch0, d0, a0, l0 = channels[0].pk, depts[0].pk, agents[0].pk, labels[0].pk

    with connection.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        cur.execute("SET maintenance_work_mem = '512MB'")
        cur.execute("SET work_mem = '256MB'")
        _exec(
            cur,
            "contacts",
            "INSERT INTO inbox_contact (channel_id, external_id, handle, name, avatar_url,"
            " profile_url, tags, is_blocked, is_fake, is_own_account, created_at)"
            " SELECT %s + g %% %s, 'c' || g, 'user' || g, '', '', '', '[]', false, false, false,"
            " now() FROM generate_series(0, 199999) g",
            [ch0, CHANNELS],
        )
        cur.execute("SELECT min(id) FROM inbox_contact")
        contact0 = cur.fetchone()[0]
        _exec(
            cur,
            f"{n:,} conversations",
            f"""
            INSERT INTO inbox_conversation (thread_key, status, status_reason, priority, language,
                sentiment, flags, snippet, is_public, message_count, received_at, last_message_at,
                last_inbound_at, version, first_response_at, first_response_due_at, sla_state,
                closed_at, created_at, updated_at, assignee_id, channel_id, contact_id,
                department_id)
            SELECT 't' || g, CASE WHEN g %% 50 = 0 THEN 'new' ELSE 'closed' END, '', 1, 'nl',
                'neutral', 0, 'Bench message', true, 2, r, r, r, 1,
                CASE WHEN g %% 50 = 0 THEN NULL ELSE r + frt END, r + interval '2 hours',
                'ok', CASE WHEN g %% 50 = 0 THEN NULL ELSE r + frt + interval '1 day' END, r, r,
                %s + g %% {AGENTS}, %s + g %% {CHANNELS}, %s + g %% 200000,
                %s + (g %% {AGENTS}) %% {DEPARTMENTS}
            FROM (
                SELECT g,
                    now() - random() * interval '{DAYS} days' AS r,
                    make_interval(secs => exp(ln(2400) + 1.3 * sqrt(-2 * ln(1 - random()))
                        * cos(2 * pi() * random()))) AS frt
                FROM generate_series(1, %s) g
            ) s
            """,
            [a0, ch0, contact0, d0, n],
        )
        _exec(
            cur,
            "clocks",
            "INSERT INTO reports_conversationclock (conversation_id, first_inbound_at,"
            " first_response_at, awaiting_since, responses, resolved_at, orphan_start)"
            " SELECT id, received_at, first_response_at,"
            " CASE WHEN first_response_at IS NULL THEN received_at END,"
            " CASE WHEN first_response_at IS NULL THEN 0 ELSE 1 END, NULL, id % 40 = 0"
            " FROM inbox_conversation",
        )
        # 40% labelled (ids ending in 0-3 of every 10), spread over the labels; one in sixteen
        # of those (ids 1 mod 40) with a second label.
        _exec(
            cur,
            "labels",
            f"""
            INSERT INTO inbox_conversationlabel (conversation_id, label_id, applied_by_id,
                rule_id, applied_at, received_at)
            SELECT c.id, %s + l.k, NULL, NULL, c.received_at, c.received_at
            FROM inbox_conversation c
            CROSS JOIN LATERAL (
                SELECT (c.id * c.id) %% {LABELS} AS k
                UNION ALL
                SELECT ((c.id * c.id) %% {LABELS} + 1) %% {LABELS} WHERE c.id %% 40 = 1
            ) l
            WHERE c.id %% 10 < 4
            """,
            [l0],
        )
        _exec(cur, "analyze", "ANALYZE")
    started = time.perf_counter()
    LabelTally.objects.all().delete()
    RollupWatermark.objects.filter(name=LABELS_MARK).delete()
    tallies = rebuild_labels()
    RollupWatermark.objects.get_or_create(name=LABELS_MARK)
    _log(
        f"label rollup (rebuild_labels): {tallies:,} tallies in {time.perf_counter() - started:.1f} s"
    )
    with connection.cursor() as cur:
        cur.execute("ANALYZE reports_countrollup, reports_durationbin, reports_labeltally")
        cur.execute("INSERT INTO bench_meta VALUES (%s, %s)", [n, VERSION])


def direct_ms(days: int, runs: int) -> list[float]:
    """The read the panel did before the rollup: links of the period joined to their clocks."""
    from django.db import connection

    from reports.periods import Period

    period = Period.ending_today(days)
    adapt = connection.ops.adapt_datetimefield_value
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute(
                "SELECT l.label_id, l.received_at, k.first_inbound_at, k.first_response_at,"
                " k.orphan_start FROM inbox_conversationlabel l LEFT JOIN"
                " reports_conversationclock k ON k.conversation_id = l.conversation_id"
                " WHERE l.received_at >= %s AND l.received_at < %s",
                [adapt(period.start), adapt(period.end)],
            )
            cur.fetchall()
        out.append((time.perf_counter() - started) * 1000)
    return out


def measure(runs: int) -> dict[str, float]:
    from django.test import Client
    from django.test.utils import override_settings
    from django.urls import reverse

    from webcare.accounts.models import User

    manager = User.objects.get(username="manager")
    lead = User.objects.get(username="agent0")

    def panel(name: str, days: int, team: bool = False) -> list[str]:
        scope = "&scope=team" if team else ""
        return [reverse("reports:panel", args=[name]) + f"?days={days}{scope}"]

    results = {}
    client = Client()
    with override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    ):
        for label, urls, who in (
            ("baseline", [reverse("settings")], manager),
            ("labels30", panel("labels", 30), manager),
            ("labels365", panel("labels", 365), manager),
            ("trend30", panel("label_trend", 30), manager),
            ("trend365", panel("label_trend", 365), manager),
            ("team_labels30", panel("labels", 30, team=True), lead),
        ):
            client.force_login(who)
            times = _time(client, urls, runs, cold=True)
            results[label] = p95(times)
            results[f"{label}_median"] = statistics.median(times)
            _log(
                f"{label}: median {statistics.median(times):.1f} ms, p95 {p95(times):.1f} ms"
                f" over {runs} runs"
            )
    times = direct_ms(30, 3)
    results["direct30"] = statistics.median(times)
    _log(
        f"before the rollup, the direct read over 30 days (SQL + fetch): median {results['direct30']:.0f} ms"
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--load-only", action="store_true")
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args()
    url = ensure_database(_bench_url(), BENCH_DB, reload=args.reload)
    _setup_django(url)
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [BENCH_DB])
        if not cur.fetchone()[0]:
            sys.exit(f"another bench/labels.py is using {BENCH_DB}; run one at a time")
    if _ready(args.conversations):
        _log(f"reusing {BENCH_DB} with {args.conversations:,} conversations")
    else:
        _log(f"loading {args.conversations:,} conversations into {BENCH_DB}")
        load(args.conversations)
    if args.load_only:
        return
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    from django.conf import settings

    if "testserver" not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS.append("testserver")
    r = measure(args.runs)
    base = r["baseline"]
    print(
        " ".join(
            [
                "RESULT",
                *(
                    f"{k}_p95_ms={r[k]:.0f}"
                    for k in ("labels30", "labels365", "trend30", "trend365", "team_labels30")
                ),
                f"baseline_p95_ms={base:.1f}",
                *(f"{k}_ratio={r[k] / base:.1f}" for k in ("labels30", "labels365")),
                f"direct30_median_ms={r['direct30']:.0f}",
            ]
        )
    )


if __name__ == "__main__":
    main()
