"""Celery tasks of the webhooks: thin, idempotent, each declares its name (webcare/celery.py
schedules the delivery sweep; services enqueue by name through webcare.jobs)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="integrations.deliver_webhooks", acks_late=True, ignore_result=True)
def deliver_webhooks() -> None:
    """Try the due deliveries (queued after an event commits, and every 30 s by beat). Safe to
    run in parallel: each delivery is claimed by one worker. A full batch queues the next."""
    from integrations.services.delivery import deliver_due
    from webcare.jobs import enqueue

    if deliver_due().more:
        enqueue("integrations.deliver_webhooks")


@shared_task(name="integrations.mail_webhook_disabled", acks_late=True, ignore_result=True)
def mail_webhook_disabled(subscription_id: int) -> None:
    """Tell the administrators by e-mail that a subscription was disabled. A worker lost
    mid-send mails again: better twice than never."""
    from integrations.services.delivery import mail_disabled

    mail_disabled(subscription_id=subscription_id)
