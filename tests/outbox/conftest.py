"""The real-worker fixtures of test_exactly_once.py, for the other exactly-once tests here."""

from tests.outbox.test_exactly_once import (  # noqa: F401
    broker,
    start_worker,
)
