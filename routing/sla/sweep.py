"""The SLA sweep (beat, every minute): the only place that marks conversations at risk or overdue.

Two conditional UPDATEs, each served by a partial index on the conversation's copy of its due
times, touch only the rows that crossed a threshold since the last sweep; the notifications
(routing.sla.escalation) go out from a task after commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from inbox.models import Conversation, ConversationEvent, SlaState
from integrations.models import EventType
from integrations.services.events import emit_for_conversations
from routing.models import SlaBreach, SlaClock
from webcare.db import update_returning_pks
from webcare.jobs import enqueue

# Conversations per notification task.
NOTIFY_CHUNK = 200


@dataclass
class SweepResult:
    at_risk: list[int]
    overdue: list[int]
    breaches: int

    @property
    def changed(self) -> int:
        return len(self.at_risk) + len(self.overdue)


def sweep_sla(*, now: datetime | None = None, enqueue_notifications: bool = True) -> SweepResult:
    """Mark conversations at risk / overdue whose thresholds passed; record breaches.

    Two conditional UPDATEs, each served by a partial index, touch only rows
    that crossed a threshold since the last sweep: running it twice changes
    nothing the second time, and its cost grows with what changed, not with
    what is open. Notifications go out from a task after commit.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # Uses index: conv_sla_due_idx (sla_due_at WHERE sla_state IN ('ok', 'at_risk')).
        overdue = update_returning_pks(
            Conversation.objects.filter(
                sla_state__in=[SlaState.OK, SlaState.AT_RISK], sla_due_at__lte=now
            ),
            sla_state=SlaState.OVERDUE,
        )
        # Uses index: conv_sla_warn_idx (sla_warn_at WHERE sla_state = 'ok').
        at_risk = update_returning_pks(
            Conversation.objects.filter(
                sla_state=SlaState.OK, sla_warn_at__lte=now, sla_due_at__gt=now
            ),
            sla_state=SlaState.AT_RISK,
        )
        breaches = _record_breaches(overdue, now=now) if overdue else 0
        ConversationEvent.objects.bulk_create(
            [ConversationEvent(conversation_id=pk, kind="sla_overdue") for pk in overdue]
            + [ConversationEvent(conversation_id=pk, kind="sla_at_risk") for pk in at_risk]
        )
        # The webhooks' events commit (or roll back) with the state change.
        emit_for_conversations(EventType.SLA_BREACHED, overdue, occurred_at=now)
        emit_for_conversations(EventType.SLA_AT_RISK, at_risk, occurred_at=now)
        if enqueue_notifications:
            for state, ids in ((SlaState.OVERDUE, overdue), (SlaState.AT_RISK, at_risk)):
                for i in range(0, len(ids), NOTIFY_CHUNK):
                    enqueue("routing.notify_sla", ids[i : i + NOTIFY_CHUNK], str(state))
    return SweepResult(at_risk=at_risk, overdue=overdue, breaches=breaches)


def _record_breaches(conversation_ids: list[int], *, now: datetime) -> int:
    rows = SlaClock.objects.filter(
        conversation_id__in=conversation_ids, stopped_at__isnull=True, due_at__lte=now
    ).values_list(
        "id",
        "conversation_id",
        "kind",
        "due_at",
        "conversation__assignee_id",
        "conversation__department_id",
    )
    breaches = [
        SlaBreach(
            clock_id=clock_id,
            conversation_id=conv_id,
            target=kind,
            due_at=due_at,
            breached_at=due_at,
            holder_id=holder_id,
            department_id=dept_id,
        )
        for clock_id, conv_id, kind, due_at, holder_id, dept_id in rows
        if due_at is not None  # always: due_at__lte matched it (for the type checker)
    ]
    # ignore_conflicts: the clock's breach may exist already (a second sweep, a late stop).
    SlaBreach.objects.bulk_create(breaches, ignore_conflicts=True)
    return len(breaches)
