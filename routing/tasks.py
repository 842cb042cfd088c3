"""Thin Celery tasks for SLA clocks; the work lives in routing.services."""

from celery import shared_task


@shared_task(name="routing.sweep_sla", acks_late=True, ignore_result=True)
def sweep_sla() -> int:
    """Beat, every minute: mark at risk / overdue (idempotent; notifications fan out after commit)."""
    from routing import services

    return services.sweep_sla().changed


@shared_task(name="routing.notify_sla", acks_late=True, ignore_result=True)
def notify_sla(conversation_ids: list[int], state: str) -> int:
    """Notify about a batch of conversations the sweep marked; safe to run twice (dedupe keys)."""
    from routing import services

    return services.notify_sla_state(conversation_ids=conversation_ids, state=state)
