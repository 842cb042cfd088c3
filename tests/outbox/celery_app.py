"""`celery -A tests.outbox.celery_app worker`: the project's Celery app, with X pointed at FakeX.

Only the connector registry entry for "x" changes (see fake_x.LoopbackXConnector);
tasks, settings, broker and database are the project's own.
"""

from inbox.channels import registry
from webcare.celery import app

registry.CONNECTORS["x"] = "tests.outbox.fake_x.LoopbackXConnector"

__all__ = ["app"]
