"""The rollup's own paths behind the definitions: audit-event batches where few conversations
closed, clocks carried from one run to the next, and the memoised period starts."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from inbox.models import ConversationEvent
from reports.models import ConversationClock, DimKind, DurationMetric
from reports.periods import Period, day_start, hour_start, month_start
from reports.rollup.batch import Batch
from reports.rollup.run import run_rollups
from reports.selectors import duration_stats
from tests.factories import ConversationFactory
from tests.reports.test_definitions import NOW, close, conversation, customer, near, reply

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def rollup(**kwargs):
    run_rollups(now=timezone.now() + timedelta(minutes=1), **kwargs)


def stat(metric, kind=DimKind.ALL, dim=""):
    got = duration_stats(Period.ending_today(7), metrics=[metric], dim_kind=kind)
    return got.get((metric, dim))


def test_event_batches_count_only_the_conversations_that_closed(staff_a):
    start = NOW - timedelta(hours=6)
    convs = [conversation(start + timedelta(minutes=i)) for i in range(12)]
    for conv in convs:  # the events of busy conversations that stay open
        for kind in ("assigned", "note", "forwarded"):
            ConversationEvent.objects.create(conversation=conv, kind=kind)
    closed = {conv.pk: i + 1 for i, conv in enumerate(convs[2:9:3])}  # three, 1-3 hours
    for conv in convs:
        if conv.pk in closed:
            close(conv, conv.received_at + timedelta(hours=closed[conv.pk]))
    # Closed without a close time, and a closed conversation without a customer message (no
    # clock): neither counts.
    odd = convs[10]
    odd.status = "closed"
    odd.save(update_fields=["status"])
    ConversationEvent.objects.create(conversation=odd, kind="closed")
    own = ConversationFactory(received_at=start)
    reply(own, start, by=staff_a)
    close(own, start + timedelta(hours=1))

    rollup(batch_size=5)  # many event batches, each with a few conversations
    rollup(batch_size=5)

    res = stat(DurationMetric.RESOLUTION_CALENDAR)
    assert res.count == 3
    assert near(res.p50, 2 * 3600)
    resolved = dict(
        ConversationClock.objects.filter(resolved_at__isnull=False).values_list(
            "conversation_id", "resolved_at"
        )
    )
    by_id = {conv.pk: conv for conv in convs}
    assert resolved == {pk: by_id[pk].received_at + timedelta(hours=h) for pk, h in closed.items()}


def test_clocks_carry_over_from_one_run_to_the_next(staff_a):
    start = NOW - timedelta(hours=5)
    conv = conversation(start)
    rollup()
    reply(conv, start + timedelta(minutes=10), by=staff_a)
    rollup()
    customer(conv, start + timedelta(hours=1))
    rollup()
    reply(conv, start + timedelta(hours=1, minutes=5), by=staff_a)
    reply(conv, start + timedelta(hours=1, minutes=6), by=staff_a)  # a second answer: no wait
    rollup()
    frt, nrt = stat(DurationMetric.FRT_CALENDAR), stat(DurationMetric.NRT_CALENDAR)
    assert frt.count == 1 and near(frt.p50, 600)
    assert nrt.count == 1 and near(nrt.p50, 300)
    clock = ConversationClock.objects.get(conversation=conv)
    assert (clock.first_inbound_at, clock.first_response_at) == (
        start,
        start + timedelta(minutes=10),
    )
    assert (clock.awaiting_since, clock.responses) == (None, 2)


@pytest.mark.parametrize(
    ("zone", "start"),
    [
        ("Europe/Amsterdam", datetime(2026, 3, 28, 12, tzinfo=UTC)),  # summer time, midnight
        ("Europe/Amsterdam", datetime(2026, 10, 24, 12, tzinfo=UTC)),  # winter time
        ("Europe/Amsterdam", datetime(2026, 1, 31, 12, tzinfo=UTC)),  # a new month
        ("Asia/Kolkata", datetime(2026, 3, 10, 12, tzinfo=UTC)),  # +05:30
        ("Australia/Adelaide", datetime(2026, 4, 4, 6, tzinfo=UTC)),  # +10:30 -> +09:30
        ("Asia/Kathmandu", datetime(2026, 3, 10, 12, tzinfo=UTC)),  # +05:45
        # -00:44:30 until 7 January 1972: offsets off the quarter hour are not memoised.
        ("Africa/Monrovia", datetime(1972, 1, 6, tzinfo=UTC)),
    ],
)
def test_memoised_period_starts_equal_the_computed_ones(settings, zone, start):
    settings.TIME_ZONE = zone
    batch = Batch()
    for minute in range(36 * 60):  # every minute boundary of 36 hours, and the second before
        for at in (
            start + timedelta(minutes=minute, seconds=-1),
            start + timedelta(minutes=minute),
        ):
            hour, day, month = batch.starts(at)
            assert hour == hour_start(at), at
            assert day.isoformat() == day_start(at).isoformat(), at
            assert month.isoformat() == month_start(at).isoformat(), at
    # A time with another offset keeps its own hour (as hour_start gives it), memo or not.
    local = datetime(2026, 3, 10, 10, 45, tzinfo=timezone.get_fixed_timezone(330))
    batch.starts(local.astimezone(UTC))
    assert batch.starts(local)[0] == hour_start(local)
