"""Reads, and getters that check who may see what."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from inbox.models import OPEN_STATUSES, Conversation

PAGE_SIZE = 50


def conversations_visible_to(user) -> QuerySet[Conversation]:
    """Coordinators and managers see everything; staff only their teams' conversations."""
    qs = Conversation.objects.all()
    if user.is_coordinator or user.is_manager:
        return qs
    return qs.filter(department__memberships__user=user)


def get_conversation_for_user(user, conversation_id: int) -> Conversation:
    try:
        return (
            conversations_visible_to(user)
            .select_related("channel", "contact", "department", "assignee")
            .get(pk=conversation_id)
        )
    except Conversation.DoesNotExist:
        if Conversation.objects.filter(pk=conversation_id).exists():
            raise PermissionDenied from None
        raise


def keyset_page(
    qs: QuerySet[Conversation], *, before: tuple[datetime, int] | None, size: int = PAGE_SIZE
) -> tuple[list[Conversation], tuple[datetime, int] | None]:
    """One page ordered by (received_at DESC, id DESC); no OFFSET, no COUNT."""
    from django.db.models import Q

    if before is not None:
        received_at, pk = before
        qs = qs.filter(Q(received_at__lt=received_at) | Q(received_at=received_at, id__lt=pk))
    rows = list(
        qs.select_related("channel", "contact", "department", "assignee").order_by(
            "-received_at", "-id"
        )[: size + 1]
    )
    next_key = (rows[size - 1].received_at, rows[size - 1].pk) if len(rows) > size else None
    return rows[:size], next_key


def shared_inbox(user) -> QuerySet[Conversation]:
    return conversations_visible_to(user).filter(status__in=OPEN_STATUSES, department__isnull=True)


def team_queue(user) -> QuerySet[Conversation]:
    return Conversation.objects.filter(department__memberships__user=user, status__in=OPEN_STATUSES)
