from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from inbox.lib import spikes
from inbox.models import Notification, SpikeAlert
from inbox.services.spikes import detect_spikes
from inbox.tasks.spikes import detect_spikes_task
from tests.factories import ConversationFactory, MessageFactory

NOW = datetime(2026, 3, 2, 9, 7, tzinfo=UTC)


# --- pure decision -------------------------------------------------------------------------


def test_flat_history_uses_the_poisson_floor():
    history = [10] * 10  # MAD is 0; sqrt(10) = 3.16 -> threshold 10 + 4 * 3.16 = 22.6
    assert not spikes.decide(22, history).is_spike
    assert spikes.decide(23, history).is_spike


def test_quiet_windows_need_the_minimum_volume():
    assert not spikes.decide(8, [0] * 10).is_spike
    assert spikes.decide(20, [0] * 10).is_spike
    assert spikes.decide(20, []).threshold == 20


def test_one_viral_day_in_the_history_does_not_hide_the_next():
    history = [30, 28, 35, 31, 29, 2000, 33, 30, 27, 32]
    decision = spikes.decide(90, history)
    assert decision.is_spike and decision.baseline == 30.5


def test_window_start_is_the_quarter_hour():
    assert spikes.window_start(NOW) == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    current, history = spikes.windows(NOW)
    assert current == (NOW - timedelta(minutes=15), NOW)
    assert history[0] == (current[0] - timedelta(days=1), NOW - timedelta(days=1))
    assert len(history) == 10


# --- service -------------------------------------------------------------------------------


@pytest.fixture
def busy_channel(channel):
    channel.keywords = ["lekkage"]
    channel.save(update_fields=["keywords"])
    conv = ConversationFactory(channel=channel)
    # Normal: five messages in this quarter hour on each history day, none about "lekkage".
    for offset in spikes.HISTORY_OFFSETS:
        MessageFactory.create_batch(
            5,
            conversation=conv,
            text="vraag over de huur",
            created_at=NOW - offset - timedelta(minutes=5),
        )
    # Now: 40 messages about a leak, plus a few that are not.
    MessageFactory.create_batch(
        40, conversation=conv, text="Lekkage in de flat!", created_at=NOW - timedelta(minutes=3)
    )
    MessageFactory.create_batch(
        3, conversation=conv, text="vraag over de huur", created_at=NOW - timedelta(minutes=20)
    )
    return channel


@time_machine.travel(NOW, tick=False)
def test_it_records_and_notifies_a_spike_once(busy_channel, coordinator, manager, staff_a):
    alerts = detect_spikes(now=NOW)
    by_keyword = {a.keyword: a for a in alerts}
    assert set(by_keyword) == {"", "lekkage"}
    assert by_keyword[""].count == 40 and by_keyword[""].baseline == 5
    assert by_keyword["lekkage"].window_start == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert Notification.objects.filter(kind="spike", user=coordinator).count() == 2
    assert Notification.objects.filter(kind="spike", user=manager).count() == 2
    assert not Notification.objects.filter(user=staff_a).exists()

    # Beat runs every minute: the same quarter hour adds nothing.
    assert detect_spikes(now=NOW + timedelta(minutes=1)) == []
    assert SpikeAlert.objects.count() == 2
    assert Notification.objects.filter(kind="spike").count() == 4


@time_machine.travel(NOW, tick=False)
def test_everyone_told_of_a_spike_can_open_the_link(client, busy_channel, coordinator, manager):
    detect_spikes(now=NOW)
    for notification in Notification.objects.filter(kind="spike").select_related("user"):
        client.force_login(notification.user)
        assert client.get(notification.url).status_code == 200, notification.user


@time_machine.travel(NOW, tick=False)
def test_an_ongoing_spike_is_recorded_but_not_notified_again(busy_channel, coordinator):
    detect_spikes(now=NOW)
    later = NOW + timedelta(minutes=10)  # next quarter hour; the 40 are still in the window
    alerts = detect_spikes(now=later)
    assert {a.keyword for a in alerts} == {"", "lekkage"}
    assert Notification.objects.filter(kind="spike", user=coordinator).count() == 2


@time_machine.travel(NOW, tick=False)
def test_normal_volume_raises_nothing(channel, coordinator):
    conv = ConversationFactory(channel=channel)
    for offset in spikes.HISTORY_OFFSETS:
        MessageFactory.create_batch(
            6, conversation=conv, created_at=NOW - offset - timedelta(minutes=5)
        )
    MessageFactory.create_batch(7, conversation=conv, created_at=NOW - timedelta(minutes=5))
    assert detect_spikes(now=NOW) == []
    assert not Notification.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_the_task_runs_the_service(busy_channel, coordinator):
    assert detect_spikes_task() == 2
    assert detect_spikes_task() == 0


def test_detect_spikes_uses_one_query_per_channel(busy_channel, django_assert_num_queries):
    # channels + one aggregate for the channel (no spike that far in the future).
    with django_assert_num_queries(2):
        detect_spikes(now=NOW + timedelta(days=100))


# --- view ----------------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_coordinators_poll_the_fragment(client, busy_channel, coordinator):
    detect_spikes(now=NOW)
    client.force_login(coordinator)
    response = client.get(reverse("inbox:spike-alerts"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "lekkage" in body and 'hx-trigger="every 60s"' in body
    assert "<html" not in body
    page = client.get(reverse("inbox:spike-alerts"))
    assert page.status_code == 200 and "<html" in page.content.decode()


def test_staff_may_not_see_spike_alerts(client, staff_a):
    client.force_login(staff_a)
    assert client.get(reverse("inbox:spike-alerts")).status_code == 403


def test_spike_alerts_rejects_post(client, coordinator):
    client.force_login(coordinator)
    assert client.post(reverse("inbox:spike-alerts")).status_code == 405
