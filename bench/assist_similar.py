"""Similar conversations and suggested answers (assist), measured; one function per figure group.
bench/assist.py runs these with the needs-reply figures; alone:

    python bench/assist_similar.py [--n 1000000] [--queries 200]

suggest_hit_rate(): on the real TWCS conversations (REALWORLD_DATA_DIR/twcs_head5000.csv), each
customer tweet paired with the brand's reply to it; a fixed fifth of the threads (by a seeded
hash of the thread's root) is held out. For each held-out customer tweet of a brand with
repeated answers (some reply, normalised, was sent at least twice in the training part), is the
reply actually sent among the replies of the 5 most similar training conversations of the same
brand (the brand plays the team: its conversations only)? Two matches, both printed:
exact after normalising (lowercase; @handles, links, signatures like "^AB" / "-JS" and
punctuation dropped), and near (rapidfuzz ratio >= 90 on the normalised text). Baseline in the
same run: the brand's 5 most frequent training replies. TWCS has no canned answers, so this is
the "similar conversations' replies" half of the panel.

lookup(): the panel's similar lookup at --n vectors of the real dimension (512): the real TWCS
texts embedded, then copied with Gaussian noise (sigma 0.03 a value, cosine ~0.8 to the
original) up to --n, in the shipped index (assist.vectors.build: IVF with 8-bit quantisation at
this size). One query = the index search, the permission filter and fetching the 5 rows, as
assist.selectors does it: the 500 nearest, a SELECT of those ids restricted to the user's teams,
then the first 5 visible rows fetched, from a table of --n conversations in 40 teams (user in 3)
in PostgreSQL when DATABASE_URL is set (a temporary table), else in SQLite. Baseline in the same
run: a brute-force numpy scan over the same float32 vectors, same filter and fetch. Also
printed: recall@5 of the index against the exact scan (unfiltered), build time, index size.

embed_rate(): messages/s of the worker's batch path (assist.vectors.encode on batches of
services.BATCH cleaned customer texts, one BLAS thread, as the worker runs it); the database
writes around it are not included.

Last line: RESULT suggest_hit_rate=.. similar_lookup_p95_ms=.. embed_rate_msgs_s=.. ...
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webcare.settings")

SEED = "assist-similar-2026"
HOLD_OUT = 5  # one thread in five
TEAMS = 40
MY_TEAMS = (1, 2, 3)


def setup() -> None:
    import django

    django.setup()


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


# --- the real data -------------------------------------------------------------------------


def read_twcs() -> list[dict[str, str]]:
    from django.conf import settings

    path = Path(settings.REALWORLD_DATA_DIR) / "twcs_head5000.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def pairs_of(rows: list[dict[str, str]]):
    """(thread root, brand, customer text, reply text) per customer tweet a brand replied to."""
    by_id = {r["tweet_id"]: r for r in rows}

    def root(tweet_id: str) -> str:
        seen = set()
        while by_id.get(tweet_id, {}).get("in_response_to_tweet_id") and tweet_id not in seen:
            seen.add(tweet_id)
            parent = by_id[tweet_id]["in_response_to_tweet_id"]
            if parent not in by_id:
                break
            tweet_id = parent
        return tweet_id

    out = []
    for r in rows:
        if r["inbound"] != "False" or not r["in_response_to_tweet_id"]:
            continue
        asked = by_id.get(r["in_response_to_tweet_id"])
        if asked is None or asked["inbound"] != "True":
            continue
        out.append((root(asked["tweet_id"]), r["author_id"], asked["text"], r["text"]))
    return out


def held_out(thread_root: str) -> bool:
    digest = hashlib.sha256(f"{SEED}:{thread_root}".encode()).digest()
    return digest[0] % HOLD_OUT == 0


def normalise(text: str) -> str:
    import regex

    from assist.vectors import clean

    return regex.sub(r"[^\p{L}\p{N} ]+", "", clean(text).lower()).strip()


# --- figure groups ---------------------------------------------------------------------------


def suggest_hit_rate() -> dict[str, float]:
    from rapidfuzz import fuzz

    from assist import vectors

    pairs = pairs_of(read_twcs())
    train = [p for p in pairs if not held_out(p[0])]
    test = [p for p in pairs if held_out(p[0])]
    replies_by_brand: dict[str, Counter] = defaultdict(Counter)
    for _root, brand, _asked, reply in train:
        replies_by_brand[brand][normalise(reply)] += 1
    repeated = {b for b, c in replies_by_brand.items() if c.most_common(1)[0][1] >= 2}
    test = [p for p in test if p[1] in repeated]
    train_vectors = vectors.encode([vectors.customer_text([p[2]]) for p in train])
    test_vectors = vectors.encode([vectors.customer_text([p[2]]) for p in test])
    brands = np.asarray([p[1] for p in train])
    train_ids = np.arange(len(train))

    def hit(actual: str, offered: list[str]) -> tuple[bool, bool]:
        exact = actual in offered
        near = any(fuzz.ratio(actual, o) >= 90 for o in offered)
        return exact, near

    exact = near = base_exact = base_near = panel_exact = 0
    for (_root, brand, _asked, reply), query in zip(test, test_vectors, strict=True):
        mine = brands == brand  # the brand's conversations only, as a team's
        nearest = vectors.scan(query, train_ids[mine], train_vectors[mine], 5)
        offered = [normalise(train[i][3]) for i, _score in nearest]
        actual = normalise(reply)
        e, n = hit(actual, offered)
        exact += e
        near += n
        frequent = [text for text, _n in replies_by_brand[brand].most_common(5)]
        e, n = hit(actual, frequent)
        base_exact += e
        base_near += n
        # The panel's whole offer: 5 similar replies and 3 canned answers (here: frequent).
        panel_exact += actual in offered or actual in frequent[:3]
    total = max(len(test), 1)
    print(
        f"hit rate: {len(pairs)} pairs, {len(train)} train, {len(test)} held-out in "
        f"{len(repeated)} brands with repeated answers"
    )
    print(f"  similar (top 5 replies): exact {exact / total:.3f}, near {near / total:.3f}")
    print(
        f"  baseline (5 most frequent): exact {base_exact / total:.3f}, near {base_near / total:.3f}"
    )
    print(f"  panel (5 similar + 3 most frequent as canned): exact {panel_exact / total:.3f}")
    return {
        "suggest_hit_rate": round(exact / total, 3),
        "suggest_hit_rate_near": round(near / total, 3),
        "suggest_baseline_hit_rate": round(base_exact / total, 3),
        "suggest_baseline_hit_rate_near": round(base_near / total, 3),
        "suggest_panel_hit_rate": round(panel_exact / total, 3),
        "suggest_held_out": len(test),
    }


def real_vectors() -> np.ndarray:
    from assist import vectors

    texts = [vectors.customer_text([r["text"]]) for r in read_twcs()]
    return vectors.encode([t for t in texts if t])


def _table(n: int):
    """(visible(ids, teams), fetch(ids), close, backend): n conversations in TEAMS teams."""
    url = os.environ.get("DATABASE_URL")
    if url and url.startswith("postgres"):
        import psycopg

        conn = psycopg.connect(url, autocommit=True)
        conn.execute(
            "CREATE TEMP TABLE bench_conv (id bigint PRIMARY KEY, team int, snippet text,"
            " received_at timestamptz)"
        )
        conn.execute(
            "INSERT INTO bench_conv SELECT g, g %% %s, 'customer text ' || g,"
            " now() - g * interval '1 minute' FROM generate_series(0, %s) g",
            (TEAMS, n - 1),
        )
        conn.execute("ANALYZE bench_conv")

        def visible_pg(ids: list[int], teams: list[int]):
            return conn.execute(
                "SELECT id FROM bench_conv WHERE id = ANY(%s) AND team = ANY(%s)", (ids, teams)
            ).fetchall()

        def fetch_pg(ids: list[int]):
            return conn.execute(
                "SELECT id, snippet, team, received_at FROM bench_conv WHERE id = ANY(%s)", (ids,)
            ).fetchall()

        return visible_pg, fetch_pg, conn.close, "postgresql"
    tmp = tempfile.mkdtemp()
    db = sqlite3.connect(str(Path(tmp) / "bench.sqlite3"))
    db.execute("CREATE TABLE bench_conv (id integer PRIMARY KEY, team int, snippet text, at text)")
    db.executemany(
        "INSERT INTO bench_conv VALUES (?, ?, ?, '2026-01-01')",
        ((i, i % TEAMS, f"customer text {i}") for i in range(n)),
    )
    db.commit()

    def visible_sqlite(ids: list[int], teams: list[int]):
        q = (
            f"SELECT id FROM bench_conv WHERE id IN ({','.join('?' * len(ids))})"
            f" AND team IN ({','.join('?' * len(teams))})"
        )
        return db.execute(q, (*ids, *teams)).fetchall()

    def fetch_sqlite(ids: list[int]):
        q = f"SELECT id, snippet, team, at FROM bench_conv WHERE id IN ({','.join('?' * len(ids))})"
        return db.execute(q, ids).fetchall()

    return visible_sqlite, fetch_sqlite, db.close, "sqlite"


def lookup(n: int, queries: int) -> dict[str, float]:
    from assist import selectors, vectors

    rng = np.random.default_rng(7)
    base = real_vectors()
    started = time.perf_counter()
    matrix = np.empty((n, vectors.DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        chunk = base[rng.integers(0, len(base), stop - start)]
        chunk = chunk + rng.normal(0, 0.03, chunk.shape).astype(np.float32)
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        matrix[start:stop] = chunk
    ids = np.arange(n, dtype=np.int64)
    made = time.perf_counter() - started
    started = time.perf_counter()
    index = vectors.build(ids, matrix)
    built = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "similar.faiss"
        vectors.save(index, path, built=n)
        size_mb = path.stat().st_size / 1e6
    visible, fetch, close, backend = _table(n)
    qs = base[rng.integers(0, len(base), queries)]
    qs = qs + rng.normal(0, 0.03, qs.shape).astype(np.float32)
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)

    def panel(nearest_of) -> tuple[list[float], list[list[int]]]:
        times, shown = [], []
        for q in qs:
            t0 = time.perf_counter()
            ids = [i for i, score in nearest_of(q, selectors.CANDIDATES) if score >= 0.2]
            mine = {row[0] for row in visible(ids, list(MY_TEAMS))}
            best = [i for i in ids if i in mine][: selectors.SIMILAR]
            rows = fetch(best)
            times.append((time.perf_counter() - t0) * 1000)
            shown.append([r[0] for r in rows])
        return times, shown

    def indexed(q, k):
        scores, found = index.search(q.reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(found[0], scores[0], strict=True) if i >= 0]

    def scanned(q, k):
        # One pass over the matrix per query, whatever k (the second round reuses it).
        if memo.get("q") is not q:
            memo.update(q=q, scores=matrix @ q)
        scores = memo["scores"]
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(i), float(scores[i])) for i in top]

    memo: dict = {}

    panel(indexed)  # warm
    ann_ms, ann_shown = panel(indexed)
    brute_ms, brute_shown = panel(scanned)
    recall = np.mean(
        [
            len({i for i, _ in indexed(q, 5)} & {i for i, _ in vectors.scan(q, ids, matrix, 5)}) / 5
            for q in qs[:50]
        ]
    )
    close()
    shown_overlap = np.mean(
        [len(set(a) & set(b)) / max(len(b), 1) for a, b in zip(ann_shown, brute_shown, strict=True)]
    )
    print(
        f"lookup at {n:,} vectors ({backend}): made {made:.0f} s, index built {built:.0f} s, "
        f"{size_mb:.0f} MB on disk, nprobe {getattr(index, 'nprobe', '-')}"
    )
    print(
        f"  index+filter+fetch: median {pct(ann_ms, 50):.2f} ms, p95 {pct(ann_ms, 95):.2f} ms; "
        f"brute-force numpy scan: median {pct(brute_ms, 50):.1f} ms, p95 {pct(brute_ms, 95):.1f} ms"
    )
    print(f"  recall@5 vs exact {recall:.3f}; panel rows shared with exact {shown_overlap:.3f}")
    return {
        "similar_lookup_p95_ms": round(pct(ann_ms, 95), 2),
        "similar_lookup_median_ms": round(pct(ann_ms, 50), 2),
        "similar_brute_p95_ms": round(pct(brute_ms, 95), 1),
        "similar_recall_at_5": round(float(recall), 3),
        "similar_index_build_s": round(built, 1),
        "similar_vectors": n,
    }


def embed_rate() -> dict[str, float]:
    from assist import services, vectors

    texts = [vectors.customer_text([r["text"]]) for r in read_twcs() if r["inbound"] == "True"]
    texts = [t for t in texts if t]
    vectors.encode(texts[:10])  # the model loads once per worker process
    started = time.perf_counter()
    for start in range(0, len(texts), services.BATCH):
        vectors.encode(texts[start : start + services.BATCH])
    rate = len(texts) / (time.perf_counter() - started)
    print(f"embedding: {len(texts)} real customer messages, {rate:.0f} messages/s (one thread)")
    return {"embed_rate_msgs_s": round(rate, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    setup()
    result: dict[str, float] = {}
    result.update(suggest_hit_rate())
    result.update(lookup(args.n, args.queries))
    result.update(embed_rate())
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
