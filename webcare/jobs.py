"""How services schedule background work: a task by its name, published after commit.

Tasks call services; services never import task modules (that made import circles, and a task
module imported by a service is loaded on every web request). A service names the task it wants
(each task declares its name) and the arguments, and the task is published once the transaction
commits, so a worker never reads a state that is not there yet. A broker that is down is logged
rather than raised: the action already happened, and the beat sweepers queue the work again.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import transaction


def enqueue(name: str, *args: Any, countdown: float | None = None) -> None:
    """Run task `name` with args after the current transaction commits (at once without one)."""
    from webcare.celery import app, publish_tolerating_outage

    task = app.tasks[name]  # loads the task modules once (Celery's autodiscovery)
    options = {} if countdown is None else {"countdown": countdown}
    publish = functools.partial(task.apply_async, args, **options)
    transaction.on_commit(functools.partial(publish_tolerating_outage, publish, name))
