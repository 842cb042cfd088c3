"""Redis (broker and cache) down for a few seconds during ingest and sending.

A throwaway redis-server on a free loopback port (never the shared one) is the broker of
a real worker process and of this test process, and the web side's cache. It is killed
for a short window (about 3 s rather than the issue's 30 s: the worker's reconnect loop
is the same, the suite stays fast): the inbox still answers 200, an approval made
meanwhile is not lost, and once Redis is back the worker reconnects by itself and every
task published after it is processed: every message stored once, the reply posted once.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

from inbox.models import Channel, Message, ReplyState
from inbox.services.outbox import recover_outbox
from inbox.tasks import poll_channel
from tests.factories import ChannelFactory
from tests.outbox.test_exactly_once import LEASE_SECONDS, assert_sent_once, reply_state, wait_for
from webcare.celery import app as celery_app

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server is not installed"),
]

APP = "tests.faults.celery_app"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(self.answers, timeout=10, what="redis-server to start")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


@contextmanager
def celery_broker(url: str):
    """Point this process's Celery app at url (its pools are built lazily, so drop them)."""
    old = celery_app.conf.broker_url

    def reset() -> None:
        # Dropped, not closed: kombu keeps producer pools per broker URL in a global
        # registry, and the original one must still work when it is restored.
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    reset()
    celery_app.conf.broker_url = url
    try:
        yield
    finally:
        reset()
        celery_app.conf.broker_url = old


@pytest.fixture
def own_redis(monkeypatch):
    server = OwnRedis()
    server.start()
    # Before `broker`/`start_worker` read it: the worker and the flushes use this server.
    monkeypatch.setenv("REDIS_URL", server.url)
    cache_settings = {"default": {**settings.CACHES["default"], "LOCATION": server.url}}
    with override_settings(CACHES=cache_settings), celery_broker(server.url):
        yield server
    if server.proc and server.proc.poll() is None:
        server.kill()


def stored(channel: Channel) -> int:
    return Message.objects.filter(channel=channel).count()


@override_settings(OUTBOX_LEASE_SECONDS=LEASE_SECONDS)  # the workers' lease (start_worker)
def test_redis_down_loses_nothing(
    own_redis, start_worker, approved_reply, fake_x, client, coordinator
):
    before = ChannelFactory(kind="rss", config={"count": 200, "prefix": "before"})
    after = ChannelFactory(kind="rss", config={"count": 300, "prefix": "after"})
    worker = start_worker("w1", app=APP)
    poll_channel.delay(before.pk)
    wait_for(lambda: stored(before) == 200, what="the ingest before the outage")
    client.force_login(coordinator)

    own_redis.kill()
    try:
        down_at = time.monotonic()
        # The web side keeps working without its cache and broker.
        response = client.get(reverse("inbox:inbox"))
        assert response.status_code == 200
        assert cache.get("anything", "fallback") == "fallback"
        # An approval made now cannot be queued; it is committed all the same.
        reply = approved_reply()
        assert reply_state(reply) == ReplyState.APPROVED
        time.sleep(max(0.0, 3 - (time.monotonic() - down_at)))  # the outage: a few seconds
        assert worker.poll() is None  # the worker waits for the broker, it does not die
    finally:
        if not own_redis.answers():
            own_redis.start()  # `broker` flushes it on teardown
    poll_channel.delay(after.pk)
    wait_for(lambda: stored(after) == 300, timeout=60, what="the ingest after the outage")

    def sent() -> bool:
        recover_outbox()  # the "outbox-recover" beat entry: queues the reply the outage lost
        return reply_state(reply) == ReplyState.SENT

    wait_for(sent, timeout=60, what="the reply to be sent after the outage")
    assert_sent_once(reply, fake_x)
    assert stored(before) == 200
    assert worker.poll() is None
