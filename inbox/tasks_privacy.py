"""Celery task for the retention policy (beat: "apply-retention")."""

from celery import shared_task
from django.utils import timezone


@shared_task(acks_late=True, ignore_result=True)
def apply_retention_task() -> None:
    """Thin and idempotent: each channel's anonymisation skips what is anonymised already.

    A channel with more left than one run's batches is handed to a fresh task,
    so one huge backlog never holds a worker for long.
    """
    from inbox.models import Channel
    from inbox.services.privacy import apply_retention, retention_months

    now = timezone.now()
    for channel in Channel.objects.all():
        if retention_months(channel) is None:
            continue
        if apply_retention(channel=channel, now=now)["more"]:
            apply_retention_task.apply_async(countdown=5)
            return
