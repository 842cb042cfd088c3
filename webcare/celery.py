import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webcare.settings")

app = Celery("webcare")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# inbox keeps some tasks in modules of their own, next to the services they call.
for module in ("tasks_spikes", "tasks_outbox", "triage_tasks"):
    app.autodiscover_tasks(["inbox"], related_name=module)
# Triage's platform calls (hide/unhide) live beside the services, not in inbox/tasks.py.

# The whole beat schedule lives here, in one place. Each entry is a cheap
# dispatcher: it finds the work that is due and fans it out, so beat itself
# never waits on a platform or a slow query.
app.conf.beat_schedule = {
    # Enqueues poll_channel for each enabled channel whose poll interval has passed.
    "dispatch-channel-polls": {"task": "inbox.tasks.dispatch_channel_polls", "schedule": 5.0},
    # Marks SLA clocks at risk / overdue through partial indexes; cost grows with what changed.
    "sweep-sla": {"task": "routing.tasks.sweep_sla", "schedule": 60.0},
    "detect-spikes": {"task": "inbox.tasks_spikes.detect_spikes_task", "schedule": 60.0},
    "outbox-recover": {"task": "inbox.tasks_outbox.recover_outbox_task", "schedule": 60.0},
    "auto-close": {"task": "inbox.tasks_outbox.auto_close_task", "schedule": 3600.0},
}
