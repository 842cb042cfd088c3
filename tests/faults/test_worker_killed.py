"""A worker SIGKILLed in the middle of an ingest: after a new worker runs, every message
is stored exactly once and the cursor is saved with the last batch.

The worker is a real `celery worker` process on the Redis broker against the test
database (the outbox tests' machinery). Killed mid-send is covered there:
tests/outbox/test_exactly_once.py::test_a_crash_between_the_post_and_the_commit_posts_once
(the platform receives exactly one post).
"""

from __future__ import annotations

import signal

import pytest
from django.db.models import Count

from inbox.models import Channel, ChannelStatus, Conversation, Message
from inbox.services.ingest import BATCH_SIZE
from inbox.tasks.channels import dispatch_channel_polls
from tests.factories import ChannelFactory
from tests.outbox.test_exactly_once import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

APP = "tests.faults.celery_app"
TOTAL = 2 * BATCH_SIZE + 1000  # three transactions: the kill lands between two of them


def stored(channel: Channel) -> int:
    return Message.objects.filter(channel=channel).count()


def test_a_worker_killed_mid_ingest_loses_and_duplicates_nothing(start_worker):
    channel = ChannelFactory(kind="rss", config={"count": TOTAL, "prefix": "big"}, cursor={})
    first = start_worker("w1", app=APP)
    dispatch_channel_polls.delay()  # what beat runs every 5 s: claims the channel, queues its poll

    wait_for(lambda: stored(channel) >= BATCH_SIZE, timeout=120, what="the first batch")
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = stored(channel)
    assert BATCH_SIZE <= killed_at < TOTAL, f"not killed mid-ingest ({killed_at} stored)"
    channel.refresh_from_db()
    assert channel.cursor == {}  # the cursor goes with the last batch only
    assert channel.poll_claimed_until is not None  # the dead worker's lease

    # Ten minutes later the lease has run out (POLL_LEASE) and the channel is due again:
    # moved here by hand, as the worker is another process and its clock cannot be frozen.
    Channel.objects.filter(pk=channel.pk).update(poll_claimed_until=None, next_poll_at=None)
    start_worker("w2", app=APP)
    dispatch_channel_polls.delay()

    def done() -> bool:
        channel.refresh_from_db()
        return channel.cursor == {"done": "big"} and channel.last_success_at is not None

    wait_for(done, timeout=120, what="the rerun to finish")
    assert channel.status == ChannelStatus.OK
    assert stored(channel) == TOTAL
    ids = set(Message.objects.filter(channel=channel).values_list("external_id", flat=True))
    assert ids == {f"big-{i}" for i in range(TOTAL)}
    # One conversation per top-level mention, none twice, none empty.
    conversations = Conversation.objects.filter(channel=channel).annotate(n=Count("messages"))
    assert conversations.count() == TOTAL
    assert not conversations.exclude(n=1).exists()
