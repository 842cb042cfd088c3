"""The event batch: resolution times of the conversations the audit events show closed."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Count, Max, OuterRef, Subquery

from inbox.models import ConversationEvent
from reports.models import ConversationClock, DimKind, DurationMetric
from reports.rollup.batch import Batch
from reports.rollup.labels import reconcile
from reports.rollup.metrics import EVENTS, NO_DEPARTMENT, visibility_dims, watermark
from routing.models import SlaClock, SlaTarget
from webcare.db import bulk_update


def event_batch(batch_size: int) -> int:
    """Resolution times: any audit event makes the task look whether its conversation closed."""
    with transaction.atomic():
        mark = watermark(EVENTS)
        got = (
            ConversationEvent.objects.filter(id__gt=mark.last_id)
            .order_by("id")[:batch_size]
            .aggregate(last=Max("id"), n=Count("id"))
        )
        if not got["n"]:
            return 0
        # Only the few conversations that closed come back, with what the figures need.
        in_batch = ConversationEvent.objects.filter(id__gt=mark.last_id, id__lte=got["last"])
        # The resolution clock keeps its due time when the close stops it (the conversation's
        # field is emptied then).
        resolution_due = SlaClock.objects.filter(
            conversation_id=OuterRef("conversation_id"), kind=SlaTarget.RESOLUTION
        ).order_by("-started_at")
        closed = (
            ConversationClock.objects.filter(
                conversation_id__in=in_batch.values("conversation_id"),
                resolved_at=None,
                conversation__status="closed",
                conversation__closed_at__isnull=False,
            )
            .annotate(resolution_due=Subquery(resolution_due.values("due_at")[:1]))
            .values_list(
                "conversation_id",
                "first_inbound_at",
                "orphan_start",
                "conversation__closed_at",
                "conversation__channel_id",
                "conversation__department_id",
                "conversation__language",
                "conversation__assignee_id",
                "conversation__is_public",
                "resolution_due",
            )
        )
        batch = Batch()
        done: list[tuple[int, datetime]] = []
        for (
            conv_id,
            first_inbound,
            orphan,
            closed_at,
            channel_id,
            dept_id,
            language,
            assignee,
            public,
            due,
        ) in closed:
            assert closed_at is not None  # conversation__closed_at__isnull=False
            dept = str(dept_id) if dept_id else NO_DEPARTMENT
            dims = [
                (DimKind.ALL, ""),
                (DimKind.CHANNEL, str(channel_id)),
                (DimKind.DEPARTMENT, dept),
                (DimKind.LANGUAGE, language or "und"),
                *visibility_dims(public, dept),
            ]
            if assignee:
                dims.append((DimKind.AGENT, str(assignee)))
            seconds = (closed_at - first_inbound).total_seconds()
            batch.duration(
                DurationMetric.RESOLUTION_CALENDAR, closed_at, seconds, dims, orphan=orphan
            )
            batch.count("resolved", closed_at, dims, orphan=orphan)
            if due is not None:
                batch.count("res_due", closed_at, dims, orphan=orphan)
                if closed_at <= due:
                    batch.count("res_met", closed_at, dims, orphan=orphan)
            done.append((conv_id, closed_at))
        batch.write()
        _set_resolved(done)
        # Labels: whatever an event did (labelled, unlabelled, merged...), count them as they are.
        reconcile(in_batch.values_list("conversation_id", flat=True).distinct())
        mark.last_id = got["last"]
        mark.save(update_fields=["last_id", "updated_at"])
    return got["n"]


def _set_resolved(done: list[tuple[int, datetime]]) -> None:
    """resolved_at = the close time read above (not read again: it is what was counted)."""
    if not done:
        return
    bulk_update(
        ConversationClock,
        [ConversationClock(conversation_id=c, resolved_at=at) for c, at in done],
        ["resolved_at"],
    )
