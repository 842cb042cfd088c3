"""What a coordinator does with a crisis cluster: take items out, then act on the rest at once.

Nothing here runs by itself: the clusters are suggestions, and only a coordinator's confirmed
request starts an action. The request stores the action with the exact conversations it covers
({id: version}, threats and what was taken out already left out) and queues one worker task;
the worker answers them with one reply text (inbox.services.bulk_replies) or hides them under
a house rule (inbox.services.triage.bulk_triage), each conversation with its own audit event.
The CrisisClusterAction row is the audit record of the cluster action itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox.models import OPEN_STATUSES, Conversation, Flag, HouseRule
from inbox.services.refusals import ActionRefused
from reports.models import (
    ClusterAction,
    ClusterActionState,
    CrisisCluster,
    CrisisClusterAction,
)
from webcare.jobs import enqueue

MAX_TEXT = 2000


def _check_permission(user) -> None:
    if not (user.is_authenticated and user.is_coordinator):
        raise PermissionDenied(_("Only coordinators and administrators act on crisis clusters."))


def with_threat(members: QuerySet) -> QuerySet:
    """Members annotated with threat (the THREAT bit of their conversation's flags, 0 if none)."""
    return members.alias(threat=F("conversation__flags").bitand(int(Flag.THREAT)))


def actionable(cluster: CrisisCluster) -> QuerySet:
    """The members an action covers: not taken out, no threat, conversation still open."""
    return (
        with_threat(cluster.members.all())
        .filter(taken_out=False, threat=0, conversation__status__in=OPEN_STATUSES)
        .order_by("id")
    )


@dataclass(frozen=True)
class Preview:
    covered: int
    threats: int
    taken_out: int


def preview(cluster: CrisisCluster) -> Preview:
    """What an action would cover now, and what it leaves out (one query)."""
    counts = with_threat(cluster.members.all()).aggregate(
        covered=Count(
            "id",
            filter=Q(taken_out=False, threat=0, conversation__status__in=OPEN_STATUSES),
        ),
        threats=Count("id", filter=~Q(threat=0)),
        taken_out=Count("id", filter=Q(taken_out=True, threat=0)),
    )
    return Preview(**counts)


def take_out(
    *, cluster: CrisisCluster, member_ids: Iterable[int], acting_user, out: bool = True
) -> int:
    """Take members out of the cluster's actions (out=False puts them back); returns how many.

    The revision moves on, so a confirmation shown before the change is asked again."""
    _check_permission(acting_user)
    ids = [int(pk) for pk in member_ids]
    with transaction.atomic():
        n = cluster.members.filter(pk__in=ids, taken_out=not out).update(taken_out=out)
        if n:
            CrisisCluster.objects.filter(pk=cluster.pk).update(revision=F("revision") + 1)
    return n


def start_action(
    *,
    cluster: CrisisCluster,
    action: str,
    acting_user,
    revision: int,
    text: str = "",
    rule: HouseRule | None = None,
) -> CrisisClusterAction:
    """Record a confirmed cluster action and queue the worker that carries it out."""
    _check_permission(acting_user)
    if action == ClusterAction.ANSWER:
        text = text.strip()
        if not text:
            raise ValidationError(_("Write the reply first."))
        if len(text) > MAX_TEXT:
            raise ValidationError(_("The reply is too long."))
    elif action == ClusterAction.HIDE:
        if rule is None or not rule.active:
            raise ValidationError(_("Choose the house rule to hide under."))
    else:
        raise ValidationError(_("Unknown cluster action."))
    with transaction.atomic():
        locked = CrisisCluster.objects.select_for_update().get(pk=cluster.pk)
        if locked.revision != revision:
            raise ActionRefused(
                _("The cluster changed since you looked at it. Check it again and confirm.")
            )
        counts = preview(locked)
        items = {
            str(pk): version
            for pk, version in actionable(locked).values_list(
                "conversation_id", "conversation__version"
            )
        }
        if not items:
            raise ActionRefused(_("Nothing in this cluster is left to act on."))
        record = CrisisClusterAction.objects.create(
            cluster=locked,
            action=action,
            actor=acting_user,
            text=text if action == ClusterAction.ANSWER else "",
            rule=rule if action == ClusterAction.HIDE else None,
            items=items,
            threats_kept_out=counts.threats,
            taken_out=counts.taken_out,
        )
        # One task for the whole cluster: the web request never does a round trip per item.
        enqueue("reports.run_cluster_action", record.pk)
    return record


def run_action(action_id: int) -> CrisisClusterAction | None:
    """The worker's half: carry out a queued cluster action once (a second delivery finds it
    done; a crash rolls the whole of it back, and the redelivered task starts over)."""
    from inbox.services.bulk_replies import answer_in_bulk
    from inbox.services.triage import bulk_triage

    with transaction.atomic():
        record = (
            CrisisClusterAction.objects.select_for_update(of=("self",))
            .select_related("actor", "rule")
            .filter(pk=action_id, state=ClusterActionState.QUEUED)
            .first()
        )
        if record is None:
            return None
        items = {int(pk): int(version) for pk, version in record.items.items()}
        # Flagged as a threat since it was confirmed: still never part of the action.
        flagged = set(
            Conversation.objects.alias(threat=F("flags").bitand(int(Flag.THREAT)))
            .filter(pk__in=list(items), threat__gt=0)
            .values_list("pk", flat=True)
        )
        selection = {pk: v for pk, v in items.items() if pk not in flagged}
        actor = record.actor
        if actor is None or not actor.is_active or not actor.is_coordinator:
            done: list[int] = []  # the person who asked may no longer act: nothing is done
        elif record.action == ClusterAction.HIDE and record.rule is None:
            done = []  # the house rule was deleted meanwhile
        elif record.action == ClusterAction.ANSWER:
            done = answer_in_bulk(
                items=selection,
                text=record.text,
                acting_user=actor,
                data={"cluster_action": record.pk},
            ).done
        else:
            done = bulk_triage(
                action="hide", items=selection, acting_user=actor, rule=record.rule
            ).done
        record.done = len(done)
        record.skipped = len(items) - len(done)
        record.state = ClusterActionState.DONE
        record.finished_at = timezone.now()
        record.save(update_fields=["done", "skipped", "state", "finished_at"])
    return record
