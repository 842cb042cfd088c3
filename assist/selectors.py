"""What the suggestions panel shows: the answered conversations most like this one (that the
user may see) with the reply that was sent, and the canned answers closest to it.

Reads only: the vectors were written by the worker (services.py). Nothing here is sent
anywhere; a suggestion goes into the composer only when a person clicks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db.models import Q

from assist import vectors
from assist.models import CannedVector, ConversationVector
from inbox.models import CannedAnswer, Conversation, Direction, Message
from inbox.selectors.team import CannedMatch, reply_variables, team_ids_of

SIMILAR = 5
CANNED = 3
# Nearest neighbours fetched before the permission filter: one index search (its cost is in
# the lists it scans, hardly in k) and one query of those ids in the user's teams, since a
# staff member may see 3 teams of 40.
CANDIDATES = 500
# Below this a "similar" conversation or canned answer is noise (USE cosine: unrelated Dutch
# complaints score 0.0-0.15, the same topic in other words 0.25-0.5).
MIN_SCORE = 0.2


@dataclass(frozen=True, slots=True)
class SimilarConversation:
    conversation_id: int
    excerpt: str
    reply: str
    team: str
    received_at: datetime
    percent: int


@dataclass(frozen=True, slots=True)
class CannedSuggestion:
    match: CannedMatch
    percent: int


@dataclass(frozen=True, slots=True)
class Suggestions:
    ready: bool  # False: the worker has not embedded this conversation yet
    similar: list[SimilarConversation]
    canned: list[CannedSuggestion]


def query_vector(conversation_id: int) -> np.ndarray | None:
    row = (
        ConversationVector.objects.filter(conversation_id=conversation_id)
        .values_list("vector", flat=True)
        .first()
    )
    return None if row is None else vectors.from_bytes(row)


def suggestions_for(user, conversation: Conversation) -> Suggestions:
    query = query_vector(conversation.pk)
    if query is None:
        return Suggestions(ready=False, similar=[], canned=[])
    return Suggestions(
        ready=True,
        similar=similar_conversations(user, conversation.pk, query),
        canned=canned_suggestions(user, conversation, query),
    )


def _visible_ids(user, ids: list[int]) -> list[int]:
    """ids that user may see (inbox.selectors.team.may_see_team), in the given order."""
    if user.is_coordinator or user.is_manager:
        return ids
    mine = set(
        Conversation.objects.filter(pk__in=ids, department_id__in=team_ids_of(user)).values_list(
            "pk", flat=True
        )
    )
    return [i for i in ids if i in mine]


def _nearest(query: np.ndarray, k: int) -> list[tuple[int, float]]:
    found = vectors.search(query, k)
    if found is not None:
        return found
    # No index (faiss missing or not built yet): scan the stored vectors.
    from assist.services import answered_vectors

    ids, matrix = answered_vectors()
    return vectors.scan(query, ids, matrix, k)


def similar_conversations(
    user, conversation_id: int, query: np.ndarray, *, limit: int = SIMILAR
) -> list[SimilarConversation]:
    """The answered conversations nearest to query that user may see, best first."""
    nearest = _nearest(query, CANDIDATES)
    ids = [i for i, score in nearest if i != conversation_id and score >= MIN_SCORE]
    best = _visible_ids(user, ids)[:limit]
    rows = {
        row[0]: row
        for row in Conversation.objects.filter(pk__in=best).values_list(
            "pk", "snippet", "department__name", "received_at"
        )
    }
    # The index's scores are approximate (8-bit when large): the exact ones are shown.
    exact = dict(
        ConversationVector.objects.filter(conversation_id__in=best).values_list(
            "conversation_id", "vector"
        )
    )
    replies: dict[int, str] = {}
    for cid, text in (
        Message.objects.filter(conversation_id__in=best, direction=Direction.OUTBOUND)
        .order_by("conversation_id", "created_at", "id")
        .values_list("conversation_id", "text")
    ):
        replies.setdefault(cid, text)
    result = []
    for cid in best:
        if cid not in rows or cid not in exact or cid not in replies:
            continue
        _pk, snippet, team, received_at = rows[cid]
        score = float(vectors.from_bytes(exact[cid]) @ query)
        result.append(
            SimilarConversation(
                conversation_id=cid,
                excerpt=snippet,
                reply=replies[cid],
                team=team or "",
                received_at=received_at,
                percent=round(100 * max(score, 0.0)),
            )
        )
    return sorted(result, key=lambda item: -item.percent)


def canned_suggestions(
    user, conversation: Conversation, query: np.ndarray, *, limit: int = CANNED
) -> list[CannedSuggestion]:
    """The canned answers of the conversation's team (and global ones) closest to query."""
    from inbox.lib.replytext import render_variables

    available = (
        CannedAnswer.objects.filter(is_active=True)
        .filter(Q(department__isnull=True) | Q(department_id=conversation.department_id))
        .filter(Q(faq_set__isnull=True) | Q(faq_set__is_active=True))
    )
    stored = list(
        CannedVector.objects.filter(answer__in=available).values_list("answer_id", "vector")
    )
    if not stored:
        return []
    matrix = np.frombuffer(b"".join(bytes(v) for _pk, v in stored), dtype="<f4")
    ranked = vectors.scan(
        query, np.asarray([pk for pk, _v in stored]), matrix.reshape(-1, vectors.DIM), limit
    )
    ranked = [(pk, score) for pk, score in ranked if score >= MIN_SCORE]
    answers = CannedAnswer.objects.select_related("faq_set").in_bulk([pk for pk, _s in ranked])
    variables = reply_variables(conversation=conversation, user=user)
    return [
        CannedSuggestion(
            match=CannedMatch(
                answer=answers[pk], text=render_variables(answers[pk].body, variables)
            ),
            percent=round(100 * score),
        )
        for pk, score in ranked
        if pk in answers
    ]
