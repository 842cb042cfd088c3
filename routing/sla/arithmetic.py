"""Business-time arithmetic for SLA clocks. Pure: no ORM, no settings, no clock.

A calendar is a time zone plus opening windows per weekday (several per day for
split shifts), minus closed days (Dutch public holidays from the `holidays`
package and custom closures), or simply always open (24/7). A team may work on
some public holidays: by the holiday's name every year ("Good Friday") or on one
date; a custom closure still closes such a day.

DST-safety: windows are wall-clock times. Each day's windows are built in local
wall time for that date and only then converted to UTC, so a 09:00-17:00 window
is 8 real hours on every day, including the nights the clocks change, and a
shift crossing 02:00-03:00 on those nights is as long as it really is.

Pauses (waiting on the customer) are UTC intervals removed from business time.
"""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

# A calendar with no open time at all would make add_business_time loop forever.
MAX_SEARCH_DAYS = 3 * 366
MIDNIGHT = time(0)

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class CalendarSpec:
    """A business calendar as plain data (routing.sla.policies builds it from the models).

    windows: weekday (0 = Monday) -> sorted (start, end) wall times; an end of
    00:00 means midnight at the end of that day.
    """

    tz: str = "Europe/Amsterdam"
    is_24_7: bool = False
    windows: dict[int, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    use_dutch_holidays: bool = True
    closed_dates: frozenset[date] = frozenset()
    # Public holidays the team works on: by name (holidays.NL's English names, every year)...
    reopened_holidays: frozenset[str] = frozenset()
    # ... or on single dates.
    reopened_dates: frozenset[date] = frozenset()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def is_closed_day(self, day: date) -> bool:
        if day in self.closed_dates:
            return True
        if not self.use_dutch_holidays:
            return False
        names = dutch_holiday_names(day.year).get(day)
        if not names or day in self.reopened_dates:
            return False
        # Two holidays can fall on one date (Ascension and Liberation Day, 2005): open only
        # when the team works on both.
        return not self.reopened_holidays.issuperset(names)

    def has_open_time(self) -> bool:
        return self.is_24_7 or any(self.windows.get(d) for d in range(7))

    # Snapshot stored on each clock, so a later edit of the calendar does not move it.
    def to_json(self) -> dict:
        return {
            "tz": self.tz,
            "is_24_7": self.is_24_7,
            "use_dutch_holidays": self.use_dutch_holidays,
            "windows": {
                str(day): [[s.isoformat(), e.isoformat()] for s, e in spans]
                for day, spans in self.windows.items()
            },
            "closed_dates": sorted(d.isoformat() for d in self.closed_dates),
            "reopened_holidays": sorted(self.reopened_holidays),
            "reopened_dates": sorted(d.isoformat() for d in self.reopened_dates),
        }

    @classmethod
    def from_json(cls, data: dict) -> CalendarSpec:
        return cls(
            tz=data.get("tz", "Europe/Amsterdam"),
            is_24_7=bool(data.get("is_24_7")),
            use_dutch_holidays=bool(data.get("use_dutch_holidays", True)),
            windows={
                int(day): tuple((time.fromisoformat(s), time.fromisoformat(e)) for s, e in spans)
                for day, spans in (data.get("windows") or {}).items()
            },
            closed_dates=frozenset(date.fromisoformat(d) for d in data.get("closed_dates", [])),
            # Absent from snapshots taken before holidays could be reopened: none reopened.
            reopened_holidays=frozenset(data.get("reopened_holidays", [])),
            reopened_dates=frozenset(date.fromisoformat(d) for d in data.get("reopened_dates", [])),
        )


ALWAYS_OPEN = CalendarSpec(tz="UTC", is_24_7=True, use_dutch_holidays=False)


def office_hours(
    start: time = time(9), end: time = time(17), *, tz: str = "Europe/Amsterdam", **kwargs
) -> CalendarSpec:
    """Monday to Friday, one window a day: the common case (and handy in tests)."""
    return CalendarSpec(tz=tz, windows=dict.fromkeys(range(5), ((start, end),)), **kwargs)


# The language of the holiday names calendars store (stable whatever the process locale).
HOLIDAY_NAME_LANGUAGE = "en_US"


@functools.lru_cache(maxsize=64)
def dutch_holiday_names(
    year: int, language: str = HOLIDAY_NAME_LANGUAGE
) -> dict[date, tuple[str, ...]]:
    """Dutch public holidays of a year and their names (Koningsdag moves to the 26th when the
    27th is a Sunday; Liberation Day is a day off in lustrum years only)."""
    listed = holidays.NL(years=year, language=language)
    return {day: tuple(listed.get_list(day)) for day in sorted(listed)}


def dutch_holidays(year: int) -> frozenset[date]:
    """The dates of the Dutch public holidays of a year."""
    return frozenset(dutch_holiday_names(year))


def dutch_holiday_rules(years: Iterable[int], language: str) -> dict[str, str]:
    """The holidays a calendar can reopen every year: stored name -> its name in `language`
    (any language holidays.NL speaks: en_US, nl, ...), in calendar order of the first year
    each occurs (Liberation Day is a day off in lustrum years only)."""
    found: dict[str, tuple[tuple[int, int], str]] = {}
    for year in sorted(years):
        stored, shown = dutch_holiday_names(year), dutch_holiday_names(year, language)
        for day, names in stored.items():
            for name, label in zip(names, shown[day], strict=True):
                found.setdefault(name, ((day.month, day.day), label))
    return {name: label for name, (_key, label) in sorted(found.items(), key=lambda i: i[1][0])}


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _day_intervals(cal: CalendarSpec, day: date) -> list[Interval]:
    """The UTC intervals a calendar is open on one local date."""
    zone = cal.zone
    if cal.is_24_7:
        spans: Sequence[tuple[time, time]] = ((MIDNIGHT, MIDNIGHT),)
    else:
        if cal.is_closed_day(day):
            return []
        spans = cal.windows.get(day.weekday(), ())
    out = []
    for start, end in spans:
        lo = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
        end_day = day + timedelta(days=1) if end == MIDNIGHT else day
        hi = datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)
        if hi > lo:
            out.append((lo, hi))
    # Overlapping or touching windows count once.
    out.sort()
    merged: list[Interval] = []
    for lo, hi in out:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _subtract(intervals: Iterable[Interval], pauses: Sequence[Interval]) -> Iterator[Interval]:
    for lo, hi in intervals:
        pieces = [(lo, hi)]
        for p_lo, p_hi in pauses:
            nxt = []
            for a, b in pieces:
                if p_hi <= a or p_lo >= b:
                    nxt.append((a, b))
                    continue
                if a < p_lo:
                    nxt.append((a, p_lo))
                if p_hi < b:
                    nxt.append((p_hi, b))
            pieces = nxt
        yield from pieces


