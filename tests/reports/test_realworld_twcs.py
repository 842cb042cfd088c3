"""The dashboard on real data: twcs_head5000.csv (Customer Support on Twitter) replayed through ingest.

Each brand is its own channel and team; its tweets are our outbound replies. The dashboard's
per-team answered counts and median first-response times (calendar time), read from its CSV
export, must match a calculation made here from the CSV file itself, coded independently of the
replay reader and of the rollups: threads by union-find over in_response_to_tweet_id, and per
thread the first brand reply after the customer's first tweet. The same with the orphan filter:
without the threads whose first tweet replies to a tweet the file does not have.
"""

import csv
import math
from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from inbox.channels.replay import twcs_messages_by_brand
from inbox.models import Conversation
from inbox.services.ingest import ingest_messages
from reports.rollup import run_rollups
from reports.sketch import RELATIVE_ERROR
from routing.models import Department
from tests.factories import ChannelFactory
from tests.reports.test_views import read_csv

TWCS = settings.REALWORLD_DATA_DIR / "twcs_head5000.csv"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not TWCS.exists(), reason=f"real-world data set not found: {TWCS} (REALWORLD_DATA_DIR)"
    ),
]


def expected_from_csv(*, without_orphans: bool = False) -> dict[str, list[float]]:
    """brand -> first-response seconds of each thread it answered (without_orphans: of the threads
    whose first tweet is not a reply to a tweet missing from the file)."""
    with open(TWCS, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for row in rows:
        find(row["tweet_id"])
        if row["in_response_to_tweet_id"]:
            parent[find(row["tweet_id"])] = find(row["in_response_to_tweet_id"])
    threads = defaultdict(list)
    for row in rows:
        when = datetime.strptime(row["created_at"], "%a %b %d %H:%M:%S %z %Y")
        threads[find(row["tweet_id"])].append((when, int(row["tweet_id"]), row))
    out: dict[str, list[float]] = defaultdict(list)
    ids = {row["tweet_id"] for row in rows}
    for tweets in threads.values():
        # A thread is a tree: its first tweet is the one whose parent is not in it.
        root = next(t[2] for t in tweets if t[2]["in_response_to_tweet_id"] not in ids)
        if without_orphans and root["in_response_to_tweet_id"]:
            continue
        tweets.sort(key=lambda t: (t[0], t[1]))
        customer = [t for t in tweets if t[2]["inbound"] == "True"]
        if not customer:
            continue
        asked = customer[0][0]
        replies = [t for t in tweets if t[2]["inbound"] == "False" and t[0] >= asked]
        if replies:
            out[replies[0][2]["author_id"]].append((replies[0][0] - asked).total_seconds())
    return out


def nearest_rank_median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) / 2)) - 1]


@pytest.mark.django_db
def test_dashboard_matches_the_csv(client, manager):
    expected = expected_from_csv()
    assert sum(len(v) for v in expected.values()) > 500  # the file really has answered threads

    for brand, messages in twcs_messages_by_brand().items():
        channel = ChannelFactory(kind="simulator", name=brand, own_handles=[brand])
        ingest_messages(channel=channel, messages=messages)
        team = Department.objects.create(name=brand, slug=f"brand-{brand.lower()}"[:100])
        Conversation.objects.filter(channel=channel).update(department=team)
    run_rollups(now=timezone.now() + timedelta(minutes=1))

    client.force_login(manager)
    url = reverse("reports:panel", args=["department"])
    params = {"from": "2011-01-01", "to": "2017-12-31", "format": "csv"}
    check(client.get(url, params, HTTP_ACCEPT_LANGUAGE="en"), expected)

    without = expected_from_csv(without_orphans=True)
    left_out = sum(map(len, expected.values())) - sum(map(len, without.values()))
    assert left_out > 0  # the file's head cut leaves answered threads without their first tweet
    response = client.get(url, {**params, "orphans": "exclude"}, HTTP_ACCEPT_LANGUAGE="en")
    check(response, without)


def check(response, expected: dict[str, list[float]]) -> None:
    """The export's answered counts and medians per team are those of expected."""
    assert response.status_code == 200
    _notes, table = read_csv(response)
    header, rows = table[0], table[1:]
    answered = header.index("Answered")
    median = header.index("First response median (calendar) [s]")
    got = {row[0]: row for row in rows}

    assert {b for b, v in expected.items() if v} == {b for b, r in got.items() if int(r[answered])}
    for brand, durations in expected.items():
        if not durations and brand not in got:
            continue
        row = got[brand]
        assert int(row[answered]) == len(durations), brand
        if durations:
            exact = nearest_rank_median(durations)
            assert abs(int(row[median]) - exact) <= RELATIVE_ERROR * exact + 1, (brand, row, exact)
