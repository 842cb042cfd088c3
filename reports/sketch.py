"""Mergeable duration histograms with a guaranteed relative error (the DDSketch idea).

A duration d > 0 seconds falls in bin ceil(log(d) / log(GAMMA)); every value in a bin lies within
RELATIVE_ERROR of the bin's representative value, so a percentile read from merged bins is within
RELATIVE_ERROR of the exact percentile (nearest-rank). Bins are plain integers, so rollup rows can
store (bin, count) and any range of hours or days merges with a SUM ... GROUP BY bin.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

RELATIVE_ERROR = 0.005  # half of the 1% the dashboards promise
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(GAMMA)
ZERO_BIN = -(10**6)  # durations of (almost) nothing: 0 <= d < MIN_SECONDS
MIN_SECONDS = 0.5


def bin_of(seconds: float) -> int:
    if seconds < MIN_SECONDS:
        return ZERO_BIN
    return math.ceil(math.log(seconds) / _LOG_GAMMA)


def value_of(bin_index: int) -> float:
    """The representative value of a bin: within RELATIVE_ERROR of every value in it."""
    if bin_index == ZERO_BIN:
        return 0.0
    return 2 * GAMMA**bin_index / (GAMMA + 1)


def histogram(durations: Iterable[float]) -> Counter[int]:
    return Counter(bin_of(d) for d in durations)


def percentile(bins: Mapping[int, int], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of merged bins; None when empty."""
    total = sum(bins.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q / 100 * total))
    seen = 0
    for bin_index in sorted(bins):
        seen += bins[bin_index]
        if seen >= rank:
            return value_of(bin_index)
    return value_of(max(bins))


def exact_percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile of raw values: the definition the sketch approximates."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
