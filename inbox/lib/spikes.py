"""Spike detection, pure: is the volume of the last window unusual against its own history?

The history is the same window of the day on previous days and weeks (a Monday 09:00 rush is
normal, the same volume at 03:00 is not). Robust statistics, because one earlier viral day must
not hide the next one: the median as baseline and the median absolute deviation (MAD) as spread.
Counts are small at night, where the MAD is often 0; a Poisson floor (sqrt of the baseline) keeps
a handful of extra messages from counting as a spike, and a minimum volume keeps 3-instead-of-0
from paging anyone.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOW = timedelta(minutes=15)
# The same window 1..7 days back, and 2..4 weeks back: ten observations of "normal".
HISTORY_OFFSETS = tuple(timedelta(days=d) for d in (1, 2, 3, 4, 5, 6, 7, 14, 21, 28))

# 1.4826 * MAD estimates the standard deviation of normally distributed counts.
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True, slots=True)
class SpikeDecision:
    is_spike: bool
    baseline: float  # median count of the window in the history
    threshold: float  # the count at which it becomes a spike


def decide(
    count: int,
    history: Sequence[int],
    *,
    k: float = 4.0,
    min_count: int = 20,
    min_ratio: float = 2.0,
) -> SpikeDecision:
    """Spike if `count` >= max(median + k * spread, min_ratio * median, min_count).

    spread = max(1.4826 * MAD, sqrt(median), 1): the robust deviation, floored by Poisson noise.
    """
    baseline = float(statistics.median(history)) if history else 0.0
    mad = float(statistics.median(abs(h - baseline) for h in history)) if history else 0.0
    spread = max(MAD_TO_SIGMA * mad, math.sqrt(baseline), 1.0)
    threshold = max(baseline + k * spread, min_ratio * baseline, float(min_count))
    return SpikeDecision(is_spike=count >= threshold, baseline=baseline, threshold=threshold)


def window_start(now: datetime) -> datetime:
    """The quarter hour `now` falls in: the key that makes one alert per window."""
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)


def windows(now: datetime) -> tuple[tuple[datetime, datetime], list[tuple[datetime, datetime]]]:
    """(current window, history windows): half-open (start, end] ranges ending at `now` and at
    the same time of day on the history days."""
    current = (now - WINDOW, now)
    return current, [(now - offset - WINDOW, now - offset) for offset in HISTORY_OFFSETS]
