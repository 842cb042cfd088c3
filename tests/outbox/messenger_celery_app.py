"""`celery -A tests.outbox.messenger_celery_app worker`: the project's Celery app, with Messenger
pointed at FakeMessenger (see fake_messenger.LoopbackMessengerConnector); the rest is the project's."""

from inbox.channels import registry
from webcare.celery import app

registry.CONNECTORS["messenger"] = "tests.outbox.fake_messenger.LoopbackMessengerConnector"

__all__ = ["app"]
