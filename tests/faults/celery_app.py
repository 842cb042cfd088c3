"""`celery -A tests.faults.celery_app worker`: the outbox tests' app (X on FakeX), and the
"rss" kind served by tests.faults.connectors.BatchConnector (a big deterministic batch)."""

from inbox.channels import registry
from tests.outbox.celery_app import app

registry.CONNECTORS["rss"] = "tests.faults.connectors.BatchConnector"

__all__ = ["app"]
