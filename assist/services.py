"""The worker's side of suggestions: embed what came in, keep the index and the canned answers'
vectors up to date. Runs in the worker after ingest (assist.tasks), never on a request.

Incremental, like the crisis clusters: each run reads the messages after a watermark, locked for
the run so two workers never do the same work; a rerun after a crash starts from the last
committed watermark. A conversation is (re-)embedded when its customer text changed, and enters
the index once a reply went out (an outbound message exists): only answered conversations are
suggested, each with the reply that was sent.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np
from django.db import transaction
from django.db.models import Q

from assist import vectors
from assist.models import CannedVector, ConversationVector
from inbox.models import CannedAnswer, Direction, Message
from reports.models import RollupWatermark

logger = logging.getLogger(__name__)

WATERMARK = "assist_similar"
BATCH = 1000
PAGE = 5000


def update_similar(*, batch: int = BATCH, max_batches: int = 20) -> int:
    """Embed the conversations of new messages and update the index; returns messages read."""
    total = 0
    for _ in range(max_batches):
        read = _update_batch(batch)
        total += read
        if read < batch:
            break
    refresh_canned()
    return total


def _update_batch(batch: int) -> int:
    with transaction.atomic():
        RollupWatermark.objects.get_or_create(name=WATERMARK)
        mark = RollupWatermark.objects.select_for_update().get(name=WATERMARK)
        rows = list(
            Message.objects.filter(id__gt=mark.last_id)
            .order_by("id")
            .values_list("id", "conversation_id")[:batch]
        )
        if not rows:
            return 0
        _update_conversations({conversation for _id, conversation in rows})
        mark.last_id = rows[-1][0]
        mark.save(update_fields=["last_id", "updated_at"])
    return len(rows)


def _update_conversations(conversation_ids: set[int]) -> None:
    inbound: dict[int, list[str]] = defaultdict(list)
    answered: set[int] = set()
    messages = (
        Message.objects.filter(conversation_id__in=conversation_ids)
        .order_by("conversation_id", "created_at", "id")
        .values_list("conversation_id", "direction", "text")
    )
    for conversation_id, direction, text in messages.iterator(chunk_size=2000):
        if direction == Direction.INBOUND:
            if len(inbound[conversation_id]) < vectors.FIRST_MESSAGES:
                inbound[conversation_id].append(text)
        else:
            answered.add(conversation_id)
    texts = {cid: vectors.customer_text(msgs) for cid, msgs in inbound.items()}
    texts = {cid: text for cid, text in texts.items() if text}
    existing = {
        row[0]: row[1:]
        for row in ConversationVector.objects.filter(conversation_id__in=list(texts)).values_list(
            "conversation_id", "digest", "answered", "vector"
        )
    }
    digests = {cid: vectors.digest(text) for cid, text in texts.items()}
    to_embed = [cid for cid in texts if cid not in existing or existing[cid][0] != digests[cid]]
    embedded = dict(zip(to_embed, vectors.encode([texts[c] for c in to_embed]), strict=True))
    changed = [cid for cid in texts if cid in embedded or existing[cid][1] != (cid in answered)]
    ConversationVector.objects.bulk_create(
        [
            ConversationVector(
                conversation_id=cid,
                vector=vectors.to_bytes(embedded[cid]) if cid in embedded else existing[cid][2],
                digest=digests[cid],
                answered=cid in answered,
            )
            for cid in changed
        ],
        update_conflicts=True,
        unique_fields=["conversation"],
        update_fields=["vector", "digest", "answered", "updated_at"],
    )
    # The index holds answered conversations: a new vector replaces the old one.
    stale = [cid for cid in changed if cid in existing and existing[cid][1]]
    fresh = [cid for cid in changed if cid in answered]
    fresh_vectors = [
        embedded[cid] if cid in embedded else vectors.from_bytes(existing[cid][2]) for cid in fresh
    ]
    _update_index(stale, fresh, fresh_vectors)


def _update_index(stale: list[int], fresh: list[int], fresh_vectors: list[np.ndarray]) -> None:
    if not stale and not fresh:
        return
    path = vectors.index_path()
    index, built = vectors.load(path)
    if vectors.faiss_module() is None:
        return  # selectors scan the stored vectors instead
    if index is None or index.ntotal + len(fresh) > max(2 * built, vectors.IVF_MIN):
        # First build, another model, or doubled since the build: an IVF's lists were
        # trained on what there was, and the exact index has to turn into one at IVF_MIN.
        rebuild_index()
        return
    vectors.remove(index, stale)
    vectors.add(
        index,
        np.asarray(fresh, dtype=np.int64),
        np.asarray(fresh_vectors, dtype=np.float32).reshape(-1, vectors.DIM),
    )
    vectors.save(index, path, built=built)


def answered_vectors() -> tuple[np.ndarray, np.ndarray]:
    """Every answered conversation's id and vector, read in keyset pages."""
    ids: list[int] = []
    chunks: list[bytes] = []
    last = 0
    while True:
        page = list(
            ConversationVector.objects.filter(answered=True, conversation_id__gt=last)
            .order_by("conversation_id")
            .values_list("conversation_id", "vector")[:PAGE]
        )
        if not page:
            break
        ids.extend(row[0] for row in page)
        chunks.extend(bytes(row[1]) for row in page)
        last = page[-1][0]
    matrix = np.frombuffer(b"".join(chunks), dtype="<f4").reshape(-1, vectors.DIM)
    return np.asarray(ids, dtype=np.int64), matrix


def rebuild_index() -> int:
    """A new index file from the stored vectors; returns how many it holds."""
    ids, matrix = answered_vectors()
    index = vectors.build(ids, np.ascontiguousarray(matrix, dtype=np.float32))
    vectors.save(index, vectors.index_path(), built=len(ids))
    logger.info("assist: similar-conversation index rebuilt with %d vectors", len(ids))
    return len(ids)


def refresh_canned() -> int:
    """Embed canned answers that are new or changed (they are few: all are read each run)."""
    answers = list(
        CannedAnswer.objects.filter(is_active=True)
        .filter(Q(faq_set__isnull=True) | Q(faq_set__is_active=True))
        .values_list("id", "title", "body")
    )
    texts = {
        pk: vectors.clean(f"{title}. {body}")[: vectors.MAX_CHARS] for pk, title, body in answers
    }
    digests = {pk: vectors.digest(text) for pk, text in texts.items()}
    known = dict(CannedVector.objects.values_list("answer_id", "digest"))
    todo = [pk for pk in texts if known.get(pk) != digests[pk]]
    if not todo:
        return 0
    embedded = vectors.encode([texts[pk] for pk in todo])
    CannedVector.objects.bulk_create(
        [
            CannedVector(answer_id=pk, vector=vectors.to_bytes(v), digest=digests[pk])
            for pk, v in zip(todo, embedded, strict=True)
        ],
        update_conflicts=True,
        unique_fields=["answer"],
        update_fields=["vector", "digest", "updated_at"],
    )
    return len(todo)
