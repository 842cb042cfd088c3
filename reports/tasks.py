"""Beat tasks of the reports app: thin wrappers, idempotent, safe to run twice at once."""

from celery import shared_task


@shared_task(name="reports.update_rollups", acks_late=True, ignore_result=True)
def update_rollups() -> int:
    from reports.rollup.run import run_rollups

    return run_rollups()


@shared_task(name="reports.send_weekly_report", acks_late=True, ignore_result=True)
def send_weekly_report() -> int:
    from reports.weekly import send_weekly_report as send

    return send()


@shared_task(name="reports.update_crisis_clusters", acks_late=True, ignore_result=True)
def update_crisis_clusters() -> int:
    """Beat, every minute: new mentions of the crisis window joined to clusters (watermarked)."""
    from django.utils import timezone

    from reports.crisis.clustering import update_crisis_clusters as update

    return update(now=timezone.now())


@shared_task(name="reports.run_cluster_action", acks_late=True, ignore_result=True)
def run_cluster_action(action_id: int) -> str:
    """A coordinator's confirmed cluster action; runs once (the record's state says so)."""
    from reports.crisis.actions import run_action

    return "done" if run_action(action_id) is not None else "nothing"
