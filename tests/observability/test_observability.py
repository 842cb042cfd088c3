"""Request ids, task ids, /health/ and /metrics/."""

import json
import logging
from datetime import timedelta

import pytest
import time_machine
from celery import shared_task, signals
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from inbox.models import ChannelStatus
from tests.factories import ChannelFactory, ConversationFactory, MessageFactory
from webcare.health import HEARTBEAT_KEY, worker_heartbeat
from webcare.logs import REQUEST_ID_HEADER, ContextFilter, request_id_var, task_id_var
from webcare.metrics import OPEN_COUNTS_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.delete_many([HEARTBEAT_KEY, OPEN_COUNTS_KEY])
    yield
    cache.delete_many([HEARTBEAT_KEY, OPEN_COUNTS_KEY])


def test_every_response_has_a_request_id_and_a_sane_one_is_kept(client):
    first = client.get(reverse("login"))["X-Request-ID"]
    second = client.get(reverse("login"))["X-Request-ID"]
    assert len(first) == 32 and first != second
    assert (
        client.get(reverse("login"), HTTP_X_REQUEST_ID="lb-1234abcd")["X-Request-ID"]
        == "lb-1234abcd"
    )
    # A hostile header is replaced, not logged.
    evil = 'x\n{"level": "CRITICAL"}'
    assert client.get(reverse("login"), HTTP_X_REQUEST_ID=evil)["X-Request-ID"] != evil


def test_log_lines_of_a_request_carry_its_id(client, caplog):
    caplog.set_level(logging.INFO, logger="webcare.request")
    response = client.get(reverse("login"), HTTP_X_REQUEST_ID="trace-000111222")
    record = next(r for r in caplog.records if r.name == "webcare.request")
    ContextFilter().filter(record)  # caplog's handler has no filters; the id was set in-request
    assert response["X-Request-ID"] == "trace-000111222"
    assert record.status == 200 and record.path == "/login/"


@shared_task
def _probe_task():
    return {"task_id": task_id_var.get(), "request_id": request_id_var.get()}


def test_tasks_log_their_id_and_the_request_id_that_enqueued_them(settings):
    headers = {}
    token = request_id_var.set("req-from-web-1")
    try:
        signals.before_task_publish.send(sender="x", headers=headers, body=None)
    finally:
        request_id_var.reset(token)
    assert headers[REQUEST_ID_HEADER] == "req-from-web-1"
    result = _probe_task.apply(task_id="task-42", headers=headers).get()
    assert result["task_id"] == "task-42"
    assert result["request_id"] == "req-from-web-1"
    assert task_id_var.get() == "-"  # reset after the task


def test_health_is_public_and_reports_each_part(client, settings):
    ChannelFactory(status=ChannelStatus.OK)
    ChannelFactory(status=ChannelStatus.FAILING)
    worker_heartbeat()
    response = client.get(reverse("health"))
    assert response.status_code == 200
    body = response.json()
    # The embedded default runs without Redis, and says so.
    redis = "ok" if settings.REDIS_URL else "not configured"
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"] == redis
    assert body["checks"]["worker"]["status"] == "ok"
    assert body["checks"]["channels"] == {"ok": 1, "failing": 1}
    assert body["status"] == "degraded"  # a channel is failing
    text = response.content.decode()
    assert "postgres" not in text and "127.0.0.1" not in text and "redis://" not in text


def test_health_is_ok_then_degraded_when_the_heartbeat_is_stale(client, settings):
    worker_heartbeat()
    assert client.get(reverse("health")).json()["status"] == "ok"
    with time_machine.travel(
        timezone.now() + timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS + 5)
    ):
        body = client.get(reverse("health")).json()
    assert body["status"] == "degraded" and body["checks"]["worker"]["status"] == "stale"


def test_health_without_heartbeat_is_degraded(client):
    body = client.get(reverse("health")).json()
    assert body["checks"]["worker"]["status"] == "stale"


def test_health_is_503_when_redis_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get(reverse("health"))
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "error"
    assert "127.0.0.1:1" not in response.content.decode()


def test_the_heartbeat_is_on_the_beat_schedule():
    from webcare.celery import app

    entry = app.conf.beat_schedule["worker-heartbeat"]
    assert entry["task"] == "webcare.worker_heartbeat" and entry["schedule"] <= 30


def _metrics(client, **headers):
    return client.get(reverse("metrics"), **headers)


def test_metrics_need_the_token_or_an_admin(client, settings, coordinator, admin_user):
    settings.METRICS_TOKEN = "s3cret-token"
    assert _metrics(client).status_code == 403
    assert _metrics(client, HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert _metrics(client, HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
    client.force_login(coordinator)
    assert _metrics(client).status_code == 403
    client.force_login(admin_user)
    assert _metrics(client).status_code == 200


def test_metrics_report_lag_volume_open_items_and_breaches(
    client, settings, django_assert_max_num_queries
):
    settings.METRICS_TOKEN = "tok-123456"
    now = timezone.now()
    channel = ChannelFactory(ingest_day=timezone.localdate(), ingest_day_count=17)
    ConversationFactory(channel=channel, sla_state="overdue")
    ConversationFactory(channel=channel, sla_state="at_risk", status="assigned")
    conv = ConversationFactory(channel=channel)
    MessageFactory(conversation=conv, created_at=now - timedelta(seconds=42))
    with django_assert_max_num_queries(4):
        text = _metrics(client, HTTP_AUTHORIZATION="Bearer tok-123456").content.decode()
    lines = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert 41 <= lines["webcare_ingest_lag_seconds"] < 60
    assert lines[f'webcare_messages_ingested_today{{channel="{channel.pk}",kind="x"}}'] == 17
    assert lines['webcare_open_conversations{status="new"}'] == 2
    assert lines['webcare_open_conversations{status="assigned"}'] == 1
    assert lines["webcare_sla_breaches"] == 1 and lines["webcare_sla_at_risk"] == 1
    assert f'webcare_channel_status{{channel="{channel.pk}",kind="x",status="ok"}}' in lines
    json.dumps(lines)
