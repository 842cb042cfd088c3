"""The dashboard on real data: twcs_head5000.csv (Customer Support on Twitter) replayed through ingest.

Each brand is its own channel and team; its tweets are our outbound replies. The dashboard's
per-team answered counts and median first-response times (calendar time), read from its CSV
export, must match a calculation made here from the CSV file itself, coded independently of the
replay reader and of the rollups (tests/realworld.py): of the tweets a live connector of each
brand would fetch, threads by union-find over in_response_to_tweet_id, and per thread the first
brand reply after the customer's first tweet. The same with the orphan filter: without the threads
whose first tweet answers a tweet the brand's connector does not have.
"""

import math
from collections import defaultdict
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from inbox.channels.replay import twcs_messages_by_brand
from inbox.models import Conversation, Direction, Message
from inbox.services.ingest import ingest_messages
from reports.rollup.run import run_rollups
from reports.sketch import RELATIVE_ERROR
from routing.models import Department
from tests.factories import ChannelFactory
from tests.realworld import live_rows, needs_twcs, read_rows, union_find_threads, when
from tests.reports.test_views import read_csv

pytestmark = [pytest.mark.slow, needs_twcs]


def expected_from_csv(*, without_orphans: bool = False) -> dict[str, list[float]]:
    """brand -> first-response seconds of each thread it answered, among the tweets a live
    connector of that brand would fetch (without_orphans: of the threads whose first tweet does
    not answer a tweet missing from what that connector fetches)."""
    kept = live_rows(read_rows())
    thread_of = union_find_threads([row for row, _brand in kept])
    fetched = {(brand, row["tweet_id"]): row for row, brand in kept}
    threads = defaultdict(list)
    for row, brand in kept:
        threads[thread_of[row["tweet_id"]]].append((when(row), int(row["tweet_id"]), row, brand))
    out: dict[str, list[float]] = defaultdict(list)
    for tweets in threads.values():
        tweets.sort(key=lambda t: (t[0], t[1]))
        brand = tweets[0][3]
        if without_orphans:
            # The thread's first tweet: the top of the earliest tweet's chain of answers (a parent
            # is always stored before its replies), whose own parent, if any, is not fetched.
            first = tweets[0][2]
            while (brand, first["in_response_to_tweet_id"]) in fetched:
                first = fetched[(brand, first["in_response_to_tweet_id"])]
            if first["in_response_to_tweet_id"]:
                continue
        customer = [t for t in tweets if t[2]["author_id"] != brand]
        if not customer:
            continue
        asked = customer[0][0]
        replies = [t for t in tweets if t[2]["author_id"] == brand and t[0] >= asked]
        if replies:
            out[brand].append((replies[0][0] - asked).total_seconds())
    return out


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def replay_and_read_team_csv(client, manager) -> tuple[list[str], dict[str, list[str]]]:
    """Replay the file (one channel and team per brand), roll up, and read the dashboard's
    per-team CSV export as a manager: (header, brand -> row)."""
    for brand, messages in twcs_messages_by_brand().items():
        channel = ChannelFactory(kind="simulator", name=brand, own_handles=[brand])
        ingest_messages(channel=channel, messages=messages)
        team = Department.objects.create(name=brand, slug=f"brand-{brand.lower()}"[:100])
        Conversation.objects.filter(channel=channel).update(department=team)
    run_rollups(now=timezone.now() + timedelta(minutes=1))
    client.force_login(manager)
    return read_team_csv(client)


def read_team_csv(client, **params) -> tuple[list[str], dict[str, list[str]]]:
    response = client.get(
        reverse("reports:panel", args=["department"]),
        {"from": "2011-01-01", "to": "2017-12-31", "format": "csv", **params},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    _notes, table = read_csv(response)
    header, rows = table[0], table[1:]
    return header, {row[0]: row for row in rows}


def assert_matches(header, got, expected: dict[str, list[float]]) -> None:
    """The export's answered count and median per team are those of expected."""
    answered = header.index("Answered")
    median = header.index("First response median (calendar) [s]")
    assert {b for b, v in expected.items() if v} == {b for b, r in got.items() if int(r[answered])}
    for brand, durations in expected.items():
        if not durations:
            continue
        row = got[brand]
        assert int(row[answered]) == len(durations), brand
        exact = nearest_rank(durations, 0.5)
        assert abs(int(row[median]) - exact) <= RELATIVE_ERROR * exact + 1, (brand, row, exact)


@pytest.mark.django_db
def test_dashboard_matches_the_csv(client, manager):
    expected = expected_from_csv()
    assert sum(len(v) for v in expected.values()) > 500  # the file really has answered threads
    header, got = replay_and_read_team_csv(client, manager)
    assert_matches(header, got, expected)

    without = expected_from_csv(without_orphans=True)
    # The file is a head cut and a connector fetches only what addresses its brand: some
    # answered threads start with a reply to a tweet that is not there.
    assert sum(map(len, without.values())) < sum(map(len, expected.values()))
    header, got = read_team_csv(client, orphans="exclude")
    assert_matches(header, got, without)


@pytest.mark.django_db
def test_no_p90_counts_a_thread_opened_by_a_tweet_that_does_not_address_the_brand(client, manager):
    """The replay once took tweets no live connector fetches as customer messages: a 2011
    booking template answered in 2017 gave AirAsiaSupport a p90 of 6.2 years, TMobileHelp's
    p90 became 1,250 minutes and SpotifyCares' 10,412."""
    expected = expected_from_csv()
    header, got = replay_and_read_team_csv(client, manager)
    p90 = header.index("First response p90 (calendar) [s]")
    broken_minutes = {
        "AirAsiaSupport": 6.2 * 365 * 24 * 60,
        "TMobileHelp": 1250,
        "SpotifyCares": 10412,
    }
    for brand, broken in broken_minutes.items():
        exact = nearest_rank(expected[brand], 0.9)
        assert abs(int(got[brand][p90]) - exact) <= RELATIVE_ERROR * exact + 1, (brand, exact)
        assert int(got[brand][p90]) < broken * 60 / 2, brand
        # Every conversation of the brand opens with a tweet that addresses it.
        for conversation in Conversation.objects.filter(channel__name=brand):
            first = conversation.messages.filter(direction=Direction.INBOUND).order_by(
                "created_at", "id"
            )[:1]
            for message in first:
                parent = Message.objects.filter(
                    channel=conversation.channel, external_id=message.parent_external_id
                ).first()
                answers_brand = parent is not None and parent.direction == Direction.OUTBOUND
                assert f"@{brand.lower()}" in message.text.lower() or answers_brand, message
