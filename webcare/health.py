"""/health/ for load balancers and people, and the worker heartbeat it reads.

Public and free of secrets: it names what is checked and whether it works,
never a host name, a DSN or an exception message.
    200 {"status": "ok" | "degraded", ...}   the web process can serve
    503 {"status": "down", ...}             the database or Redis is unreachable
"degraded" means the app serves but something behind it needs attention: the
worker heartbeat is stale, or a channel is failing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from webcare.permissions import public_endpoint

logger = logging.getLogger(__name__)
HEARTBEAT_KEY = "webcare:worker-heartbeat"


@shared_task(name="webcare.worker_heartbeat", ignore_result=True)
def worker_heartbeat() -> None:
    """Beat runs this every 30 s; a worker executing it proves beat, broker and worker work."""
    cache.set(HEARTBEAT_KEY, timezone.now().isoformat(), timeout=24 * 3600)


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:
        logger.warning("Health: database unreachable (%s)", type(exc).__name__)
        return "error"


def _check_redis() -> str:
    if not settings.REDIS_URL:
        return "not configured"
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1
        )
        client.ping()
        return "ok"
    except Exception as exc:
        logger.warning("Health: Redis unreachable (%s)", type(exc).__name__)
        return "error"


def _check_worker(now: datetime) -> dict:
    try:
        raw = cache.get(HEARTBEAT_KEY)
    except Exception:
        return {"status": "unknown"}
    if not raw:
        return {"status": "stale", "last_seen": None}
    try:
        seen = datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        return {"status": "stale", "last_seen": None}
    age = (now - seen).total_seconds()
    status = "ok" if age <= settings.HEARTBEAT_STALE_SECONDS else "stale"
    return {"status": status, "last_seen": seen.isoformat(), "age_seconds": round(age, 1)}


def _channels() -> dict:
    from inbox.models import Channel

    # The channels table is small: one grouped query.
    rows = Channel.objects.filter(enabled=True).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


@public_endpoint
@never_cache
@require_GET
def health(request):
    now = timezone.now()
    checks: dict = {"database": _check_database(), "redis": _check_redis()}
    down = checks["database"] == "error" or checks["redis"] == "error"
    checks["worker"] = _check_worker(now)
    if checks["database"] == "ok":
        try:
            checks["channels"] = _channels()
        except Exception:
            checks["channels"] = {}
    else:
        checks["channels"] = {}
    failing = sum(n for status, n in checks["channels"].items() if status != "ok")
    if down:
        status = "down"
    elif checks["worker"]["status"] != "ok" or failing:
        status = "degraded"
    else:
        status = "ok"
    return JsonResponse(
        {"status": status, "time": now.isoformat(), "checks": checks},
        status=503 if down else 200,
    )
