import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webcare.settings")

app = Celery("webcare")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Triage's platform calls (hide/unhide) live beside the services, not in inbox/tasks.py.
app.autodiscover_tasks(["inbox"], related_name="triage_tasks")

# The whole beat schedule lives here, in one place. Each entry is a cheap
# dispatcher: it finds the work that is due and fans it out, so beat itself
# never waits on a platform or a slow query.
app.conf.beat_schedule = {
    "dispatch-channel-polls": {"task": "inbox.tasks.dispatch_channel_polls", "schedule": 5.0},
}
