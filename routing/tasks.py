"""Thin Celery tasks for SLA clocks; the work lives in routing.sla."""

from celery import shared_task


@shared_task(name="routing.sweep_sla", acks_late=True, ignore_result=True)
def sweep_sla() -> int:
    """Beat, every minute: mark at risk / overdue (idempotent; notifications fan out after commit)."""
    from routing.sla import sweep

    return sweep.sweep_sla().changed


@shared_task(name="routing.notify_sla", acks_late=True, ignore_result=True)
def notify_sla(conversation_ids: list[int], state: str) -> int:
    """Notify about a batch of conversations the sweep marked; safe to run twice (dedupe keys)."""
    from routing.sla import escalation

    return escalation.notify_sla_state(conversation_ids=conversation_ids, state=state)