def open_intervals(
    cal: CalendarSpec, start: datetime, pauses: Sequence[Interval] = ()
) -> Iterator[Interval]:
    """Open business intervals (UTC) from `start` onwards, in order, pauses removed."""
    _require_aware(start, "start")
    if not cal.has_open_time():
        # No window on any weekday: say so now rather than after searching three years.
        raise ValueError("calendar has no open business time")
    start = start.astimezone(UTC)
    norm_pauses = sorted((a.astimezone(UTC), b.astimezone(UTC)) for a, b in pauses if b > a)
    # Start one local day early: a window ending after midnight belongs to the previous date.
    day = start.astimezone(cal.zone).date() - timedelta(days=1)
    empty_days = 0
    while empty_days <= MAX_SEARCH_DAYS:
        found = False
        for lo, hi in _subtract(_day_intervals(cal, day), norm_pauses):
            if hi <= start:
                continue
            found = True
            yield (max(lo, start), hi)
        empty_days = 0 if found else empty_days + 1
        day += timedelta(days=1)
    raise ValueError("calendar has no open business time")


def add_business_time(
    start: datetime,
    duration: timedelta,
    cal: CalendarSpec,
    pauses: Sequence[Interval] = (),
) -> datetime:
    """The moment `duration` of business time has passed after `start` (UTC-aware result).

    The result lies inside a business window (its end included): Friday 16:30
    plus 30 minutes in a 9-17 calendar is Friday 17:00, not Monday 09:00.
    """
    _require_aware(start, "start")
    if duration < timedelta(0):
        raise ValueError("duration must not be negative")
    if duration == timedelta(0):
        return start.astimezone(UTC)
    remaining = duration
    for lo, hi in open_intervals(cal, start, pauses):
        span = hi - lo
        if remaining <= span:
            return lo + remaining
        remaining -= span
    raise AssertionError("unreachable: open_intervals raises when it runs out")


