"""How services schedule background work: a task by its name, published after commit.

Tasks call services; services never import task modules (that made import circles, and a task
module imported by a service is loaded on every web request). A service names the task it wants
(each task declares its name) and the arguments, and the task is published once the transaction
commits, so a worker never reads a state that is not there yet. A broker that is down is logged
rather than raised: the action already happened, and the beat sweepers queue the work again.
"""

from __future__ import annotations

from typing import Any


def task_named(name: str):
    """The registered task `name`. Celery imports the apps' task modules lazily (a worker does
    at start; a web process never would), so the first lookup runs its autodiscovery."""
    from webcare.celery import app

    if name not in app.tasks:
        app.loader.import_default_modules()
    return app.tasks[name]


def enqueue(name: str, *args: Any, countdown: float | None = None) -> None:
    """Run task `name` with args after the current transaction commits (at once without one)."""
    options = {} if countdown is None else {"countdown": countdown}
    task_named(name).apply_async_on_commit(args, **options)
