import os

from celery import Celery

from webcare.logs import connect_celery_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webcare.settings")

app = Celery("webcare")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["inbox"], related_name="tasks_spikes")
app.autodiscover_tasks(["inbox"], related_name="tasks_privacy")
app.autodiscover_tasks(["webcare"], related_name="health")

# Request ids into task headers, task ids onto log lines (webcare.logs).
connect_celery_signals()

# The whole beat schedule lives here, in one place. Each entry is a cheap
# dispatcher: it finds the work that is due and fans it out, so beat itself
# never waits on a platform or a slow query.
app.conf.beat_schedule = {
    # Marks SLA clocks at risk / overdue through partial indexes; cost grows with what changed.
    "sweep-sla": {"task": "routing.tasks.sweep_sla", "schedule": 60.0},
    "detect-spikes": {"task": "inbox.tasks_spikes.detect_spikes_task", "schedule": 60.0},
    # Proves beat, broker and a worker are alive; /health/ calls the worker stale without it.
    "worker-heartbeat": {"task": "webcare.health.worker_heartbeat", "schedule": 30.0},
    # Anonymises what is older than each channel's retention_months (idempotent, batched).
    "apply-retention": {"task": "inbox.tasks_privacy.apply_retention_task", "schedule": 3600.0},
}
