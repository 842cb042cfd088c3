"""The reads behind the crisis cluster pages: a fixed number of queries per page, keyset pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q

from inbox.models import Message
from reports.crisis.actions import with_threat
from reports.crisis.clustering import WINDOW
from reports.models import CrisisCluster, CrisisClusterAction, CrisisClusterMember

# Fewer alike mentions than this are not a wave; the singletons stay out of the list.
MIN_SHOWN = 3
LIST_LIMIT = 50
PAGE = 50


@dataclass
class ClusterRow:
    cluster: CrisisCluster
    threats: int
    taken_out: int


def active_clusters(*, now: datetime, limit: int = LIST_LIMIT) -> list[ClusterRow]:
    """The largest clusters active in the crisis window, with their threat and taken-out counts."""
    clusters = list(
        CrisisCluster.objects.filter(last_at__gte=now - WINDOW, size__gte=MIN_SHOWN).order_by(
            "-size", "-id"
        )[:limit]
    )
    counts = {
        row["cluster_id"]: row
        for row in with_threat(CrisisClusterMember.objects.filter(cluster__in=clusters))
        .values("cluster_id")
        .annotate(
            threats=Count("id", filter=~Q(threat=0)),
            taken_out=Count("id", filter=Q(taken_out=True, threat=0)),
        )
    }
    return [
        ClusterRow(
            c,
            counts.get(c.pk, {}).get("threats", 0),
            counts.get(c.pk, {}).get("taken_out", 0),
        )
        for c in clusters
    ]


@dataclass
class MemberRow:
    member: CrisisClusterMember
    text: str


def _with_text(members: list[CrisisClusterMember]) -> list[MemberRow]:
    texts = dict(
        Message.objects.filter(pk__in=[m.message_id for m in members]).values_list("pk", "text")
    )
    return [MemberRow(m, texts.get(m.message_id, "")) for m in members]


def members_page(
    cluster: CrisisCluster, *, after: int = 0, taken_out: bool = False, threats: bool = False
) -> tuple[list[MemberRow], int | None]:
    """One page of members (keyset on id) and the id to continue after (None: no more).

    threats=True: the threats, listed apart; otherwise the members without a threat, in the
    cluster (taken_out=False) or taken out of it."""
    members = with_threat(cluster.members.select_related("conversation"))
    if threats:
        members = members.exclude(threat=0)
    else:
        members = members.filter(threat=0, taken_out=taken_out)
    page = list(members.filter(id__gt=after).order_by("id")[: PAGE + 1])
    more = len(page) > PAGE
    page = page[:PAGE]
    return _with_text(page), (page[-1].pk if more and page else None)


def recent_actions(cluster: CrisisCluster) -> list[CrisisClusterAction]:
    return list(cluster.actions.select_related("actor", "rule").order_by("-created_at", "-id")[:10])
