"""Benchmark: manager dashboards over 10,000,000 messages and their rollups.

    python bench/dashboard.py [--n 10000000] [--runs 20] [--load-only] [--reload]

Reads DATABASE_URL like the app, but works in its own database `webcare_bench_dash` on the same
server, kept between runs (loaded again only when incomplete, of another size, or with --reload).
Everything is generated inside PostgreSQL with INSERT ... SELECT generate_series: channels,
departments and agents, ~0.4 n conversations over the last 400 days (first response and close
times drawn from a log-normal), n messages (2 or 3 per conversation: the customer's message, the
agent's first response, sometimes a follow-up), and the rollup rows computed from them set-based
(GROUPING SETS over the messages and conversations, durations binned with reports.sketch's
formula), plus hourly backlog snapshots and daily keyword counts. Every 40th conversation counts as
an orphan start (its first message replies to a message not in the inbox): the conversation
figures are loaded a second time without those (reports.rollup.metrics.NO_ORPHANS), as the rollup keeps
them. A database loaded before that split gets only the split rows added.

Every third conversation is private (Conversation.is_public false) and the channels are of six
kinds, so the "Public and private" and "By channel kind" panels have rows to read; their rollup
rows (DimKind.VISIBILITY and VISIBILITY_TEAM) are loaded like the others (_visibility_rows).
--db names another database (a smaller --n beside the full one).

Times through Django's test client (server time, in this process) what a browser fetches for one
dashboard: the page and each of its panels (htmx fragments), one after the other, summed per run
(a browser fetches them in parallel, so this is an upper bound); for the manager over 30 and 365
days and a team lead's dashboard over 30 and 365 days, all "cold" (the one-minute panel cache is
cleared before every run, so every figure is computed from the rollups), plus the 365-day
dashboard "warm" (a second viewer in the same minute), and the dashboards with the orphan filter
on (?orphans=exclude). Baseline in the same run: the settings page (a trivial page through the
same stack). Median and p95 over --runs runs each. Last line:
`RESULT dash30_p95_ms=<n> dash365_p95_ms=<n> team30_p95_ms=<n> ...` (cold figures first).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DB = "webcare_bench_dash"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import ensure_database  # noqa: E402

CHANNELS = 6
DEPARTMENTS = 6
AGENTS = 60
DAYS = 400
LANGUAGES = ("nl", "en", "de", "fr")
TZ = "Europe/Amsterdam"
# Every ORPHAN_EVERY-th conversation starts with a reply to a message not in the inbox.
ORPHAN_EVERY = 40
# bench_meta.version: 2 since the rollups hold the figures without orphan starts too; 3 since
# private conversations, channel kinds and the visibility rows (an older database is loaded again).
VERSION = 3
KINDS = ("x", "facebook", "whatsapp", "messenger", "linkedin", "instagram_direct")


def _bench_url(db: str = BENCH_DB) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/dashboard.py needs DATABASE_URL pointing at PostgreSQL")
    return urlunsplit(urlsplit(url)._replace(path="/" + db))


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webcare.settings")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:63799/9")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _state(n: int) -> str:
    """ "ready", or "load" (nothing, another size or version, or rollups emptied by a
    migration)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bench_meta (n bigint, complete boolean)")
        cur.execute("ALTER TABLE bench_meta ADD COLUMN IF NOT EXISTS version int DEFAULT 1")
        cur.execute("SELECT n, complete, version FROM bench_meta")
        row = cur.fetchone()
        cur.execute("SELECT EXISTS (SELECT 1 FROM reports_durationbin)")
        rollups = cur.fetchone()[0]
    if not (row and row[0] == n and row[1] and rollups):
        return "load"
    return "ready" if row[2] == VERSION else "load"


def _exec(cur, label: str, sql: str, params=None) -> None:
    started = time.perf_counter()
    cur.execute(sql, params)
    _log(f"{label}: {time.perf_counter() - started:.1f} s")


