"""Celery tasks for ingest: thin, idempotent, acks_late; they take ids and call services."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="inbox.dispatch_channel_polls", acks_late=True, ignore_result=True)
def dispatch_channel_polls() -> int:
    """Beat, every 5 s: enqueue one poll per channel that is due (claimed, never twice)."""
    from inbox.services.channels import dispatch_due_polls

    channel_ids = dispatch_due_polls()
    for channel_id in channel_ids:
        poll_channel.delay(channel_id)
    return len(channel_ids)


@shared_task(
    name="inbox.poll_channel",
    acks_late=True,
    ignore_result=True,
    # Under the service's 10-minute lease, so a stuck poll dies before its lease ends.
    soft_time_limit=240,
    time_limit=300,
)
def poll_channel(channel_id: int) -> str:
    """Fetch and ingest one channel. Failures are recorded on the channel and backed off
    through its next_poll_at (the dispatcher is the retry), so a 429 never blocks a worker."""
    from inbox.services.channels import poll_channel_once

    return poll_channel_once(channel_id=channel_id).status
