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