GAMMA = (1 + 0.005) / (1 - 0.005)
BIN_SQL = f"CASE WHEN {{d}} < 0.5 THEN -1000000 ELSE ceil(ln({{d}}) / ln({GAMMA!r}))::int END"
LOCAL_DAY = f"(date_trunc('day', {{t}} AT TIME ZONE '{TZ}') AT TIME ZONE '{TZ}')"
LOCAL_MONTH = f"(date_trunc('month', {{t}} AT TIME ZONE '{TZ}') AT TIME ZONE '{TZ}')"


def load(n: int) -> None:
    from django.db import connection, transaction

    from inbox.models import Channel
    from reports.models import BacklogSnapshot, CountRollup, DurationBin, KeywordCount
    from routing.models import Department, Membership
    from webcare.accounts.models import User

    convs = int(n * 0.4)
    with connection.cursor() as cur:
        cur.execute("DELETE FROM bench_meta")
        for table in (
            "reports_durationbin",
            "reports_countrollup",
            "reports_backlogsnapshot",
            "reports_keywordcount",
            "reports_conversationclock",
            "inbox_message",
            "inbox_conversationevent",
            "inbox_conversation",
            "inbox_contact",
        ):
            cur.execute(f"TRUNCATE {table} CASCADE")
    Membership.objects.all().delete()
    User.objects.all().delete()
    Department.objects.all().delete()
    Channel.objects.all().delete()
    channels = [
        Channel.objects.create(kind=KINDS[i % len(KINDS)], name=f"Bench {i}")
        for i in range(CHANNELS)
    ]
    depts = [
        Department.objects.create(name=f"Team {i}", slug=f"team-{i}") for i in range(DEPARTMENTS)
    ]
    agents = []
    for i in range(AGENTS):
        user = User.objects.create_user(f"agent{i}", password="bench", role="staff")
        Membership.objects.create(user=user, department=depts[i % DEPARTMENTS], is_lead=i < 6)
        agents.append(user)
    User.objects.create_user("manager", password="bench", role="manager")
    ch0, d0, a0 = channels[0].pk, depts[0].pk, agents[0].pk
    langs = "ARRAY[" + ",".join(f"'{x}'" for x in LANGUAGES) + "]"

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
        # Secondary indexes are dropped during the load and built once after it (much faster);
        # the unique constraints stay.
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes i WHERE tablename IN"
            " ('inbox_conversation', 'inbox_message') AND NOT EXISTS (SELECT 1 FROM"
            " pg_constraint c WHERE c.conname = i.indexname)"
        )
        secondary = cur.fetchall()
        for name, _definition in secondary:
            cur.execute(f'DROP INDEX "{name}"')
        # Log-normal durations (Box-Muller): first response median ~40 min, resolution ~1 day.
        _exec(
            cur,
            f"{convs:,} conversations",
            f"""
            INSERT INTO inbox_conversation (thread_key, status, status_reason, priority, language,
                sentiment, flags, snippet, is_public, message_count, received_at, last_message_at,
                last_inbound_at, version, first_response_at, first_response_due_at, sla_state,
                closed_at, created_at, updated_at, assignee_id, channel_id, contact_id,
                department_id, needs_reply_reasons)
            SELECT 't' || g, CASE WHEN g %% 50 = 0 THEN 'new' ELSE 'closed' END, '', 1,
                ({langs})[1 + g %% 4], (ARRAY['negative','neutral','positive'])[1 + g %% 3],
                CASE WHEN g %% 97 = 0 THEN 1 ELSE 0 END, 'Bench message', g %% 3 <> 0, 2,
                r, r, r, 1, r + frt, r + interval '2 hours',
                CASE WHEN g %% 50 = 0 THEN 'overdue' ELSE 'ok' END,
                CASE WHEN g %% 50 = 0 THEN NULL ELSE r + frt + res END, r, r,
                %s + g %% {AGENTS}, %s + g %% {CHANNELS}, %s + g %% 200000,
                %s + (g %% {AGENTS}) %% {DEPARTMENTS}, ''
            FROM (
                SELECT g,
                    now() - random() * interval '{DAYS} days' AS r,
                    make_interval(secs => exp(ln(2400) + 1.3 * sqrt(-2 * ln(1 - random()))
                        * cos(2 * pi() * random()))) AS frt,
                    make_interval(secs => exp(ln(86400) + 1.0 * sqrt(-2 * ln(1 - random()))
                        * cos(2 * pi() * random()))) AS res
                FROM generate_series(1, %s) g
            ) s
            """,
            [a0, ch0, contact0, d0, convs],
        )
        _exec(
            cur,
            f"{n:,} messages",
            """
            INSERT INTO inbox_message (external_id, parent_external_id, direction, text, url,
                is_public, is_automatic, language, sentiment, flags, created_at, ingested_at, raw,
                channel_id, contact_id, conversation_id, sent_by_id)
            SELECT c.id || '-' || j, '', CASE WHEN j = 1 THEN 'out' ELSE 'in' END,
                'Bench message', '', c.is_public, false, c.language, c.sentiment, c.flags,
                CASE j WHEN 0 THEN c.received_at WHEN 1 THEN c.first_response_at
                    ELSE c.first_response_at + interval '20 minutes' END,
                now(), '{}', c.channel_id, c.contact_id, c.id,
                CASE WHEN j = 1 THEN c.assignee_id END
            FROM inbox_conversation c
            CROSS JOIN LATERAL generate_series(0, 1 + (c.id %% 2)::int) j
            LIMIT %s
            """,
            [n],
        )
        for name, definition in secondary:
            _exec(cur, f"index {name}", definition)

        _rollup_rows(cur, split=False)
        _rollup_rows(cur, split=True)
        _orphan_rows(cur)
        _visibility_rows(cur)
        _exec(
            cur,
            "backlog snapshots",
            f"""
            INSERT INTO reports_backlogsnapshot (hour, dim, open, overdue)
            SELECT h, d, 500 + (extract(hour FROM h)::int * 37) %% 400, 20 + extract(day FROM h)::int
            FROM generate_series(date_trunc('hour', now()) - interval '{DAYS} days',
                                 date_trunc('hour', now()), interval '1 hour') h,
                 unnest(%s::text[]) d
            """,
            [["", *[str(d.pk) for d in depts]]],
        )
        _exec(
            cur,
            "keywords",
            f"""
            INSERT INTO reports_keywordcount (day, dim, word, count)
            SELECT (now() - g * interval '1 day')::date, d, 'word' || w, (w * 7 + g) %% 300 + 1
            FROM generate_series(0, {DAYS}) g, unnest(%s::text[]) d, generate_series(1, 60) w
            """,
            [["", *[str(d.pk) for d in depts]]],
        )
        _exec(cur, "analyze", "ANALYZE")
        cur.execute("INSERT INTO bench_meta VALUES (%s, true, %s)", [n, VERSION])
    with transaction.atomic():
        pass
    for model in (CountRollup, DurationBin, BacklogSnapshot, KeywordCount):
        _log(f"{model.__name__}: {model.objects.count():,} rows")


