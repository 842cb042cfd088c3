"""The outbox tests' real-worker machinery, shared rather than copied: `broker` (our Redis
DB, flushed), `start_worker(name, app=...)` (a `celery worker` subprocess on the test DB),
`fake_x` (X API on loopback), `approved_reply` (a reply whose approval queues its send)
and `make_approved_reply` (as many such replies as a test needs)."""

from tests.outbox.test_exactly_once import (  # noqa: F401
    approved_reply,
    broker,
    fake_x,
    make_approved_reply,
    start_worker,
)
