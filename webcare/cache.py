"""Django's Redis cache, degrading to "nothing cached" while Redis is unreachable.

The cache only holds what can be rebuilt (presence, metric snapshots, the worker
heartbeat, webhook replay keys): when Redis is down the web side must keep answering,
so a failed connection reads as a miss and a write as not stored, and is logged.
Other Redis errors (a bug, a wrong type) still raise, and so do add/incr/decr, whose
answer callers act on (the webhook replay check catches it and falls back on ingest's
idempotency).
"""

from __future__ import annotations

import logging

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
OUTAGE = (RedisConnectionError, RedisTimeoutError)


def _down(operation: str, exc: Exception) -> None:
    logger.warning("cache unavailable during %s (%s)", operation, type(exc).__name__)


class DegradingRedisCache(RedisCache):
    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except OUTAGE as exc:
            _down("get", exc)
            return default

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except OUTAGE as exc:
            _down("get_many", exc)
            return {}

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except OUTAGE as exc:
            _down("has_key", exc)
            return False

    def set(self, key, value, timeout=None, version=None):  # noqa: A003 (Django's name)
        try:
            super().set(key, value, timeout, version)
        except OUTAGE as exc:
            _down("set", exc)

    def set_many(self, data, timeout=None, version=None):
        try:
            return super().set_many(data, timeout, version)
        except OUTAGE as exc:
            _down("set_many", exc)
            return list(data)

    def touch(self, key, timeout=None, version=None):
        try:
            return super().touch(key, timeout, version)
        except OUTAGE as exc:
            _down("touch", exc)
            return False

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except OUTAGE as exc:
            _down("delete", exc)
            return False

    def delete_many(self, keys, version=None):
        try:
            super().delete_many(keys, version)
        except OUTAGE as exc:
            _down("delete_many", exc)
