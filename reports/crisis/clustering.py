"""The worker's side of crisis clusters: new mentions of the crisis window joined to clusters.

Incremental, never all pairs: each run reads the inbound messages after a watermark (at most
BATCH), and puts each new conversation

1. in the cluster whose cleaned text is exactly its own (an index lookup by fingerprint: the
   copies of a copy-paste wave),
2. else in the cluster whose text is most alike, at or above matching.THRESHOLD (rapidfuzz, in
   C), among the POOL most recently active clusters of two or more (the waves), else among the
   RECENT latest clusters of one: a wave starts with two alike mentions close together in time,
   and comparing with every lone mention of the window would make each comparison cost grow
   with the crisis (bench/assist_clusters.py measured 5 ms a mention against 7,000, 0.3 ms now),
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
RECENT = 300
WATERMARK = "crisis_clusters"


FIELDS = ("id", "match_text", "fingerprint", "size", "revision", "first_at", "last_at")


def _near(since: datetime):
    # Uses index: crisiscluster_last_idx (the window) and crisiscluster_fp_idx (fingerprints).
    return CrisisCluster.objects.filter(kind=ClusterKind.NEAR_DUPLICATE, last_at__gte=since).only(
        *FIELDS
    )


class Pool:
    """Cluster texts to compare with: the waves, and the latest lone mentions (a bounded list)."""

    def __init__(self, waves: list[CrisisCluster], recent: list[CrisisCluster]):
        self.waves, self.wave_texts = waves, [c.match_text for c in waves]
        self.recent, self.recent_texts = recent, [c.match_text for c in recent]

    def best(self, cleaned: str) -> tuple[CrisisCluster, int] | None:
        for clusters, texts in ((self.waves, self.wave_texts), (self.recent, self.recent_texts)):
            found = matching.best_match(cleaned, texts)
            if found is not None:
                return clusters[found.index], found.score
        return None

    def became_wave(self, cluster: CrisisCluster) -> None:
        """A cluster of one got its second member: compared with first from now on."""
        self.waves.append(cluster)
        self.wave_texts.append(cluster.match_text)

    def add(self, single: CrisisCluster) -> None:
        self.recent.append(single)
        self.recent_texts.append(single.match_text)
        if len(self.recent) > RECENT:
            del self.recent[0], self.recent_texts[0]


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
    cleaned_texts = [matching.clean(row[2]) for row in rows]
    digests = [
        matching.fingerprint(c) if len(c) >= matching.MIN_LENGTH else "" for c in cleaned_texts
    ]
    waves = list(_near(since).filter(size__gte=2).order_by("-last_at")[:POOL])
    recent = list(_near(since).filter(size=1).order_by("-id")[:RECENT])[::-1]
    pool = Pool(waves, recent)
    # Exact copies meet their cluster however old it is in the window, pool or not.
    by_fingerprint = {c.fingerprint: c for c in (*waves, *recent)}
    for c in _near(since).filter(fingerprint__in=[d for d in set(digests) if d]):
        by_fingerprint.setdefault(c.fingerprint, c)
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
    counted: dict[int, int] = {}  # id(cluster) -> members joined in this batch
    for (message_id, conversation_id, text, at), cleaned, digest in zip(
        rows, cleaned_texts, digests, strict=True
    ):
        if conversation_id in seen:
            continue
        seen.add(conversation_id)
        cluster = by_fingerprint.get(digest) if digest else None
        score = 100
        if cluster is None:
            found = pool.best(cleaned)
            if found is not None:
                cluster, score = found
        if cluster is not None:
            joins.append((cluster, conversation_id, message_id, score))
            before = cluster.size + counted.get(id(cluster), 0)
            counted[id(cluster)] = counted.get(id(cluster), 0) + 1
            if before == 1:
                pool.became_wave(cluster)
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
        counted[id(single)] = 1
        if digest:  # too short to compare: a cluster of its own, never a pool entry
            pool.add(single)
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
    fresh = {id(c) for c in new_clusters}
    grown: dict[int, CrisisCluster] = {}
    for cluster, _conversation_id, message_id, _score in joins:
        cluster.size += 1
        cluster.last_at = max(cluster.last_at, times[message_id])
        if id(cluster) not in fresh:
            grown[cluster.pk] = cluster
    # New clusters go in with their size (bulk_create sets their ids on PostgreSQL and SQLite
    # alike); only the clusters that existed are updated, most runs a handful of waves (a
    # bulk_update of every new singleton was a CASE of a thousand branches: a second a run).
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
    for cluster in grown.values():
        cluster.revision += 1
    # Size stays a counter that the reads never recount.
    CrisisCluster.objects.bulk_update(
        list(grown.values()), ["size", "last_at", "revision"], batch_size=200
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
