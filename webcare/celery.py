import functools
import logging
import os

from celery import Celery
from celery.contrib.django.task import DjangoTask
from celery.schedules import crontab
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections, transaction
from kombu.exceptions import OperationalError

from webcare.logs import connect_celery_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webcare.settings")

logger = logging.getLogger(__name__)


def publish_tolerating_outage(publish, name: str) -> None:
    """Publish; with the broker unreachable, log instead of raising.

    The action has been committed by now: raising would show the user an error for
    something that happened. The state the task works from is in the database, and the
    beat sweepers (outbox-recover, ...) queue it again once the broker is back.
    """
    try:
        publish()
    except OperationalError:
        logger.exception("broker unreachable: %s not queued after commit", name)


class WebcareTask(DjangoTask):
    # celery-types declares these as returning AsyncResult; Celery's own DjangoTask returns
    # None (nothing is published until the commit), as these do.
    def delay_on_commit(self, *args, **kwargs) -> None:  # type: ignore[override]
        self.apply_async_on_commit(args, kwargs)

    def apply_async_on_commit(self, *args, **kwargs) -> None:  # type: ignore[override]
        publish = functools.partial(self.apply_async, *args, **kwargs)
        transaction.on_commit(functools.partial(publish_tolerating_outage, publish, self.name))


app = Celery("webcare", task_cls=WebcareTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # each app's tasks (inbox.tasks is a package that imports its own)
app.autodiscover_tasks(["webcare"], related_name="health")

# Request ids into task headers, task ids onto log lines (webcare.logs).
connect_celery_signals()


def _recycle_database_connections(task=None, **_kwargs) -> None:
    """What Django does around a web request: drop a connection that is broken or older than
    CONN_MAX_AGE, and health-check a reused one (settings.CELERY_DB_REUSE_MAX says why).
    Not for an eager task: it runs inside its caller's transaction."""
    if task is not None and not getattr(task.request, "is_eager", False):
        close_old_connections()


task_prerun.connect(_recycle_database_connections, weak=False)
task_postrun.connect(_recycle_database_connections, weak=False)

# The whole beat schedule lives here, in one place. Each entry is a cheap
# dispatcher: it finds the work that is due and fans it out, so beat itself
# never waits on a platform or a slow query.
app.conf.beat_schedule = {
    # Enqueues poll_channel for each enabled channel whose poll interval has passed.
    "dispatch-channel-polls": {"task": "inbox.dispatch_channel_polls", "schedule": 5.0},
    # Marks SLA clocks at risk / overdue through partial indexes; cost grows with what changed.
    "sweep-sla": {"task": "routing.sweep_sla", "schedule": 60.0},
    "detect-spikes": {"task": "inbox.detect_spikes", "schedule": 60.0},
    # Crisis clusters: the mentions that came in since the last run, joined to their cluster.
    "crisis-clusters": {"task": "reports.update_crisis_clusters", "schedule": 60.0},
    "outbox-recover": {"task": "inbox.recover_outbox", "schedule": 60.0},
    # Outgoing webhooks due for a (re)try; each event also queues a run after its commit.
    "deliver-webhooks": {"task": "integrations.deliver_webhooks", "schedule": 30.0},
    "auto-close": {"task": "inbox.auto_close", "schedule": 3600.0},
    # Dashboard rollups: new messages and audit events since the stored watermark.
    "update-rollups": {"task": "reports.update_rollups", "schedule": 60.0},
    # The weekly report goes out Monday 08:00 Europe/Amsterdam: beat runs in UTC, so it fires
    # hourly on Mondays and the task sends at the first run from 08:00 local, once per week.
    "weekly-report": {
        "task": "reports.send_weekly_report",
        "schedule": crontab(minute=0, day_of_week="mon"),
    },
    # Proves beat, broker and a worker are alive; /health/ calls the worker stale without it.
    "worker-heartbeat": {"task": "webcare.worker_heartbeat", "schedule": 30.0},
    # Anonymises what is older than each channel's retention_months: one task per channel,
    # each continuing from its saved cursor (idempotent, batched). Retention is counted in
    # months, so once a night (UTC) is enough; a backlog chains itself to further tasks.
    "apply-retention": {
        "task": "inbox.apply_retention",
        "schedule": crontab(minute=30, hour=2),
    },
}