def _rollup_rows(cur, *, split: bool) -> None:
    """The rollup rows computed from the generated conversations and messages, set-based.

    split: the conversation figures without orphan starts instead (reports.rollup.metrics.NO_ORPHANS;
    every ORPHAN_EVERY-th conversation is taken for one), and the orphan counter.
    """
    from reports.rollup.metrics import NO_ORPHANS, SPLIT_METRICS

    suffix = NO_ORPHANS if split else ""
    keep = f"c.id % {ORPHAN_EVERY} <> 0" if split else "true"
    # Rollups, set-based. Counters: inbound per hour and day, responses per day, per dimension.
    day_m = LOCAL_DAY.format(t="m.created_at")
    for gran, bucket, metric, direction in (
        ("d", day_m, "inbound", "in"),
        ("h", "date_trunc('hour', m.created_at)", "inbound", "in"),
        ("d", day_m, "responses", "out"),
    ):
        if split and metric not in SPLIT_METRICS:
            continue
        agent = ", (b, m.sent_by_id)" if direction == "out" else ""
        agent_case = "WHEN GROUPING(m.sent_by_id) = 0 THEN 'agent'" if agent else ""
        agent_dim = "m.sent_by_id::text," if agent else ""
        _exec(
            cur,
            f"counter {metric}{suffix}/{gran}",
            f"""
            INSERT INTO reports_countrollup (granularity, start, metric, dim_kind, dim, value)
            SELECT '{gran}', b,
                '{metric}{suffix}',
                CASE WHEN GROUPING(m.channel_id) = 0 THEN 'channel'
                     WHEN GROUPING(c.department_id) = 0 THEN 'department'
                     WHEN GROUPING(m.language) = 0 THEN 'language'
                     {agent_case} ELSE 'all' END,
                COALESCE(m.channel_id::text, c.department_id::text, m.language,
                         {agent_dim} ''),
                count(*)
            FROM inbox_message m JOIN inbox_conversation c ON c.id = m.conversation_id,
                LATERAL (SELECT {bucket} AS b) x
            WHERE m.direction = '{direction}' AND {keep}
            GROUP BY GROUPING SETS ((b), (b, m.channel_id), (b, c.department_id),
                                    (b, m.language){agent})
            """,
        )
    day_c = LOCAL_DAY.format(t="c.first_response_at")
    for metric, gran_sql in (
        ("conversations", LOCAL_DAY.format(t="c.received_at")),
        ("frt_due", day_c),
        ("frt_met", day_c),
        ("sentiment_negative", LOCAL_DAY.format(t="c.received_at")),
        ("flag_threat", LOCAL_DAY.format(t="c.received_at")),
    ):
        if split and metric not in SPLIT_METRICS:
            continue
        where = {
            "frt_met": "c.first_response_at <= c.first_response_due_at",
            "sentiment_negative": "c.sentiment = 'negative'",
            "flag_threat": "c.flags & 1 = 1",
        }.get(metric, "true")
        _exec(
            cur,
            f"counter {metric}{suffix}",
            f"""
            INSERT INTO reports_countrollup (granularity, start, metric, dim_kind, dim, value)
            SELECT 'd', b, '{metric}{suffix}',
                CASE WHEN GROUPING(c.channel_id) = 0 THEN 'channel'
                     WHEN GROUPING(c.department_id) = 0 THEN 'department'
                     WHEN GROUPING(c.language) = 0 THEN 'language'
                     WHEN GROUPING(c.assignee_id) = 0 THEN 'agent' ELSE 'all' END,
                COALESCE(c.channel_id::text, c.department_id::text, c.language,
                         c.assignee_id::text, ''),
                count(*)
            FROM inbox_conversation c, LATERAL (SELECT {gran_sql} AS b) x
            WHERE {where} AND {keep}
            GROUP BY GROUPING SETS ((b), (b, c.channel_id), (b, c.department_id),
                                    (b, c.language), (b, c.assignee_id))
            """,
        )
    # Durations: first response (calendar and, here, 60%% of it as business time), next
    # response (follow-ups) and resolution; day and month rows per dimension.
    for metric, at, seconds, where in (
        (
            "frt_cal",
            "c.first_response_at",
            "extract(epoch FROM c.first_response_at - c.received_at)",
            "true",
        ),
        (
            "frt_bus",
            "c.first_response_at",
            "0.6 * extract(epoch FROM c.first_response_at - c.received_at)",
            "true",
        ),
        (
            "nrt_cal",
            "c.first_response_at",
            "extract(epoch FROM c.first_response_at - c.received_at) * (0.2 + (c.id % 7) / 3.0)",
            "c.id % 2 = 0",
        ),
        (
            "res_cal",
            "c.closed_at",
            "extract(epoch FROM c.closed_at - c.received_at)",
            "c.closed_at IS NOT NULL",
        ),
    ):
        for gran, bucket in (("d", LOCAL_DAY), ("m", LOCAL_MONTH)):
            _exec(
                cur,
                f"bins {metric}{suffix}/{gran}",
                f"""
                INSERT INTO reports_durationbin
                    (granularity, start, metric, dim_kind, dim, bin, count)
                SELECT '{gran}', b, '{metric}{suffix}',
                    CASE WHEN GROUPING(c.channel_id) = 0 THEN 'channel'
                         WHEN GROUPING(c.department_id) = 0 THEN 'department'
                         WHEN GROUPING(c.language) = 0 THEN 'language'
                         WHEN GROUPING(c.assignee_id) = 0 THEN 'agent' ELSE 'all' END,
                    COALESCE(c.channel_id::text, c.department_id::text, c.language,
                             c.assignee_id::text, ''),
                    bin, count(*)
                FROM inbox_conversation c,
                    LATERAL (SELECT {bucket.format(t=at)} AS b,
                                    {BIN_SQL.format(d=seconds)} AS bin) x
                WHERE {where} AND {keep}
                GROUP BY GROUPING SETS ((b, bin), (b, c.channel_id, bin),
                    (b, c.department_id, bin), (b, c.language, bin), (b, c.assignee_id, bin))
                """,
            )