def business_time_between(
    a: datetime, b: datetime, cal: CalendarSpec, pauses: Sequence[Interval] = ()
) -> timedelta:
    """Business time from a to b (zero when b is not after a)."""
    _require_aware(a, "a")
    _require_aware(b, "b")
    total = timedelta(0)
    if b <= a:
        return total
    for lo, hi in open_intervals(cal, a, pauses):
        if lo >= b:
            break
        total += min(hi, b) - lo
        if hi >= b:
            break
    return total


def is_open_at(cal: CalendarSpec, at: datetime) -> bool:
    """Is the calendar open at this moment? (The on-call rota takes over when it is not.)"""
    _require_aware(at, "at")
    at = at.astimezone(UTC)
    day = at.astimezone(cal.zone).date()
    for d in (day - timedelta(days=1), day):
        for lo, hi in _day_intervals(cal, d):
            if lo <= at < hi:
                return True
    return False


def warn_and_due(
    start: datetime,
    minutes: int,
    warn_percent: int,
    spec: CalendarSpec,
    pauses: Sequence[Interval],
    timeline: Timeline | None = None,
) -> tuple[datetime, datetime]:
    """When a clock of `minutes` business minutes started at `start` warns (at warn_percent of
    its target) and is due. A timeline of the same calendar answers faster (no pauses only)."""
    target = timedelta(minutes=minutes)
    warn_target = target * warn_percent / 100
    if spec.is_24_7 and not pauses:
        # Always open: business time is wall time (add_business_time agrees, DST included).
        # In UTC: aware arithmetic in a local zone would add wall time across a DST switch.
        start = start.astimezone(UTC)
        return start + warn_target, start + target
    if timeline is not None and not pauses and start >= timeline.origin:
        return timeline.add(start, warn_target), timeline.add(start, target)
    due = add_business_time(start, target, spec, pauses)
    warn = add_business_time(start, warn_target, spec, pauses)
    return warn, due


class Timeline:
    """One calendar's open intervals from `origin` on, pulled lazily, with running sums.

    add_business_time walks the calendar day by day for every clock; ingest
    starts thousands of clocks per batch in the same few calendars, so a batch
    walks each calendar once and answers every clock with two bisections. Same
    results as add_business_time without pauses (tests/routing/test_bulk_hooks.py).
    """

    def __init__(self, spec: CalendarSpec, origin: datetime) -> None:
        self.origin = origin
        self._intervals = open_intervals(spec, origin)
        self._los: list[datetime] = []
        self._his: list[datetime] = []
        self._cum: list[timedelta] = [timedelta(0)]  # open time before interval i

    def _pull(self) -> None:
        lo, hi = next(self._intervals)
        self._los.append(lo)
        self._his.append(hi)
        self._cum.append(self._cum[-1] + (hi - lo))

    def add(self, start: datetime, duration: timedelta) -> datetime:
        start = start.astimezone(UTC)
        if duration == timedelta(0):
            return start
        while not self._his or self._his[-1] <= start:
            self._pull()
        first = bisect_right(self._his, start)  # the first interval ending after start
        target = self._cum[first] + (max(self._los[first], start) - self._los[first]) + duration
        while self._cum[-1] < target:
            self._pull()
        # The first interval whose end reaches the target (its end included, as add_business_time).
        k = bisect_left(self._cum, target, lo=first + 1) - 1
        return self._los[k] + (target - self._cum[k])
