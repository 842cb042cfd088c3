"""Celery tasks of the assist app: thin, idempotent, safe to run twice at once (the watermark is
locked for a run)."""

from celery import shared_task


@shared_task(name="assist.update_similar", acks_late=True, ignore_result=True)
def update_similar() -> int:
    """After each ingest (enqueued by it) and every minute (beat): embed what came in."""
    from assist.services import update_similar as update

    return update()


@shared_task(name="assist.rebuild_index", acks_late=True, ignore_result=True)
def rebuild_index() -> int:
    """The similar-conversation index file, anew from the vectors in the database."""
    from assist.services import rebuild_index as rebuild

    return rebuild()