VISIBILITY_DIMS = (
    ("visibility", "CASE WHEN c.is_public THEN 'public' ELSE 'private' END"),
    (
        "visteam",
        "CASE WHEN c.is_public THEN 'public:' ELSE 'private:' END"
        " || COALESCE(c.department_id::text, '0')",
    ),
)


def _visibility_rows(cur) -> None:
    """The rows of the public/private dimensions (overall and per team) the breakdown panels
    read: messages in, responses, conversations, first response SLA, and the first response and
    resolution bins, each also without orphan starts (what _rollup_rows loads for the others)."""
    from reports.rollup.metrics import NO_ORPHANS

    for kind, dim in VISIBILITY_DIMS:
        for split in (False, True):
            suffix = NO_ORPHANS if split else ""
            keep = f"c.id % {ORPHAN_EVERY} <> 0" if split else "true"
            for metric, direction in (("inbound", "in"), ("responses", "out")):
                if split and metric == "inbound":
                    continue
                _exec(
                    cur,
                    f"{kind} {metric}{suffix}",
                    f"""
                    INSERT INTO reports_countrollup
                        (granularity, start, metric, dim_kind, dim, value)
                    SELECT 'd', {LOCAL_DAY.format(t="m.created_at")}, '{metric}{suffix}',
                        '{kind}', {dim}, count(*)
                    FROM inbox_message m JOIN inbox_conversation c ON c.id = m.conversation_id
                    WHERE m.direction = '{direction}' AND {keep}
                    GROUP BY 2, 5
                    """,
                )
            for metric, at, where in (
                ("conversations", "c.received_at", "true"),
                ("frt_due", "c.first_response_at", "true"),
                (
                    "frt_met",
                    "c.first_response_at",
                    "c.first_response_at <= c.first_response_due_at",
                ),
            ):
                _exec(
                    cur,
                    f"{kind} {metric}{suffix}",
                    f"""
                    INSERT INTO reports_countrollup
                        (granularity, start, metric, dim_kind, dim, value)
                    SELECT 'd', {LOCAL_DAY.format(t=at)}, '{metric}{suffix}', '{kind}', {dim},
                        count(*)
                    FROM inbox_conversation c WHERE {where} AND {keep}
                    GROUP BY 2, 5
                    """,
                )
            for metric, at, seconds, where in (
                (
                    "frt_cal",
                    "c.first_response_at",
                    "extract(epoch FROM c.first_response_at - c.received_at)",
                    "true",
                ),
                (
                    "frt_bus",
                    "c.first_response_at",
                    "0.6 * extract(epoch FROM c.first_response_at - c.received_at)",
                    "true",
                ),
                (
                    "res_cal",
                    "c.closed_at",
                    "extract(epoch FROM c.closed_at - c.received_at)",
                    "c.closed_at IS NOT NULL",
                ),
            ):
                for gran, bucket in (("d", LOCAL_DAY), ("m", LOCAL_MONTH)):
                    _exec(
                        cur,
                        f"{kind} bins {metric}{suffix}/{gran}",
                        f"""
                        INSERT INTO reports_durationbin
                            (granularity, start, metric, dim_kind, dim, bin, count)
                        SELECT '{gran}', {bucket.format(t=at)}, '{metric}{suffix}', '{kind}',
                            {dim}, {BIN_SQL.format(d=seconds)}, count(*)
                        FROM inbox_conversation c WHERE {where} AND {keep}
                        GROUP BY 2, 5, 6
                        """,
                    )


