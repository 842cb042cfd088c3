"""The worker's side of crisis clusters: new mentions of the crisis window joined to clusters.

Incremental, never all pairs: each run reads the inbound messages after a watermark (at most
BATCH), and puts each new conversation

1. in the cluster whose cleaned text is exactly its own (an index lookup by fingerprint: the
   copies of a copy-paste wave),
2. else in the cluster whose text is most alike, at or above matching.THRESHOLD, among the POOL
   most recently active clusters (rapidfuzz, in C),
3. else in a new cluster of its own (a singleton that later copies can join); and when its text
   holds the keyword of a spike alert of the window, also in that keyword's topic cluster.

A run costs the same number of queries whatever the batch holds (tests/reports/
test_crisis_clusters.py counts them). The watermark is locked for the run, so two workers never
cluster a message twice; a rerun after a crash starts from the last committed watermark.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from inbox.models import Direction, Message, SpikeAlert
from reports.crisis import matching
from reports.models import ClusterKind, CrisisCluster, CrisisClusterMember, RollupWatermark

WINDOW = timedelta(hours=2)  # the crisis view's window
BATCH = 5000
POOL = 2000
WATERMARK = "crisis_clusters"


def _pool(since: datetime) -> list[CrisisCluster]:
    # Uses index: crisiscluster_last_idx.
    return list(
        CrisisCluster.objects.filter(kind=ClusterKind.NEAR_DUPLICATE, last_at__gte=since)
        .order_by("-last_at")
        .only("id", "match_text", "fingerprint", "size", "revision", "first_at", "last_at")[:POOL]
    )


def _spike_keywords(since: datetime) -> list[str]:
    keywords = SpikeAlert.objects.filter(window_start__gte=since).exclude(keyword="")
    return sorted(set(keywords.values_list("keyword", flat=True)))


def cluster_batch(*, now: datetime, batch: int = BATCH) -> int:
    """Cluster the next batch of inbound messages of the window; returns how many were read."""
    since = now - WINDOW
    with transaction.atomic():
        RollupWatermark.objects.get_or_create(name=WATERMARK)
        mark = RollupWatermark.objects.select_for_update().get(name=WATERMARK)
        if not mark.last_id:
            # The first run starts at the window, not at the first message ever: the newest
            # message older than the window, found walking the primary key back from the end.
            mark.last_id = (
                Message.objects.filter(created_at__lt=since)
                .order_by("-id")
                .values_list("id", flat=True)
                .first()
            ) or 0
        # Strictly by id from the watermark (the primary key, no scan of what came before);
        # outbound and late-arriving old messages only move the watermark on.
        rows = list(
            Message.objects.filter(id__gt=mark.last_id)
            .order_by("id")
            .values_list("id", "conversation_id", "text", "created_at", "direction")[:batch]
        )
        if not rows:
            mark.save(update_fields=["last_id", "updated_at"])
            return 0
        _assign(
            [r[:4] for r in rows if r[4] == Direction.INBOUND and r[3] >= since],
            since,
        )
        mark.last_id = rows[-1][0]
        mark.save(update_fields=["last_id", "updated_at"])
    return len(rows)


def _assign(rows: list[tuple[int, int, str, datetime]], since: datetime) -> None:
    if not rows:
        return
    pool = _pool(since)
    by_fingerprint = {c.fingerprint: c for c in pool if c.fingerprint}
    texts = [c.match_text for c in pool]
    keywords = _spike_keywords(since)
    topics = {
        c.keyword: c
        for c in CrisisCluster.objects.filter(
            kind=ClusterKind.TOPIC, keyword__in=keywords, last_at__gte=since
        )
    }
    conversation_ids = {row[1] for row in rows}
    # A conversation joins a near-identical cluster once (its first mention decides).
    seen = set(
        CrisisClusterMember.objects.filter(
            conversation_id__in=conversation_ids, cluster__kind=ClusterKind.NEAR_DUPLICATE
        ).values_list("conversation_id", flat=True)
    )
    in_topic = set(
        CrisisClusterMember.objects.filter(
            conversation_id__in=conversation_ids, cluster__kind=ClusterKind.TOPIC
        ).values_list("conversation_id", "cluster__keyword")
    )
    new_clusters: list[CrisisCluster] = []
    # (cluster, conversation id, message id, score); the cluster may not be saved yet.
    joins: list[tuple[CrisisCluster, int, int, int | None]] = []
    for message_id, conversation_id, text, at in rows:
        if conversation_id in seen:
            continue
        seen.add(conversation_id)
        cleaned = matching.clean(text)
        digest = matching.fingerprint(cleaned) if len(cleaned) >= matching.MIN_LENGTH else ""
        cluster = by_fingerprint.get(digest) if digest else None
        score = 100
        if cluster is None:
            found = matching.best_match(cleaned, texts)
            if found is not None:
                cluster, score = pool[found.index], found.score
        if cluster is not None:
            joins.append((cluster, conversation_id, message_id, score))
            continue
        single = CrisisCluster(
            kind=ClusterKind.NEAR_DUPLICATE,
            match_text=cleaned,
            fingerprint=digest,
            sample=text[:1000],
            first_at=at,
            last_at=at,
        )
        new_clusters.append(single)
        joins.append((single, conversation_id, message_id, 100))
        if digest:  # too short to compare: a cluster of its own, never a pool entry
            pool.append(single)
            texts.append(cleaned)
            by_fingerprint[digest] = single
        keyword = matching.topic_of(matching.normalise(text), keywords)
        if keyword and (conversation_id, keyword) not in in_topic:
            in_topic.add((conversation_id, keyword))
            topic = topics.get(keyword)
            if topic is None:
                topic = topics[keyword] = CrisisCluster(
                    kind=ClusterKind.TOPIC,
                    keyword=keyword,
                    sample=text[:1000],
                    first_at=at,
                    last_at=at,
                )
                new_clusters.append(topic)
            joins.append((topic, conversation_id, message_id, None))
    _write(new_clusters, joins, {row[0]: row[3] for row in rows})


def _write(
    new_clusters: list[CrisisCluster],
    joins: list[tuple[CrisisCluster, int, int, int | None]],
    times: dict[int, datetime],
) -> None:
    # New clusters first (bulk_create sets their ids on PostgreSQL and SQLite alike).
    fresh = {id(c) for c in new_clusters}
    CrisisCluster.objects.bulk_create(new_clusters, batch_size=1000)
    CrisisClusterMember.objects.bulk_create(
        [
            CrisisClusterMember(
                cluster_id=cluster.pk,
                conversation_id=conversation_id,
                message_id=message_id,
                score=score,
            )
            for cluster, conversation_id, message_id, score in joins
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    grown: dict[int, CrisisCluster] = {}
    for cluster, _conversation_id, message_id, _score in joins:
        cluster.size += 1
        cluster.last_at = max(cluster.last_at, times[message_id])
        grown[cluster.pk] = cluster
    for cluster in grown.values():
        if id(cluster) not in fresh:
            cluster.revision += 1
    # One statement per thousand clusters; size stays a counter the reads never recount.
    CrisisCluster.objects.bulk_update(
        list(grown.values()), ["size", "last_at", "revision"], batch_size=1000
    )


def update_crisis_clusters(*, now: datetime, budget: int = 10) -> int:
    """Beat, every minute: cluster what came in since the last run (a few batches at most)."""
    total = 0
    for _round in range(budget):
        done = cluster_batch(now=now)
        total += done
        if done < BATCH:
            break
    return total
