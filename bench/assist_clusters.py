"""Crisis clusters at crisis scale: 50,000 mentions in the two-hour window, one wave of 7,000.

    DATABASE_URL=postgres://... python bench/assist_clusters.py [--n 50000] [--wave 7000]

Runs in its own database (bench_assist_clusters, recreated) and, unless REDIS_URL is set, on the
embedded broker in a temporary directory (the 7,000 outbox tasks go there, nothing is sent).

Measures:
- clustering the whole window from scratch (every batch), as mentions/s, and one incremental
  run of 1,000 new mentions (what the minute's beat task costs during the crisis);
- the baseline in the same run: all pairs compared with the same scorer, timed on a sample and
  scaled to the window (what "just compare everything" would cost);
- the coordinator's request that starts "answer all" on the 7,000 cluster (stays in the
  request) and the worker's run that queues the 7,000 replies.

Last line: RESULT cluster_mentions_per_s=.. incremental_1000_ms=.. all_pairs_s=.. ...
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webcare.settings")

WORDS = [
    "huur",
    "verwarming",
    "lekkage",
    "monteur",
    "afspraak",
    "badkamer",
    "keuken",
    "schimmel",
    "buren",
    "geluid",
    "trap",
    "lift",
    "sleutel",
    "rekening",
    "incasso",
    "contract",
    "verhuizing",
    "balkon",
    "tuin",
    "dak",
    "raam",
    "deur",
    "kozijn",
    "schilder",
    "wachttijd",
    "telefoon",
    "klantenservice",
    "email",
    "website",
    "storing",
    "water",
    "stroom",
    "gas",
    "meter",
    "brief",
    "vandaag",
    "gisteren",
    "morgen",
    "week",
    "maand",
    "jaar",
    "snel",
    "traag",
    "goed",
    "slecht",
    "boos",
    "blij",
    "vraag",
    "antwoord",
]
WAVE = "Schande @woonstad, jullie laten huurders al weken zonder verwarming zitten"


def texts(n: int, wave: int, rng: random.Random) -> list[str]:
    out = []
    every = max(n // wave, 1)
    for i in range(n):
        if i % every == 0:
            out.append(f"{WAVE}{rng.choice(['!', '!!!', ' 😡', '. Bah.', ', echt schandalig'])}")
        else:
            out.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16))) + f" {i}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--wave", type=int, default=7_000)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/assist_clusters.py needs DATABASE_URL pointing at PostgreSQL")
    from bench.common import ensure_database

    os.environ["DATABASE_URL"] = ensure_database(url, "bench_assist_clusters", reload=True)
    os.environ.setdefault("WEBCARE_VAR_DIR", tempfile.mkdtemp(prefix="bench-clusters-"))

    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone
    from rapidfuzz import fuzz, process

    from inbox.channels.base import IncomingMessage
    from inbox.models import Channel, Reply
    from inbox.services.ingest import ingest_messages
    from reports.crisis import actions, matching
    from reports.crisis.clustering import cluster_batch
    from reports.models import CrisisCluster
    from webcare.accounts.models import User
    from webcare.jobs import task_named

    call_command("migrate", verbosity=0)
    rng = random.Random(17)
    channel = Channel.objects.create(kind="simulator", name="bench")
    now = timezone.now()
    start = now - timedelta(minutes=110)
    corpus = texts(args.n + 1000, args.wave, rng)

    def incoming(lo: int, hi: int) -> list[IncomingMessage]:
        step = timedelta(minutes=100) / (args.n + 1000)
        return [
            IncomingMessage(
                external_id=f"b{i}",
                text=corpus[i],
                created_at=start + step * i,
                author_id=f"a{i}",
            )
            for i in range(lo, hi)
        ]

    t = time.perf_counter()
    ingest_messages(channel=channel, messages=incoming(0, args.n))
    print(f"ingested {args.n} mentions in {time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    read = 0
    while (done := cluster_batch(now=timezone.now())) > 0:
        read += done
    full_s = time.perf_counter() - t
    largest = CrisisCluster.objects.order_by("-size")[0]
    print(f"clustered {read} mentions in {full_s:.1f} s; largest cluster {largest.size}")

    ingest_messages(channel=channel, messages=incoming(args.n, args.n + 1000))
    t = time.perf_counter()
    cluster_batch(now=timezone.now())
    incremental_ms = (time.perf_counter() - t) * 1000
    print(f"incremental run, 1,000 new mentions: {incremental_ms:.0f} ms")

    sample = [matching.clean(x) for x in corpus[:2000]]
    t = time.perf_counter()
    process.cdist(sample, sample, scorer=fuzz.ratio, score_cutoff=matching.THRESHOLD, workers=1)
    pairs_s = (time.perf_counter() - t) / (len(sample) ** 2) * (args.n**2 / 2)
    print(f"baseline, all pairs of the window with the same scorer: {pairs_s:.0f} s (scaled)")

    coordinator = User.objects.create(username="bench-coord", role="coordinator")
    # A web process has its task registry loaded after its first request: not timed here.
    task_named("reports.run_cluster_action")
    largest.refresh_from_db()
    t = time.perf_counter()
    record = actions.start_action(
        cluster=largest,
        action="answer",
        acting_user=coordinator,
        revision=largest.revision,
        text="Wij begrijpen uw boosheid. Een monteur komt deze week langs.",
    )
    request_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    actions.run_action(record.pk)
    worker_s = time.perf_counter() - t
    queued = Reply.objects.filter(conversation__in=[int(k) for k in record.items]).count()
    print(
        f"answer all: request {request_ms:.0f} ms for {len(record.items)} conversations; "
        f"worker {worker_s:.1f} s, {queued} replies queued"
    )
    print(
        f"RESULT cluster_mentions_per_s={read / full_s:.0f} incremental_1000_ms={incremental_ms:.0f} "
        f"all_pairs_s={pairs_s:.0f} largest_cluster={largest.size} "
        f"answer_request_ms={request_ms:.0f} answer_worker_s={worker_s:.1f} replies={queued}"
    )


if __name__ == "__main__":
    main()
