"""Prometheus metrics at /metrics/, computed at scrape time from cheap queries.

Scrape with "Authorization: Bearer <METRICS_TOKEN>"; without a configured
token only a logged-in admin may read them. The open-conversation counts are
cached for 30 s, so a tight scrape interval never turns into a load.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from webcare.permissions import public_endpoint

OPEN_COUNTS_KEY = "webcare:metrics:open-counts"


def _open_counts() -> list[dict]:
    from inbox.models import OPEN_STATUSES, Conversation

    rows = cache.get(OPEN_COUNTS_KEY)
    if rows is None:
        # Uses index: conv_status_idx (status, ...) restricted to the open statuses.
        rows = list(
            Conversation.objects.filter(status__in=OPEN_STATUSES)
            .values("status", "sla_state")
            .annotate(n=Count("id"))
            .order_by()
        )
        cache.set(OPEN_COUNTS_KEY, rows, timeout=30)
    return rows


class WebcareCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        from inbox.models import Channel, Message

        now = timezone.now()
        # Newest message by primary key (an index lookup, not a scan of ingested_at).
        newest = Message.objects.order_by("-id").values("ingested_at", "created_at").first()
        lag = GaugeMetricFamily(
            "webcare_ingest_lag_seconds",
            "Delay between the newest ingested message being posted and stored",
        )
        since = GaugeMetricFamily(
            "webcare_seconds_since_last_ingest", "Seconds since the newest message was stored"
        )
        if newest:
            lag.add_metric([], (newest["ingested_at"] - newest["created_at"]).total_seconds())
            since.add_metric([], (now - newest["ingested_at"]).total_seconds())
        yield lag
        yield since

        ingested = GaugeMetricFamily(
            "webcare_messages_ingested_today",
            "Messages ingested today per channel (local date)",
            labels=["channel", "kind"],
        )
        health = GaugeMetricFamily(
            "webcare_channel_status",
            "1 for the channel's current status",
            labels=["channel", "kind", "status"],
        )
        failures = GaugeMetricFamily(
            "webcare_channel_consecutive_failures",
            "Consecutive failed polls per channel",
            labels=["channel", "kind"],
        )
        today = timezone.localdate()
        for channel in Channel.objects.filter(enabled=True).only(
            "id", "kind", "status", "ingest_day", "ingest_day_count", "consecutive_failures"
        ):
            labels = [str(channel.pk), channel.kind]
            count = channel.ingest_day_count if channel.ingest_day == today else 0
            ingested.add_metric(labels, count)
            health.add_metric([*labels, channel.status], 1)
            failures.add_metric(labels, channel.consecutive_failures)
        yield ingested
        yield health
        yield failures

        open_conversations = GaugeMetricFamily(
            "webcare_open_conversations", "Open conversations per status", labels=["status"]
        )
        breaches = GaugeMetricFamily(
            "webcare_sla_breaches", "Open conversations past an SLA deadline (overdue)"
        )
        at_risk = GaugeMetricFamily(
            "webcare_sla_at_risk", "Open conversations at risk of an SLA breach"
        )
        by_status: dict[str, int] = {}
        overdue = risky = 0
        for row in _open_counts():
            by_status[row["status"]] = by_status.get(row["status"], 0) + row["n"]
            if row["sla_state"] == "overdue":
                overdue += row["n"]
            elif row["sla_state"] == "at_risk":
                risky += row["n"]
        for status, n in sorted(by_status.items()):
            open_conversations.add_metric([status], n)
        breaches.add_metric([], overdue)
        at_risk.add_metric([], risky)
        yield open_conversations
        yield breaches
        yield at_risk


def _allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[7:].strip().encode(), token.encode())
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_admin_role)


@public_endpoint  # checks the bearer token or the admin session itself
@never_cache
@require_GET
def metrics(request):
    if not _allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WebcareCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
