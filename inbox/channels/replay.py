"""Replay real customer-care threads (twcs_head5000.csv, "Customer Support on Twitter").

Reads the CSV into IncomingMessages grouped by brand, one channel per brand:
customer tweets are inbound, the brand's own tweets are is_own (the brand
account posted them outside the app), and in_response_to_tweet_id becomes
parent_external_id so ingest rebuilds the threads. Times are kept, or shifted
and compressed so a replay can stream a day of traffic in minutes.

A brand's channel gets only what a live connector for that brand would fetch
(addresses_brand): customer tweets that mention the brand or reply to one of
its tweets, and the brand's own replies. The file also holds tweets that do
neither (marketing templates, other people's tweets in a thread); replayed as
customer messages they would start clocks no real inbox ever starts.

Like every connector this module never touches the ORM.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings

from inbox.channels.base import IncomingMessage

TWCS_FILE = "twcs_head5000.csv"
UNKNOWN_BRAND = "unknown"
_MENTION = re.compile(r"@(\w+)")


@dataclass(frozen=True, slots=True)
class Tweet:
    tweet_id: str
    author_id: str
    inbound: bool
    created_at: datetime
    text: str
    in_response_to: str


def twcs_path() -> Path:
    return Path(settings.REALWORLD_DATA_DIR) / TWCS_FILE


def read_twcs(path: Path | None = None) -> list[Tweet]:
    """The rows of the file as Tweets, in file order."""
    with open(path or twcs_path(), encoding="utf-8", newline="") as handle:
        return [
            Tweet(
                tweet_id=row["tweet_id"],
                author_id=row["author_id"],
                inbound=row["inbound"] == "True",
                created_at=datetime.strptime(row["created_at"], "%a %b %d %H:%M:%S %z %Y"),
                text=row["text"],
                in_response_to=row["in_response_to_tweet_id"] or "",
            )
            for row in csv.DictReader(handle)
        ]


def brand_of_threads(tweets: Iterable[Tweet]) -> dict[str, str]:
    """tweet id -> the brand whose channel its thread belongs to.

    A thread (tweets linked by replies within the file) belongs to the first
    brand that answered in it; a thread no brand answered belongs to the first
    brand its opening tweet mentions.
    """
    tweets = list(tweets)
    by_id = {t.tweet_id: t for t in tweets}
    brands = {t.author_id for t in tweets if not t.inbound}

    def root(tweet: Tweet) -> str:
        seen = set()
        while tweet.in_response_to in by_id and tweet.tweet_id not in seen:
            seen.add(tweet.tweet_id)
            tweet = by_id[tweet.in_response_to]
        return tweet.tweet_id

    threads: dict[str, list[Tweet]] = defaultdict(list)
    for tweet in tweets:
        threads[root(tweet)].append(tweet)
    out: dict[str, str] = {}
    for root_id, members in threads.items():
        answered = sorted((t for t in members if not t.inbound), key=lambda t: t.created_at)
        if answered:
            brand = answered[0].author_id
        else:
            mentioned = [m for m in _MENTION.findall(by_id[root_id].text) if m in brands]
            brand = mentioned[0] if mentioned else UNKNOWN_BRAND
        for tweet in members:
            out[tweet.tweet_id] = brand
    return out


def addresses_brand(tweet: Tweet, brand: str, by_id: dict[str, Tweet]) -> bool:
    """Whether a live connector for brand's account would fetch this tweet: a customer tweet
    that mentions @brand or replies to one of brand's tweets, or brand's own reply."""
    parent = by_id.get(tweet.in_response_to)
    if tweet.author_id == brand:
        return bool(tweet.in_response_to)  # its posts that answer nobody start nothing
    if parent is not None and parent.author_id == brand:
        return True
    return brand.casefold() in {m.casefold() for m in _MENTION.findall(tweet.text)}


def twcs_messages_by_brand(
    path: Path | None = None,
    *,
    start: datetime | None = None,
    compress: float = 1.0,
) -> dict[str, list[IncomingMessage]]:
    """IncomingMessages per brand (one channel each), oldest first.

    start: move the earliest tweet to this moment (keeps gaps); compress > 1
    divides every gap by that factor (a week of traffic in an hour: 168).
    """
    tweets = read_twcs(path)
    brands = brand_of_threads(tweets)
    by_id = {t.tweet_id: t for t in tweets}
    tweets = [t for t in tweets if addresses_brand(t, brands[t.tweet_id], by_id)]
    first = min(t.created_at for t in tweets)
    anchor = start or first

    def when(t: datetime) -> datetime:
        return anchor + (t - first) / compress if (start or compress != 1.0) else t

    grouped: dict[str, list[IncomingMessage]] = defaultdict(list)
    for t in sorted(tweets, key=lambda t: (t.created_at, int(t.tweet_id))):
        brand = brands[t.tweet_id]
        grouped[brand].append(
            IncomingMessage(
                external_id=t.tweet_id,
                text=t.text,
                created_at=when(t.created_at),
                author_id=t.author_id,
                author_handle=t.author_id,
                author_profile_url=f"https://x.com/{t.author_id}",
                parent_external_id=t.in_response_to,
                url=f"https://x.com/{t.author_id}/status/{t.tweet_id}",
                is_own=t.author_id == brand,
                raw={
                    "tweet_id": t.tweet_id,
                    "author_id": t.author_id,
                    "inbound": t.inbound,
                    "created_at": t.created_at.isoformat(),
                    "in_response_to_tweet_id": t.in_response_to,
                },
            )
        )
    return dict(grouped)


def replay_gap(messages: list[IncomingMessage]) -> timedelta:
    """Time from the first to the last message (what a replay will take)."""
    if not messages:
        return timedelta(0)
    return messages[-1].created_at - messages[0].created_at
