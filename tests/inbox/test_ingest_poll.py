"""The poll tasks' control flow, with a tiny fake connector registered only here."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from inbox.channels import registry
from inbox.channels.base import (
    AuthFailed,
    ConnectorError,
    FetchResult,
    IncomingMessage,
    RateLimited,
)
from inbox.models import ChannelStatus, Message, Notification
from inbox.services.channels import POLL_LEASE, dispatch_due_polls, poll_channel_once
from inbox.tasks import channels as tasks
from tests.factories import ChannelFactory

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class FakeConnector:
    """Returns what the test queued: a FetchResult or an exception to raise."""

    script: list = []
    calls: list = []
    can_reply = can_reply_privately = can_hide = False
    max_length = None

    def fetch(self, channel, cursor):
        FakeConnector.calls.append(dict(cursor))
        outcome = FakeConnector.script.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setitem(registry.CONNECTORS, "x", f"{__name__}.FakeConnector")
    FakeConnector.script = []
    FakeConnector.calls = []
    return FakeConnector


@pytest.fixture
def polled(db, fake):
    return ChannelFactory(cursor={"since_id": "100"}, poll_interval_seconds=60)


def page(*ids, cursor):
    return FetchResult(
        messages=[
            IncomingMessage(external_id=i, text=f"tweet {i}", created_at=NOW, author_id="u1")
            for i in ids
        ],
        cursor=cursor,
    )


def test_a_good_poll_ingests_and_moves_the_cursor(polled, fake):
    fake.script = [page("101", "102", cursor={"since_id": "102"})]
    outcome = poll_channel_once(channel_id=polled.pk, now=NOW)
    assert outcome.status == "ok"
    assert outcome.created == 2
    polled.refresh_from_db()
    assert polled.cursor == {"since_id": "102"}
    assert polled.status == ChannelStatus.OK
    assert polled.last_success_at == NOW
    assert polled.poll_claimed_until is None
    assert fake.calls == [{"since_id": "100"}]


def test_a_429_reschedules_for_the_reset_time_without_waiting(polled, fake):
    reset = NOW + timedelta(minutes=12)
    fake.script = [RateLimited("Too Many Requests", reset_at=reset)]
    with time_machine.travel(NOW, tick=False):
        outcome = poll_channel_once(channel_id=polled.pk)
        polled.refresh_from_db()
        # Frozen clock: had the worker slept until the reset, this would never return here.
        assert outcome.status == "rate_limited"
        assert polled.next_poll_at == reset
        assert polled.rate_limit_reset_at == reset
        assert polled.status == ChannelStatus.RATE_LIMITED
        assert polled.cursor == {"since_id": "100"}
        assert polled.consecutive_failures == 0
        # Not due before the reset; due after it.
        assert polled.pk not in dispatch_due_polls(now=reset - timedelta(seconds=1))
    assert polled.pk in dispatch_due_polls(now=reset)


def test_a_401_puts_the_channel_in_error_and_alerts_admins(polled, fake, admin_user, coordinator):
    fake.script = [AuthFailed("Unauthorized", status_code=401)]
    assert poll_channel_once(channel_id=polled.pk, now=NOW).status == "auth_failed"
    polled.refresh_from_db()
    assert polled.status == ChannelStatus.ERROR
    assert "Unauthorized" in polled.last_error
    assert polled.cursor == {"since_id": "100"}
    assert list(Notification.objects.values_list("user__username", flat=True)) == ["ada"]
    # A channel in error waits for a person: the dispatcher skips it.
    assert polled.pk not in dispatch_due_polls(now=NOW + timedelta(days=1))


def test_failures_keep_the_cursor_back_off_and_alert_once(polled, fake, admin_user, settings):
    settings.CHANNEL_ALERT_AFTER_FAILURES = 3
    fake.script = [ConnectorError(f"HTTP 500 #{i}", status_code=500) for i in range(5)]
    retry_times = []
    for i in range(5):
        outcome = poll_channel_once(channel_id=polled.pk, now=NOW + timedelta(hours=i))
        assert outcome.status == "failed"
        retry_times.append(outcome.retry_at - (NOW + timedelta(hours=i)))
        assert Notification.objects.count() == (0 if i < 2 else 1)
    polled.refresh_from_db()
    assert polled.consecutive_failures == 5
    assert polled.status == ChannelStatus.FAILING
    assert polled.cursor == {"since_id": "100"}
    assert fake.calls == [{"since_id": "100"}] * 5
    assert retry_times[0] == timedelta(minutes=2)
    assert retry_times == sorted(retry_times)
    assert retry_times[-1] <= timedelta(hours=1)
    assert "HTTP 500 #4" in polled.last_error

    # Recovery resets the streak; the next streak alerts again.
    fake.script = [page("101", cursor={"since_id": "101"})] + [ConnectorError("down")] * 3
    poll_channel_once(channel_id=polled.pk, now=NOW + timedelta(hours=6))
    polled.refresh_from_db()
    assert polled.consecutive_failures == 0
    for i in range(3):
        poll_channel_once(channel_id=polled.pk, now=NOW + timedelta(hours=7 + i))
    assert Notification.objects.count() == 2


def test_a_channel_is_never_polled_by_two_workers_at_once(polled, fake):
    from inbox.models import Channel

    Channel.objects.filter(pk=polled.pk).update(poll_claimed_until=NOW + timedelta(minutes=5))
    assert poll_channel_once(channel_id=polled.pk, now=NOW).status == "busy"
    assert fake.calls == []
    # A dead worker's lease expires.
    fake.script = [page("101", cursor={"since_id": "101"})]
    later = NOW + POLL_LEASE
    assert poll_channel_once(channel_id=polled.pk, now=later).status == "ok"


def test_a_failed_ingest_keeps_the_cursor(polled, fake, monkeypatch):
    from inbox.services.ingest import batch

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(batch, "write", broken)
    fake.script = [page("101", cursor={"since_id": "101"})]
    with pytest.raises(RuntimeError):
        poll_channel_once(channel_id=polled.pk, now=NOW)
    polled.refresh_from_db()
    assert polled.cursor == {"since_id": "100"}
    assert Message.objects.count() == 0
    assert polled.poll_claimed_until is None


def test_dispatch_enqueues_due_enabled_channels_once(db, monkeypatch):
    due = ChannelFactory(next_poll_at=NOW - timedelta(seconds=1), poll_interval_seconds=30)
    never_polled = ChannelFactory(next_poll_at=None)
    ChannelFactory(next_poll_at=NOW + timedelta(minutes=1))
    ChannelFactory(enabled=False, next_poll_at=None)
    queued = []
    monkeypatch.setattr(tasks.poll_channel, "delay", queued.append)
    with time_machine.travel(NOW, tick=False):
        assert tasks.dispatch_channel_polls() == 2
        # A second beat right after finds nothing due: no double dispatch.
        assert tasks.dispatch_channel_polls() == 0
    assert sorted(queued) == sorted([due.pk, never_polled.pk])
    due.refresh_from_db()
    assert due.next_poll_at == NOW + timedelta(seconds=30)


def test_two_dispatchers_racing_claim_each_channel_once(db):
    channel = ChannelFactory(next_poll_at=NOW - timedelta(seconds=1))
    stale = channel.next_poll_at
    assert dispatch_due_polls(now=NOW) == [channel.pk]
    # The other beat read the same row before our UPDATE: its conditional UPDATE finds nothing.
    from inbox.models import Channel

    assert Channel.objects.filter(pk=channel.pk, next_poll_at=stale).update(next_poll_at=NOW) == 0


def test_poll_task_runs_the_service(polled, fake):
    fake.script = [page("7", cursor={"since_id": "7"})]
    assert tasks.poll_channel.apply(args=[polled.pk]).get() == "ok"
    assert tasks.poll_channel.acks_late


def test_backfill_command_pages_through_history_into_ingest(polled, fake):
    from io import StringIO

    from django.core.management import call_command

    fake.script = [
        page("1", "2", cursor={"page": 2}),
        page("2", "3", cursor={"page": 3}),
        page(cursor={"page": 3}),
    ]
    out = StringIO()
    call_command("backfill", str(polled.pk), "--since", "2025-01-01", stdout=out, stderr=StringIO())
    assert Message.objects.filter(channel=polled).count() == 3
    assert fake.calls[0]["since"] == "2025-01-01T00:00:00+00:00"
    assert "3 new messages, 1 already stored" in out.getvalue()
    polled.refresh_from_db()
    assert polled.cursor == {"since_id": "100"}  # the live cursor is the poller's