def _orphan_rows(cur) -> None:
    """What the orphan filter leaves out: the orphan_conversations counter, by day started."""
    from reports.rollup.metrics import ORPHAN_CONVERSATIONS

    _exec(
        cur,
        "counter orphan_conversations",
        f"""
        INSERT INTO reports_countrollup (granularity, start, metric, dim_kind, dim, value)
        SELECT 'd', b, '{ORPHAN_CONVERSATIONS}',
            CASE WHEN GROUPING(c.channel_id) = 0 THEN 'channel'
                 WHEN GROUPING(c.department_id) = 0 THEN 'department'
                 WHEN GROUPING(c.language) = 0 THEN 'language' ELSE 'all' END,
            COALESCE(c.channel_id::text, c.department_id::text, c.language, ''),
            count(*)
        FROM inbox_conversation c, LATERAL (SELECT {LOCAL_DAY.format(t="c.received_at")} AS b) x
        WHERE c.id % {ORPHAN_EVERY} = 0
        GROUP BY GROUPING SETS ((b), (b, c.channel_id), (b, c.department_id), (b, c.language))
        """,
    )


def _time(client, urls: list[str], runs: int, *, cold: bool) -> list[float]:
    from django.core.cache import cache

    out = []
    for _ in range(runs + 2):
        if cold:
            cache.clear()
        started = time.perf_counter()
        for url in urls:
            response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code}")
        out.append((time.perf_counter() - started) * 1000)
    return out[2:]  # the first two warm PostgreSQL's buffers


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def measure(runs: int) -> dict[str, float]:
    from django.test import Client
    from django.test.utils import override_settings
    from django.urls import reverse

    from reports.views import PANELS
    from webcare.accounts.models import User

    manager = User.objects.get(username="manager")
    lead = User.objects.get(username="agent0")

    def dashboard_urls(days: int, team: bool, *, orphans: bool = False) -> list[str]:
        page = reverse("reports:team" if team else "dashboards")
        extra = "&orphans=exclude" if orphans else ""  # the figures without orphan starts
        urls = [f"{page}?days={days}{extra}"]
        scope = "&scope=team" if team else ""
        for name in PANELS:
            if team and name in ("channel", "channel_kind", "language"):
                continue  # not on the team dashboard
            urls.append(reverse("reports:panel", args=[name]) + f"?days={days}{scope}{extra}")
        return urls

    results = {}
    client = Client()
    # A private in-process cache: "cold" clears it before every run (every panel computed from
    # the rollups), "warm" is a second viewer within the same minute.
    with override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    ):
        for label, urls, who, cold in (
            ("baseline", [reverse("settings")], manager, True),
            ("dash30", dashboard_urls(30, False), manager, True),
            ("dash365", dashboard_urls(365, False), manager, True),
            ("team30", dashboard_urls(30, True), lead, True),
            ("team365", dashboard_urls(365, True), lead, True),
            ("dash365_warm", dashboard_urls(365, False), manager, False),
            ("dash30_noorphans", dashboard_urls(30, False, orphans=True), manager, True),
            ("dash365_noorphans", dashboard_urls(365, False, orphans=True), manager, True),
            ("team365_noorphans", dashboard_urls(365, True, orphans=True), lead, True),
        ):
            client.force_login(who)
            times = _time(client, urls, runs, cold=cold)
            results[label] = p95(times)
            _log(
                f"{label}: {len(urls)} requests per run (page + panels, sequential),"
                f" median {statistics.median(times):.1f} ms, p95 {p95(times):.1f} ms"
                f" over {runs} runs"
            )
        # Each panel on its own, cold, p95 over the runs: the new breakdowns against the others.
        for label, days, team, who in (
            ("panel365", 365, False, manager),
            ("panel30", 30, False, manager),
            ("teampanel365", 365, True, lead),
        ):
            client.force_login(who)
            for url in dashboard_urls(days, team)[1:]:
                name = url.split("/panel/")[1].split("/")[0]
                times = _time(client, [url], runs, cold=True)
                results[f"{label}_{name}"] = p95(times)
                _log(
                    f"{label} {name}: median {statistics.median(times):.1f} ms, p95 {p95(times):.1f} ms"
                )
        # Which panel costs what (cold, one run each, 365 days, manager).
        client.force_login(manager)
        from django.core.cache import cache
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        for url in dashboard_urls(365, False):
            cache.clear()
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                client.get(url)
                ms = (time.perf_counter() - started) * 1000
            _log(f"  {url}: {ms:.1f} ms, {len(queries)} queries")
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--load-only", action="store_true")
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--db", default=BENCH_DB)
    args = parser.parse_args()
    db = args.db
    url = ensure_database(_bench_url(db), db, reload=args.reload)
    _setup_django(url)
    from django.db import connection

    with connection.cursor() as cur:
        # One run at a time: two loads into the one database interleave their TRUNCATEs and
        # INSERTs (a second load's backlog rows made the first fail on backlog_hour_dim).
        cur.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [db])
        if not cur.fetchone()[0]:
            sys.exit(f"another bench/dashboard.py is using {db}; run one at a time")
    state = _state(args.n)
    if state == "ready":
        _log(f"reusing {db} with {args.n:,} messages")
    else:
        _log(f"loading {args.n:,} messages into {db}")
        load(args.n)
    if args.load_only:
        return
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    from django.conf import settings

    if "testserver" not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS.append("testserver")
    from django.utils import timezone

    from reports.rollup.windows import build_windows, windows_stale

    if windows_stale(now=timezone.now()):
        started = time.perf_counter()
        build_windows(now=timezone.now())
        _log(f"pre-merged windows (once a day): {time.perf_counter() - started:.1f} s")
        # What autovacuum does soon after the daily rebuild (its insert threshold): statistics
        # and the visibility map, so the percentile probes are index-only scans.
        from django.db import connection

        with connection.cursor() as cur:
            for table in ("reports_windowbin", "reports_windowtotal", "reports_windowcount"):
                cur.execute(f"VACUUM ANALYZE {table}")
    r = measure(args.runs)
    print(
        f"RESULT dash30_p95_ms={r['dash30']:.0f} dash365_p95_ms={r['dash365']:.0f}"
        f" team30_p95_ms={r['team30']:.0f} team365_p95_ms={r['team365']:.0f}"
        f" dash365_warm_p95_ms={r['dash365_warm']:.0f}"
        f" dash30_noorphans_p95_ms={r['dash30_noorphans']:.0f}"
        f" dash365_noorphans_p95_ms={r['dash365_noorphans']:.0f}"
        f" team365_noorphans_p95_ms={r['team365_noorphans']:.0f}"
        f" baseline_p95_ms={r['baseline']:.0f}"
    )
    panels = " ".join(f"{k}_p95_ms={v:.0f}" for k, v in r.items() if "panel" in k)
    print(f"PANELS {panels}")


if __name__ == "__main__":
    main()
