"""twcs_head5000.csv read straight from the file, coded apart from inbox.channels.replay, so
tests can check the replay (and what is built on it) against an independent reading.

What a live connector for a brand would fetch: a customer tweet that mentions @brand or
answers one of brand's tweets, and brand's own tweets that answer someone. A thread (tweets
linked by in_response_to) belongs to the first brand that answered in it, else to the first
brand its opening tweet mentions.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from datetime import datetime

import pytest
from django.conf import settings

TWCS = settings.REALWORLD_DATA_DIR / "twcs_head5000.csv"
needs_twcs = pytest.mark.skipif(
    not TWCS.exists(), reason=f"real-world data set not found: {TWCS} (REALWORLD_DATA_DIR)"
)


def when(row: dict) -> datetime:
    return datetime.strptime(row["created_at"], "%a %b %d %H:%M:%S %z %Y")


def read_rows() -> list[dict]:
    with open(TWCS, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def union_find_threads(rows: list[dict]) -> dict[str, str]:
    """tweet id -> the id that names its thread. Replies to the same tweet share a thread even
    when that tweet is not in `rows` (ingest files them under the missing parent's id)."""
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
    return {row["tweet_id"]: find(row["tweet_id"]) for row in rows}


def thread_brands(rows: list[dict]) -> dict[str, str]:
    """tweet id -> the brand whose channel its thread belongs to (over the whole file)."""
    brands = {row["author_id"] for row in rows if row["inbound"] == "False"}
    thread_of = union_find_threads(rows)
    members = defaultdict(list)
    for row in rows:
        members[thread_of[row["tweet_id"]]].append(row)
    out = {}
    for root, tweets in members.items():
        answers = sorted(
            (r for r in tweets if r["inbound"] == "False"),
            key=lambda r: (when(r), int(r["tweet_id"])),
        )
        if answers:
            brand = answers[0]["author_id"]
        else:
            opening = next(r for r in tweets if r["tweet_id"] == root)
            named = [m for m in re.findall(r"@(\w+)", opening["text"]) if m in brands]
            brand = named[0] if named else "unknown"
        for r in tweets:
            out[r["tweet_id"]] = brand
    return out


def live_rows(rows: list[dict]) -> list[tuple[dict, str]]:
    """(row, brand) for the rows a live connector of the thread's brand would fetch."""
    brand_of = thread_brands(rows)
    author = {row["tweet_id"]: row["author_id"] for row in rows}
    kept = []
    for row in rows:
        brand = brand_of[row["tweet_id"]]
        if row["author_id"] == brand:
            keep = bool(row["in_response_to_tweet_id"])
        else:
            mentioned = any(m.lower() == brand.lower() for m in re.findall(r"@(\w+)", row["text"]))
            keep = mentioned or author.get(row["in_response_to_tweet_id"]) == brand
        if keep:
            kept.append((row, brand))
    return kept
