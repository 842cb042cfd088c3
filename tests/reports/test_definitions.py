"""One test per definition on the definitions page (templates/reports/definitions.html).

Each builds a small history of messages, runs the real rollup task, and reads the figure the
dashboard shows through reports.selectors.
"""

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from inbox.channels.base import IncomingMessage
from inbox.models import Conversation, ConversationEvent
from inbox.services.ingest import ingest_messages
from inbox.services.replies import close_conversation
from reports import sketch
from reports.models import BacklogSnapshot, DimKind, DurationMetric
from reports.panels import PANELS
from reports.periods import Period
from reports.rollup.run import run_rollups
from reports.selectors import (
    OrphanStarts,
    Scope,
    backlog,
    counters,
    duration_stats,
    heatmap,
    orphan_starts,
    scope_for,
)
from routing.models import BusinessCalendar, BusinessWindow, SlaClock
from tests.factories import ChannelFactory, ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db

# Wednesday 11 March 2026, 15:00 in Amsterdam (14:00 UTC).
NOW = datetime(2026, 3, 11, 14, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def rollup():
    run_rollups(now=timezone.now() + timedelta(minutes=1))


def period(days=7):
    return Period.ending_today(days)


def stat(metric, kind=DimKind.ALL, dim="", *, without_orphans=False):
    return duration_stats(
        period(), metrics=[metric], dim_kind=kind, without_orphans=without_orphans
    ).get((metric, dim))


def count(metric, kind=DimKind.ALL, dim="", *, without_orphans=False):
    return counters(period(), metrics=[metric], dim_kind=kind, without_orphans=without_orphans).get(
        (metric, dim), 0
    )


def conversation(at, *, due=None, **kwargs):
    """A conversation opened by a customer at `at`; with `due`, a first-response clock started
    then (the routing's SLA hooks would start it), due at that time."""
    conv = ConversationFactory(received_at=at, **kwargs)
    MessageFactory(conversation=conv, created_at=at, direction="in")
    if due is not None:
        SlaClock.objects.create(
            conversation=conv, kind="first_response", target_minutes=60, started_at=at, due_at=due
        )
    return conv


def reply(conv, at, *, by=None, automatic=False):
    return MessageFactory(
        conversation=conv, created_at=at, direction="out", sent_by=by, is_automatic=automatic
    )


def customer(conv, at):
    return MessageFactory(conversation=conv, created_at=at, direction="in")


def close(conv, at):
    conv.status = "closed"
    conv.closed_at = at
    conv.save(update_fields=["status", "closed_at"])
    ConversationEvent.objects.create(conversation=conv, kind="closed")


def near(value, expected):
    return abs(value - expected) <= sketch.RELATIVE_ERROR * expected + 1e-9


def test_inbound_volume(team_a):
    conv = conversation(NOW - timedelta(hours=3), department=team_a, language="nl")
    customer(conv, NOW - timedelta(hours=2))
    reply(conv, NOW - timedelta(hours=1))
    rollup()
    assert count("inbound") == 2
    assert count("inbound", DimKind.CHANNEL, str(conv.channel_id)) == 2
    assert count("inbound", DimKind.DEPARTMENT, str(team_a.pk)) == 2
    assert count("inbound", DimKind.LANGUAGE, "nl") == 2


def test_first_response(staff_a):
    conv = conversation(NOW - timedelta(hours=3))
    reply(conv, NOW - timedelta(hours=3) + timedelta(minutes=10), by=staff_a)
    reply(conv, NOW - timedelta(hours=1), by=staff_a)  # a second answer: no new first response
    rollup()
    frt = stat(DurationMetric.FRT_CALENDAR)
    assert frt.count == 1
    assert near(frt.p50, 600)


def test_business_time(team_a, staff_a):
    calendar = BusinessCalendar.objects.create(name="Office", use_dutch_holidays=False)
    for weekday in range(5):
        BusinessWindow.objects.create(
            calendar=calendar, weekday=weekday, start=time(9), end=time(17)
        )
    team_a.calendar = calendar
    team_a.save()
    # Tuesday 16:50 local -> Wednesday 09:10 local: 16 h 20 min on the clock, 20 min of office time.
    asked = datetime(2026, 3, 10, 15, 50, tzinfo=UTC)
    conv = conversation(asked, department=team_a)
    reply(conv, datetime(2026, 3, 11, 8, 10, tzinfo=UTC), by=staff_a)
    # A team without a calendar works 24/7: business time equals calendar time.
    other = conversation(asked)
    reply(other, asked + timedelta(minutes=30), by=staff_a)
    rollup()
    dept = str(team_a.pk)
    assert near(stat(DurationMetric.FRT_CALENDAR, DimKind.DEPARTMENT, dept).p50, 16 * 3600 + 1200)
    assert near(stat(DurationMetric.FRT_BUSINESS, DimKind.DEPARTMENT, dept).p50, 1200)
    assert near(stat(DurationMetric.FRT_BUSINESS, DimKind.DEPARTMENT, "0").p50, 1800)
    assert near(stat(DurationMetric.FRT_CALENDAR, DimKind.DEPARTMENT, "0").p50, 1800)


def test_automations_excluded(staff_a):
    conv = conversation(NOW - timedelta(hours=2))
    reply(conv, NOW - timedelta(hours=2) + timedelta(minutes=1), automatic=True)
    reply(conv, NOW - timedelta(hours=2) + timedelta(minutes=10), by=staff_a)
    rollup()
    assert near(stat(DurationMetric.FRT_CALENDAR).p50, 600)
    assert count("responses") == 1


def test_credited_to_sender(staff_a, staff_b):
    conv = conversation(NOW - timedelta(hours=2), assignee=staff_b)
    reply(conv, NOW - timedelta(hours=1), by=staff_a)
    rollup()
    assert stat(DurationMetric.FRT_CALENDAR, DimKind.AGENT, str(staff_a.pk)).count == 1
    assert stat(DurationMetric.FRT_CALENDAR, DimKind.AGENT, str(staff_b.pk)) is None


def test_next_response(staff_a):
    start = NOW - timedelta(hours=5)
    conv = conversation(start)
    reply(conv, start + timedelta(minutes=10), by=staff_a)
    close(conv, start + timedelta(minutes=20))
    # The customer writes again: ingest reopens the conversation; our answer is a next response.
    customer(conv, start + timedelta(hours=2))
    customer(conv, start + timedelta(hours=2, minutes=1))  # still the same wait
    reply(conv, start + timedelta(hours=2, minutes=5), by=staff_a)
    rollup()
    frt = stat(DurationMetric.FRT_CALENDAR)
    nrt = stat(DurationMetric.NRT_CALENDAR)
    assert frt.count == 1 and near(frt.p50, 600)
    assert nrt.count == 1 and near(nrt.p50, 300)


def test_resolution(staff_a):
    start = NOW - timedelta(hours=5)
    conv = conversation(start, assignee=staff_a)
    reply(conv, start + timedelta(minutes=10), by=staff_a)
    close(conv, start + timedelta(hours=3))
    rollup()
    close(conv, start + timedelta(hours=4))  # a second close does not count again
    rollup()
    res = stat(DurationMetric.RESOLUTION_CALENDAR)
    assert res.count == 1
    assert near(res.p50, 3 * 3600)
    assert stat(DurationMetric.RESOLUTION_CALENDAR, DimKind.AGENT, str(staff_a.pk)).count == 1


def test_sla_compliance(staff_a):
    start = NOW - timedelta(hours=5)
    on_time = conversation(start, due=start + timedelta(hours=1))
    late = conversation(start, due=start + timedelta(minutes=5))
    no_due = conversation(start)
    for conv in (on_time, late, no_due):
        reply(conv, start + timedelta(minutes=30), by=staff_a)
    rollup()
    assert count("frt_due") == 2
    assert count("frt_met") == 1


def test_sla_met_as_the_routing_runs_the_clocks(channel, policy, coordinator):
    """The clocks the SLA hooks start and stop, not deadlines set by hand: a response or a close
    stops its clock and empties the conversation's due field before the rollup counts it."""
    start = NOW - timedelta(hours=12)

    def message(ext, minutes, *, own=False, parent=""):
        return IncomingMessage(
            external_id=ext,
            text="Mijn cv-ketel is kapot" if not own else "We komen eraan.",
            created_at=start + timedelta(minutes=minutes),
            author_id="woonstad" if own else f"klant-{ext[0]}",
            author_handle="woonstad" if own else f"klant{ext[0]}",
            parent_external_id=parent,
            is_own=own,
        )

    # policy: 30 minutes to a first response, 60 to the next, 8 hours to resolution, 24/7.
    for batch in (
        [message("a1", 0), message("b1", 0)],
        [message("a2", 10, own=True, parent="a1")],  # in time
        [message("b2", 45, own=True, parent="b1")],  # 15 minutes late
        [message("a3", 60, parent="a2")],  # the customer writes again ...
        [message("a4", 80, own=True, parent="a3")],  # ... answered in time
    ):
        ingest_messages(channel=channel, messages=batch)
    a, b = (Conversation.objects.get(thread_key=key) for key in ("a1", "b1"))
    assert a.first_response_due_at is None  # answered: the running clock is gone
    for conv, hours in ((a, 2), (b, 9)):
        with time_machine.travel(start + timedelta(hours=hours), tick=False):
            close_conversation(conversation=conv, acting_user=coordinator)
    rollup()
    assert (count("frt_due"), count("frt_met")) == (2, 1)
    assert (count("nrt_due"), count("nrt_met")) == (1, 1)
    assert (count("res_due"), count("res_met")) == (2, 1)


def test_replies_per_conversation(staff_a):
    start = NOW - timedelta(hours=5)
    one = conversation(start)
    two = conversation(start)
    reply(one, start + timedelta(minutes=5), by=staff_a)
    reply(two, start + timedelta(minutes=5), by=staff_a)
    reply(two, start + timedelta(minutes=6), by=staff_a)
    reply(two, start + timedelta(minutes=7), automatic=True)
    # Our own post before any customer wrote answers nobody: no reply.
    post = ConversationFactory(received_at=start)
    MessageFactory(conversation=post, created_at=start, direction="out", sent_by=staff_a)
    rollup()
    assert count("responses") / stat(DurationMetric.FRT_CALENDAR).count == 1.5


def test_backlog(team_a):
    ConversationFactory(status="new", department=team_a)
    ConversationFactory(status="assigned", department=team_a, sla_state="overdue")
    ConversationFactory(status="closed", department=team_a)
    rollup()
    now, series = backlog(period(), scope=scope_for(UserFactory(role="manager")))
    assert now == {"open": 2, "overdue": 1}
    assert series[-1][1:] == (2, 1)


def test_backlog_per_day_is_the_days_last_snapshot_in_local_time(team_a, team_b):
    monday = [datetime(2026, 3, 9, h, 0, tzinfo=UTC) for h in (21, 22, 23)]  # 22, 23, 00 local
    for hour, (everyone, a, b) in zip(monday, [(5, 3, 2), (7, 4, 3), (9, 5, 4)], strict=True):
        for dim, n in (("", everyone), (str(team_a.pk), a), (str(team_b.pk), b)):
            BacklogSnapshot.objects.create(hour=hour, dim=dim, open=n, overdue=n // 3)
    _now, series = backlog(period(), scope=Scope())
    assert [row for row in series if row[0].day in (9, 10)] == [
        (date(2026, 3, 9), 7, 2),  # 23:00 local is Monday's last
        (date(2026, 3, 10), 9, 3),  # 00:00 local is Tuesday's
    ]
    _now, team = backlog(period(), scope=Scope((team_a.pk, team_b.pk)))
    assert [row for row in team if row[0].day == 9] == [(date(2026, 3, 9), 7, 2)]


def test_percentiles(staff_a):
    durations = [60 * (i + 1) ** 1.5 for i in range(40)]
    start = NOW - timedelta(days=2)
    for seconds in durations:
        conv = conversation(start)
        reply(conv, start + timedelta(seconds=seconds), by=staff_a)
    rollup()
    frt = stat(DurationMetric.FRT_CALENDAR)
    assert frt.count == 40
    assert near(frt.p50, sketch.exact_percentile(durations, 50))
    assert near(frt.p90, sketch.exact_percentile(durations, 90))


def test_orphan_starts(staff_a):
    start = NOW - timedelta(hours=6)
    # Counted either way: a new mention, answered in time after 10 minutes ...
    fresh = conversation(start, due=start + timedelta(hours=1))
    reply(fresh, start + timedelta(minutes=10), by=staff_a)
    # ... and a customer's reply to our own post, which the inbox has: 20 minutes.
    post = ConversationFactory(received_at=start)
    MessageFactory(conversation=post, created_at=start, direction="out", external_id="our-post")
    MessageFactory(
        conversation=post,
        created_at=start + timedelta(minutes=1),
        direction="in",
        parent_external_id="our-post",
    )
    reply(post, start + timedelta(minutes=21), by=staff_a)
    # Orphan starts. The customer answers a message the inbox never had (5 hours, late, closed)...
    orphan = ConversationFactory(received_at=start)
    MessageFactory(
        conversation=orphan, created_at=start, direction="in", parent_external_id="not-here-1"
    )
    SlaClock.objects.create(
        conversation=orphan,
        kind="first_response",
        target_minutes=60,
        started_at=start,
        due_at=start + timedelta(hours=1),
    )
    reply(orphan, start + timedelta(hours=5), by=staff_a)
    close(orphan, start + timedelta(hours=5, minutes=1))
    # ... or the thread begins with our answer to a question the inbox never had (3.5 hours).
    ours_first = ConversationFactory(received_at=start)
    MessageFactory(
        conversation=ours_first, created_at=start, direction="out", parent_external_id="not-here-2"
    )
    customer(ours_first, start + timedelta(minutes=30))
    reply(ours_first, start + timedelta(hours=4), by=staff_a)
    rollup()
    # The missing parent turns up later: the clock still started at the reply, so it stays out.
    MessageFactory(
        conversation=orphan,
        channel=orphan.channel,
        created_at=start - timedelta(minutes=5),
        direction="in",
        external_id="not-here-1",
    )
    rollup()

    everything = stat(DurationMetric.FRT_CALENDAR)
    assert everything.count == 4
    assert near(everything.p50, 1200) and near(everything.p90, 5 * 3600)
    known = stat(DurationMetric.FRT_CALENDAR, without_orphans=True)
    assert known.count == 2
    assert near(known.p50, 600) and near(known.p90, 1200)
    assert stat(DurationMetric.FRT_BUSINESS, without_orphans=True).count == 2
    assert stat(DurationMetric.RESOLUTION_CALENDAR).count == 1
    assert stat(DurationMetric.RESOLUTION_CALENDAR, without_orphans=True) is None
    assert (count("frt_due"), count("frt_met")) == (2, 1)
    assert (count("frt_due", without_orphans=True), count("frt_met", without_orphans=True)) == (
        1,
        1,
    )
    # Replies by people: 1 in each conversation; our opening posts answer nobody.
    assert (count("responses"), count("responses", without_orphans=True)) == (4, 2)
    # Figures of messages are the same either way.
    assert count("inbound", without_orphans=True) == count("inbound") == 5
    assert orphan_starts(period(), scope=Scope()) == OrphanStarts(started=4, orphans=2)


def test_periods(staff_a):
    # 23:30 local on Monday 9 March is 22:30 UTC: it belongs to Monday, not to Tuesday.
    at = datetime(2026, 3, 9, 22, 30, tzinfo=UTC)
    conv = conversation(at - timedelta(minutes=5))
    reply(conv, at, by=staff_a)
    rollup()
    monday = Period(
        datetime(2026, 3, 9, tzinfo=timezone.get_current_timezone()),
        datetime(2026, 3, 10, tzinfo=timezone.get_current_timezone()),
        1,
    )
    got = duration_stats(monday, metrics=[DurationMetric.FRT_CALENDAR], dim_kind=DimKind.ALL)
    assert got[(DurationMetric.FRT_CALENDAR, "")].count == 1


def test_heatmap_is_in_local_time(team_a, team_b):
    """Weekday and hour as the team reads the clock: Monday 23:30 in Amsterdam is 22:30 UTC in
    winter and belongs to Monday 23:00; the team filter keeps other teams' mail out."""
    monday_night = datetime(2026, 3, 9, 22, 30, tzinfo=UTC)
    conv = conversation(monday_night, department=team_a)
    customer(conv, monday_night + timedelta(minutes=10))
    conversation(NOW - timedelta(hours=1), department=team_b)  # Wednesday 14:00 local
    rollup()
    grid = heatmap(period(), scope=Scope())
    assert grid[0][23] == 2 and grid[1][0] == 0  # Monday 23:xx, not Tuesday 00:xx
    assert grid[2][14] == 1
    assert sum(map(sum, grid)) == 3
    team = heatmap(period(), scope=Scope((team_a.pk,)))
    assert team[0][23] == 2 and sum(map(sum, team)) == 2


def test_rollups_count_each_message_once(staff_a):
    conv = conversation(NOW - timedelta(hours=2))
    reply(conv, NOW - timedelta(hours=1), by=staff_a)
    rollup()
    rollup()
    assert count("inbound") == 1
    assert stat(DurationMetric.FRT_CALENDAR).count == 1


def test_labels(coordinator, admin_user, team_a, staff_a):
    """Counted by hand: Klacht on four conversations of the week (one in last week's Monday-
    Sunday, one outside the period), three answered in 10, 20 and 60 minutes; one taken off."""
    from inbox.services.labels import create_label, set_labels
    from reports.panels import label_trend_panel, labels_panel
    from reports.selectors import label_figures

    klacht = create_label(name="Klacht", colour="red", acting_user=admin_user)
    lof = create_label(name="Lof", colour="green", acting_user=admin_user)
    mon = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)  # Monday of this week
    convs = []
    for at, minutes, team in (
        (mon, 10, team_a),
        (mon + timedelta(days=1), 20, None),
        (mon - timedelta(days=3), 60, team_a),  # Friday of last week
        (NOW - timedelta(hours=1), None, None),  # not answered yet
        (NOW - timedelta(days=20), 5, None),  # outside the 7 days
    ):
        conv = conversation(at, department=team)
        if minutes:
            reply(conv, at + timedelta(minutes=minutes), by=staff_a)
        set_labels(conversation=conv, add=[klacht], remove=[], acting_user=coordinator)
        convs.append(conv)
    set_labels(conversation=convs[1], add=[lof], remove=[], acting_user=coordinator)
    gone = conversation(mon)
    set_labels(conversation=gone, add=[lof], remove=[], acting_user=coordinator)
    set_labels(conversation=gone, add=[], remove=[lof], acting_user=coordinator)
    rollup()

    figures, weeks = label_figures(period(), scope=Scope())
    assert (figures[klacht.pk].conversations, figures[klacht.pk].answered) == (4, 3)
    # Read from the sketch's bins, as every percentile: within 0.5%.
    assert near(figures[klacht.pk].p50, 20 * 60) and near(figures[klacht.pk].p90, 60 * 60)
    assert figures[lof.pk].conversations == 1 and near(figures[lof.pk].p50, 20 * 60)
    assert weeks == {
        date(2026, 3, 2): {klacht.pk: 1},
        date(2026, 3, 9): {klacht.pk: 3, lof.pk: 1},
    }
    team = label_figures(period(), scope=Scope((team_a.pk,)))[0]
    assert set(team) == {klacht.pk} and team[klacht.pk].conversations == 2

    rows = labels_panel(period(), Scope()).rows
    assert [row[:3] for row in rows] == [["Klacht", 4, 3], ["Lof", 1, 1]]
    assert str(rows[0][3]) == "20 min"
    trend = label_trend_panel(period(), Scope())
    assert [str(c) for c in trend.columns] == ["Week of", "Klacht", "Lof"]
    assert [row[1:] for row in trend.rows] == [[1, 0], [3, 1]]


def test_public_private(staff_a):
    """The conversation's visibility decides, not its messages'; channel kinds add up channels."""
    start = NOW - timedelta(hours=4)
    wa_a, wa_b = ChannelFactory(kind="whatsapp"), ChannelFactory(kind="whatsapp")
    mention = conversation(start)  # public, on X
    MessageFactory(conversation=mention, created_at=start + timedelta(minutes=1), is_public=False)
    reply(mention, start + timedelta(minutes=10), by=staff_a)
    for minutes, channel in ((20, wa_a), (40, wa_b)):
        chat = conversation(start, channel=channel, is_public=False)
        reply(chat, start + timedelta(minutes=minutes), by=staff_a)
    rollup()
    assert stat(DurationMetric.FRT_CALENDAR, DimKind.VISIBILITY, "public").count == 1
    private = stat(DurationMetric.FRT_CALENDAR, DimKind.VISIBILITY, "private")
    assert private.count == 2 and near(private.p90, 2400)
    assert count("inbound", DimKind.VISIBILITY, "public") == 2
    rows = {row[0]: row for row in PANELS["channel_kind"](period(), Scope()).rows}
    assert sorted(rows) == ["WhatsApp", "X"]
    assert rows["WhatsApp"][1:4] == [2, 2, 2]  # conversations, messages in, answered


def test_every_definition_has_a_test(client, manager):
    client.force_login(manager)
    page = client.get(reverse("reports:definitions")).content.decode()
    names = {
        "inbound-volume": test_inbound_volume,
        "first-response": test_first_response,
        "business-time": test_business_time,
        "automations-excluded": test_automations_excluded,
        "credited-to-sender": test_credited_to_sender,
        "next-response": test_next_response,
        "resolution": test_resolution,
        "sla-compliance": test_sla_compliance,
        "replies-per-conversation": test_replies_per_conversation,
        "backlog": test_backlog,
        "percentiles": test_percentiles,
        "orphan-starts": test_orphan_starts,
        "periods": test_periods,
        "labels": test_labels,
        "public-private": test_public_private,
    }
    import re

    assert set(re.findall(r'<dt id="([a-z-]+)"', page)) == set(names)


def test_rebuild_rollups_counts_history_again(staff_a):
    from django.core.management import call_command

    from reports.models import CountRollup, DurationBin

    start = NOW - timedelta(hours=6)
    for minutes in (5, 50, 500):
        conv = conversation(start)
        reply(conv, start + timedelta(minutes=minutes), by=staff_a)
    # An orphan start whose parent arrives after the first count: the rebuild, which sees the
    # parent stored, must still leave the conversation out of the figures without orphans.
    orphan = ConversationFactory(received_at=start)
    MessageFactory(conversation=orphan, created_at=start, direction="in", parent_external_id="p1")
    reply(orphan, start + timedelta(minutes=70), by=staff_a)
    rollup()
    MessageFactory(conversation=orphan, created_at=start, direction="in", external_id="p1")
    rollup()

    def snapshot():
        return (
            sorted(
                CountRollup.objects.values_list(
                    "granularity", "start", "metric", "dim_kind", "dim", "value"
                )
            ),
            sorted(
                DurationBin.objects.values_list(
                    "granularity", "start", "metric", "dim_kind", "dim", "bin", "count"
                )
            ),
        )

    before = snapshot()
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        call_command("rebuild_rollups", stdout=None)
    assert snapshot() == before
    assert stat(DurationMetric.FRT_CALENDAR).count == 4
    assert stat(DurationMetric.FRT_CALENDAR, without_orphans=True).count == 3


def test_standard_periods_read_premerged_windows_with_the_same_figures(staff_a):
    from reports.models import RollupWatermark, WindowBin
    from reports.rollup.metrics import WINDOWS

    for day in range(0, 20):
        at = NOW - timedelta(days=day, hours=1)
        conv = conversation(at)
        reply(conv, at + timedelta(minutes=3 + 4 * day), by=staff_a)
    rollup()
    assert WindowBin.objects.filter(days=7, part=0).exists()

    def figures():
        out = {}
        for days in (7, 30):
            for p in (period(days), period(days).previous()):
                for kind in (DimKind.ALL, DimKind.AGENT):
                    out[(days, p.start, kind)] = duration_stats(
                        p, metrics=[DurationMetric.FRT_CALENDAR], dim_kind=kind
                    )
        return out

    with_windows = figures()
    RollupWatermark.objects.filter(name=WINDOWS).delete()  # stale: the live path
    assert figures() == with_windows
    assert (
        with_windows[(7, period(7).start, DimKind.ALL)][(DurationMetric.FRT_CALENDAR, "")].count
        == 7
    )

    # A late message for a past day marks the windows stale; the next run rebuilds them.
    rollup()
    late = conversation(NOW - timedelta(days=3, hours=5))
    reply(late, NOW - timedelta(days=3, hours=4), by=staff_a)
    rollup()
    assert stat(DurationMetric.FRT_CALENDAR).count == 8


def test_forgotten_rollups_are_counted_again_by_the_next_run(staff_a):
    """Rollups counted before the split hold no figures without orphans: reset_rollups forgets
    them, and the next run counts the history again, with the split."""
    from reports.models import CountRollup, DurationBin
    from reports.rollup.metrics import NO_ORPHANS
    from reports.rollup.run import reset_rollups

    start = NOW - timedelta(hours=6)
    conv = conversation(start)
    reply(conv, start + timedelta(minutes=5), by=staff_a)
    rollup()
    # As the rollups were before the split.
    CountRollup.objects.filter(metric__endswith=NO_ORPHANS).delete()
    DurationBin.objects.filter(metric__endswith=NO_ORPHANS).delete()
    assert stat(DurationMetric.FRT_CALENDAR, without_orphans=True) is None

    reset_rollups()
    rollup()
    assert stat(DurationMetric.FRT_CALENDAR).count == 1
    assert stat(DurationMetric.FRT_CALENDAR, without_orphans=True).count == 1
    assert count("inbound") == 1  # counted once, not on top of the old count
