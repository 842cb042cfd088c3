"""The outbox tests' real-worker machinery, shared rather than copied: `broker` (our Redis
DB, flushed), `start_worker(name, app=...)` (a `celery worker` subprocess on the test DB),
`fake_x` (X API on loopback) and `approved_reply` (a reply whose approval queues its send)."""

from tests.outbox.test_exactly_once import (  # noqa: F401
    approved_reply,
    broker,
    fake_x,
    start_worker,
)
