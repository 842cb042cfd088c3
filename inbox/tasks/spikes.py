"""Celery task for spike detection (beat: "detect-spikes", every minute)."""

from celery import shared_task
from django.utils import timezone


@shared_task(name="inbox.detect_spikes", acks_late=True, ignore_result=True)
def detect_spikes_task() -> int:
    """Thin: the service is idempotent per quarter hour, so a retry or a double run is harmless."""
    from inbox.services.spikes import detect_spikes

    return len(detect_spikes(now=timezone.now()))
