"""Replaying the real twcs_head5000.csv rebuilds exactly the threads its reply structure implies."""

from datetime import UTC, datetime

import pytest

from inbox.channels.replay import twcs_messages_by_brand
from inbox.models import Conversation, Direction, Message
from inbox.services import ingest
from inbox.services.ingest import ingest_messages
from tests.factories import ChannelFactory
from tests.realworld import live_rows, needs_twcs, read_rows, union_find_threads

pytestmark = needs_twcs


def threads_in_csv() -> tuple[int, int, int]:
    """(threads, rows, brand rows) of what live connectors would fetch, counted straight from
    the CSV: union-find over tweet -> in_response_to among the rows they fetch."""
    kept = [row for row, _brand in live_rows(read_rows())]
    threads = set(union_find_threads(kept).values())
    brand_rows = sum(row["inbound"] == "False" for row in kept)
    return len(threads), len(kept), brand_rows


def replay(batch_size=None, monkeypatch=None):
    if batch_size:
        monkeypatch.setattr(ingest.batch, "BATCH_SIZE", batch_size)
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


@pytest.mark.django_db
def test_only_what_a_live_connector_would_fetch_is_replayed():
    replay()
    stored = set(Message.objects.values_list("external_id", flat=True))
    # AirAsiaSupport's 2011 booking-number template: mentions nobody, answers nobody.
    assert "348" not in stored
    # A customer tweet in a Verizon thread addressed to another customer, not the brand.
    assert "42" not in stored
    # Customer tweets that mention the brand, and the brand's answers, are there.
    assert {"3", "1", "2", "4"} <= stored
    rows = Message.objects.values_list(
        "channel__name", "external_id", "direction", "text", "parent_external_id"
    )
    direction = {(brand, ext): d for brand, ext, d, _text, _parent in rows}
    for brand, ext, d, text, parent in rows:
        if d == Direction.INBOUND:
            answers_brand = direction.get((brand, parent)) == Direction.OUTBOUND
            assert f"@{brand.lower()}" in text.lower() or answers_brand, (brand, ext)


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
