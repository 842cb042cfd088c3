"""Celery tasks of triage: platform calls and mail that must never block the coordinator's request.

Registered by importing the inbox.tasks package (Celery autodiscovers it); each declares its name.
"""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="inbox.hide_on_platform", acks_late=True, ignore_result=True)
def hide_on_platform(conversation_ids: list[int], hidden: bool) -> None:
    """Hide (or unhide) the conversations' inbound messages on the platform, where it allows.

    Idempotent: hiding an already hidden comment is a no-op on the platforms, and the task reads
    the committed status, so a late retry after an unhide does not hide again. Records the outcome
    as one system event per conversation.
    """
    from inbox.channels.base import ConnectorError
    from inbox.channels.registry import channel_config, get_connector
    from inbox.models import Conversation, ConversationEvent, Direction, Message, Status

    want = Status.HIDDEN if hidden else None
    conversations = Conversation.objects.filter(pk__in=conversation_ids).select_related("channel")
    events = []
    for conv in conversations:
        if hidden and conv.status != want:
            continue  # unhidden meanwhile
        if not hidden and conv.status == Status.HIDDEN:
            continue  # hidden again meanwhile
        outcome: dict = {"hidden": hidden}
        try:
            connector = get_connector(conv.channel.kind)
        except (ImportError, KeyError) as exc:
            connector = None
            outcome.update(ok=False, error=f"no connector: {exc}")
        if connector is not None and not getattr(connector, "can_hide", False):
            outcome.update(ok=False, error="platform does not allow hiding")
        elif connector is not None:
            config = channel_config(conv.channel)
            external_ids = Message.objects.filter(
                conversation_id=conv.pk, direction=Direction.INBOUND
            ).values_list("external_id", flat=True)
            try:
                for external_id in external_ids:
                    connector.hide(config, external_id, hidden)
                outcome["ok"] = True
            except ConnectorError as exc:
                logger.warning("hide on platform failed for conversation %s: %s", conv.pk, exc)
                outcome.update(ok=False, error=str(exc)[:500])
        events.append(
            ConversationEvent(
                conversation_id=conv.pk, actor=None, kind="platform_hide", data=outcome
            )
        )
    ConversationEvent.objects.bulk_create(events)


@shared_task(name="inbox.mail_threat_escalation", acks_late=True, ignore_result=True)
def mail_threat_escalation(conversation_id: int, flagged_by_id: int | None) -> None:
    """Tell the security department's mailbox that a threat was flagged.

    A worker lost mid-send runs it again and the mailbox hears twice: for a threat, a second
    mail is better than none. A mail server that refuses raises, so the failure is logged.
    """
    from inbox.services.triage import mail_threat_escalation as mail

    mail(conversation_id=conversation_id, flagged_by_id=flagged_by_id)
