"""Celery tasks of the inbox: thin, idempotent, by id; each calls one service and declares its
name (webcare/celery.py schedules them by name, services enqueue them through webcare.jobs).
Importing the package registers them all (Celery's autodiscovery imports inbox.tasks)."""

from inbox.tasks import channels, outbox, privacy, spikes, triage

__all__ = ["channels", "outbox", "privacy", "spikes", "triage"]
