"""Replaying the real twcs_head5000.csv rebuilds exactly the threads its reply structure implies."""

import csv
from datetime import UTC, datetime

import pytest
from django.conf import settings

from inbox.channels.replay import TWCS_FILE, twcs_messages_by_brand
from inbox.models import Conversation, Direction, Message
from inbox.services import ingest
from inbox.services.ingest import ingest_messages
from tests.factories import ChannelFactory

pytestmark = pytest.mark.skipif(
    not (settings.REALWORLD_DATA_DIR / TWCS_FILE).exists(),
    reason=f"real-world data set {TWCS_FILE} not found under REALWORLD_DATA_DIR",
)


def threads_in_csv() -> tuple[int, int, int]:
    """Count threads straight from the CSV (union-find over tweet -> in_response_to)."""
    with open(settings.REALWORLD_DATA_DIR / TWCS_FILE, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for row in rows:
        find(row["tweet_id"])
        if row["in_response_to_tweet_id"]:
            parent[find(row["tweet_id"])] = find(row["in_response_to_tweet_id"])
    threads = {find(row["tweet_id"]) for row in rows}
    brand_rows = sum(row["inbound"] == "False" for row in rows)
    return len(threads), len(rows), brand_rows


def replay(batch_size=None, monkeypatch=None):
    if batch_size:
        monkeypatch.setattr(ingest, "BATCH_SIZE", batch_size)
    by_brand = twcs_messages_by_brand()
    channels = {}
    for brand, messages in by_brand.items():
        channels[brand] = ChannelFactory(kind="simulator", name=brand, own_handles=[brand])
        ingest_messages(channel=channels[brand], messages=messages)
    return channels


@pytest.mark.django_db
def test_replay_gives_exactly_the_threads_of_the_file():
    expected_threads, rows, _ = threads_in_csv()
    replay()
    assert Message.objects.count() == rows
    assert Conversation.objects.count() == expected_threads
    # Every reply sits in its parent's conversation.
    by_ext = dict(Message.objects.values_list("external_id", "conversation_id"))
    for ext, parent in Message.objects.exclude(parent_external_id="").values_list(
        "external_id", "parent_external_id"
    ):
        if parent in by_ext:
            assert by_ext[ext] == by_ext[parent], ext


@pytest.mark.django_db
def test_replay_in_small_batches_gives_the_same_threads(monkeypatch):
    expected_threads, rows, _ = threads_in_csv()
    replay(batch_size=97, monkeypatch=monkeypatch)
    assert Message.objects.count() == rows
    assert Conversation.objects.count() == expected_threads


@pytest.mark.django_db
def test_brand_tweets_are_outbound_and_replays_are_harmless():
    _, rows, brand_rows = threads_in_csv()
    channels = replay()
    outbound = Message.objects.filter(direction=Direction.OUTBOUND).count()
    # A brand tweet in another brand's thread is that channel's inbound: at most brand_rows.
    assert 0.95 * brand_rows <= outbound <= brand_rows
    again = twcs_messages_by_brand()
    for brand, messages in again.items():
        assert ingest_messages(channel=channels[brand], messages=messages).created == 0
    assert Message.objects.count() == rows


def test_replay_can_compress_time():
    start = datetime(2030, 1, 1, tzinfo=UTC)
    by_brand = twcs_messages_by_brand(start=start, compress=1000)
    times = [m.created_at for msgs in by_brand.values() for m in msgs]
    assert min(times) == start
    # 2011..2017 (about 6.3 years) divided by 1000 is a couple of days.
    assert (
        max(times) - start
        < (datetime(2018, 1, 1, tzinfo=UTC) - datetime(2011, 8, 1, tzinfo=UTC)) / 900
    )
