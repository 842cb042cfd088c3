"""Accumulators: everything a batch adds (counters, duration bins, keywords), written with one
upsert per table."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime

from django.utils import timezone

from reports import sketch
from reports.models import Granularity, RollupWatermark
from reports.periods import day_start, hour_start, local_zone
from reports.rollup.metrics import WINDOWS, stored_names
from webcare.db import insert_rows

_WORD = re.compile(r"(?<![@#\w/])([^\W\d_]{4,40})", re.UNICODE)
STOPWORDS = frozenset(
    [
        "this",
        "that",
        "with",
        "have",
        "from",
        "your",
        "what",
        "when",
        "will",
        "just",
        "they",
        "them",
        "their",
        "there",
        "been",
        "were",
        "about",
        "would",
        "could",
        "should",
        "than",
        "then",
        "into",
        "only",
        "also",
        "some",
        "more",
        "very",
        "here",
        "does",
        "dont",
        "cant",
        "please",
        "thanks",
        "thank",
        "help",
        "need",
        "still",
        "over",
        "after",
        "again",
        "being",
        "want",
        "know",
        "like",
        "much",
        "even",
        "because",
        "really",
        "today",
        "http",
        "https",
        "niet",
        "voor",
        "maar",
        "naar",
        "heeft",
        "hebben",
        "wordt",
        "worden",
        "zijn",
        "deze",
        "over",
        "door",
        "veel",
        "geen",
        "moet",
        "kunnen",
        "jullie",
        "mijn",
        "onze",
        "waar",
        "want",
        "weer",
        "welke",
        "wordt",
        "alleen",
        "graag",
        "bedankt",
    ]
)


# Real time-zone offsets, and the instants they change, fall on quarters of an hour: the
# instants of one 15-minute bucket (of UTC time) share their hour, local day and local month.
BUCKET = 900


class Batch:
    """Counters, duration bins and keywords of one batch.

    Counts are kept per (metric, period starts, dimensions) and spread over the single
    dimensions only on write: a batch has far fewer of those keys than messages.
    """

    def __init__(self) -> None:
        self._zone = local_zone()
        self._starts: dict[int, tuple[datetime, datetime, datetime]] = {}
        # Plain dicts with get(): a Counter calls __missing__ (Python) for every new key.
        self._counts: dict[tuple, int] = {}
        self._bins: dict[tuple, int] = {}
        self._words: defaultdict[tuple[date, str], Counter[str]] = defaultdict(Counter)

    def starts(self, at: datetime) -> tuple[datetime, datetime, datetime]:
        """The hour, local day and local month at falls in.

        Memoised per bucket (astimezone and replace cost more than the rest of a count), for
        UTC times only (what the database gives): the hour of another offset starts elsewhere.
        """
        if at.utcoffset():
            return self._starts_of(at)
        bucket = int(at.timestamp() // BUCKET)
        starts = self._starts.get(bucket)
        if starts is None:
            starts = self._starts_of(at)
            if self._uniform(bucket):
                self._starts[bucket] = starts
        return starts

    def _starts_of(self, at: datetime) -> tuple[datetime, datetime, datetime]:
        day = at.astimezone(self._zone).replace(hour=0, minute=0, second=0, microsecond=0)
        return hour_start(at), day, day.replace(day=1)

    def _uniform(self, bucket: int) -> bool:
        """Whether the local zone keeps one quarter-hour offset all through the bucket (not so
        in old local mean times): only then may the bucket share its starts."""
        first, last = (
            datetime.fromtimestamp(t, self._zone).utcoffset()
            for t in (bucket * BUCKET, (bucket + 1) * BUCKET - 1)
        )
        return first is not None and first == last and first.total_seconds() % BUCKET == 0

    def count(
        self,
        metric: str,
        at: datetime,
        dims: Iterable[tuple[str, str]],
        *,
        hourly=False,
        orphan: bool | None = None,
    ):
        """orphan: for a conversation figure, whether its conversation is an orphan start (when
        False, it is also counted without orphans); None for a figure of messages."""
        key = (metric, self.starts(at), tuple(dims), hourly, orphan is False)
        self._counts[key] = self._counts.get(key, 0) + 1

    def duration(
        self,
        metric: str,
        at: datetime,
        seconds: float,
        dims: Iterable[tuple[str, str]],
        *,
        orphan: bool | None = None,
    ):
        """orphan: as for count()."""
        b = sketch.bin_of(max(seconds, 0.0))
        key = (metric, self.starts(at), tuple(dims), b, orphan is False)
        self._bins[key] = self._bins.get(key, 0) + 1

    def keywords(self, at: datetime, dept: str, text: str) -> None:
        """The keywords of an inbound message, under its department (the total is summed on
        write)."""
        words = set(_WORD.findall(text.lower()))
        words.difference_update(STOPWORDS)
        self._words[(self.starts(at)[1].date(), dept)].update(words)

    def _rows(self) -> tuple[dict[tuple, int], dict[tuple, int], dict[tuple, int]]:
        """What to add per table (counts, bins, keywords), keyed like its unique constraint."""
        counts: dict[tuple, int] = {}
        get = counts.get
        for (metric, (hour, day, _month), dims, hourly, kept), n in self._counts.items():
            for name in stored_names(metric, kept):
                for kind, dim in dims:
                    key = (Granularity.DAY, day, name, kind, dim)
                    counts[key] = get(key, 0) + n
                    if hourly and name == metric:  # no hourly figure is read without orphans
                        key = (Granularity.HOUR, hour, name, kind, dim)
                        counts[key] = get(key, 0) + n
        bins: dict[tuple, int] = {}
        get = bins.get
        for (metric, (_hour, day, month), dims, b, kept), n in self._bins.items():
            for name in stored_names(metric, kept):
                for kind, dim in dims:
                    bin_key = (Granularity.DAY, day, name, kind, dim, b)
                    bins[bin_key] = get(bin_key, 0) + n
                    bin_key = (Granularity.MONTH, month, name, kind, dim, b)
                    bins[bin_key] = get(bin_key, 0) + n
        words: dict[tuple, int] = {}
        get = words.get
        for (day, dept), counter in self._words.items():
            for word, n in counter.items():
                words[(day, dept, word)] = n
                total_key = (day, "", word)  # the total: one row per word and day
                words[total_key] = get(total_key, 0) + n
        return counts, bins, words

    def write(self) -> None:
        counts, bins, words = self._rows()
        today = day_start(timezone.now())
        if any(g == Granularity.DAY and start < today for g, start, *_rest in (*bins, *counts)):
            # A late message changed a day the pre-merged windows already hold.
            RollupWatermark.objects.filter(name=WINDOWS).update(last_id=0)
        insert_rows(
            "reports_countrollup",
            COUNT_COLUMNS,
            [(*key, n) for key, n in counts.items()],
            "ON CONFLICT (dim_kind, granularity, metric, start, dim)"
            " DO UPDATE SET value = reports_countrollup.value + excluded.value",
        )
        insert_rows(
            "reports_durationbin",
            BIN_COLUMNS,
            [(*key, n) for key, n in bins.items()],
            "ON CONFLICT (dim_kind, granularity, start, metric, dim, bin)"
            " DO UPDATE SET count = reports_durationbin.count + excluded.count",
        )
        insert_rows(
            "reports_keywordcount",
            WORD_COLUMNS,
            [(*key, n) for key, n in words.items()],
            "ON CONFLICT (day, dim, word)"
            " DO UPDATE SET count = reports_keywordcount.count + excluded.count",
        )


# Column -> PostgreSQL type, for _insert's scratch tables.
COUNT_COLUMNS = {
    "granularity": "text",
    "start": "timestamptz",
    "metric": "text",
    "dim_kind": "text",
    "dim": "text",
    "value": "bigint",
}
BIN_COLUMNS = {
    "granularity": "text",
    "start": "timestamptz",
    "metric": "text",
    "dim_kind": "text",
    "dim": "text",
    "bin": "integer",
    "count": "bigint",
}
WORD_COLUMNS = {"day": "date", "dim": "text", "word": "text", "count": "bigint"}
