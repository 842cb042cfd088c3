"""The outbox tests' real-worker machinery, shared rather than copied: `broker` (our Redis
DB, flushed) and `start_worker(name, app=...)` (a `celery worker` subprocess on the test DB)."""

from tests.outbox.test_exactly_once import broker, start_worker  # noqa: F401
