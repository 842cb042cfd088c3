"""`celery -A tests.outbox.whatsapp_celery_app worker`: the project's Celery app, with WhatsApp
pointed at FakeWhatsApp (see fake_whatsapp.LoopbackWhatsAppConnector); the rest is the project's."""

from inbox.channels import registry
from webcare.celery import app

registry.CONNECTORS["whatsapp"] = "tests.outbox.fake_whatsapp.LoopbackWhatsAppConnector"

__all__ = ["app"]
