"""Celery tasks for the retention policy (beat: "apply-retention")."""

from celery import shared_task
from django.utils import timezone


@shared_task(name="inbox.apply_retention", acks_late=True, ignore_result=True)
def apply_retention_task() -> None:
    """Thin: one task per channel with a retention policy, so one channel's backlog never
    holds the others up. Idempotent: each channel continues from its saved cursor."""
    from inbox.models import Channel
    from inbox.services.privacy import retention_months

    for pk, config in Channel.objects.values_list("pk", "config").iterator():
        if retention_months(Channel(pk=pk, config=config)) is not None:
            apply_channel_retention_task.delay(pk)


@shared_task(name="inbox.apply_channel_retention", acks_late=True, ignore_result=True)
def apply_channel_retention_task(channel_id: int) -> None:
    """One run's worth of batches on one channel; hands what is left to a fresh task.

    A worker killed mid-run loses at most the batch it was in (its transaction
    rolls back, the cursor with it); acks_late delivers the task again and it
    continues from the cursor.
    """
    from inbox.models import Channel
    from inbox.services.privacy import apply_retention

    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None:
        return
    if apply_retention(channel=channel, now=timezone.now())["more"]:
        apply_channel_retention_task.apply_async((channel_id,), countdown=5)
