"""Thin Celery tasks for the outbox and closing stale conversations (logic in inbox.services)."""

from celery import shared_task
from django.conf import settings
from django.utils import timezone


@shared_task(
    name="inbox.send_reply", bind=True, acks_late=True, max_retries=None, ignore_result=True
)
def send_reply_task(self, reply_id: int) -> str:
    """Post one reply. A duplicate delivery is harmless: only one claim succeeds."""
    from inbox.services.outbox import deliver_reply, give_up

    outcome = deliver_reply(reply_id=reply_id)
    if outcome.kind == "retry":
        if self.request.retries >= settings.OUTBOX_MAX_RETRIES:
            give_up(reply_id=reply_id, error=outcome.error)
            return "gave-up"
        retry_at = outcome.retry_at or timezone.now()  # a retry names its time; at once if not
        countdown = max((retry_at - timezone.now()).total_seconds(), 0)
        raise self.retry(countdown=countdown)
    return outcome.kind


@shared_task(name="inbox.recover_outbox", acks_late=True, ignore_result=True)
def recover_outbox_task() -> int:
    """Beat: requeue replies whose worker died mid-send or whose task message was lost."""
    from inbox.services.outbox import recover_outbox

    return len(recover_outbox())


@shared_task(name="inbox.auto_close", acks_late=True, ignore_result=True)
def auto_close_task() -> int:
    """Beat: close answered/waiting conversations after AUTO_CLOSE_AFTER_DAYS without a reply."""
    from inbox.services.replies import auto_close_stale

    return auto_close_stale()
