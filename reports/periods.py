"""Local days, hours and months, and the periods the dashboards show: shared by the rollups
(which file figures under them) and the selectors (which read them back)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from reports.models import Granularity

PERIOD_CHOICES = (7, 30, 90, 365)
DEFAULT_DAYS = 30


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def hour_start(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def day_start(at: datetime) -> datetime:
    """The local midnight that starts the day of `at`."""
    local = at.astimezone(local_zone())
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(at: datetime) -> datetime:
    return day_start(at).replace(day=1)


def midnight(day: date, zone: ZoneInfo | None = None) -> datetime:
    """The local midnight that starts `day` (zone: local_zone(), passed in by loops)."""
    return datetime(day.year, day.month, day.day, tzinfo=zone or local_zone())


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    start: datetime  # local midnight, inclusive
    end: datetime  # local midnight, exclusive
    days: int

    @classmethod
    def ending_today(cls, days: int, *, today: date | None = None) -> Period:
        today = today or timezone.localdate(timezone=local_zone())
        end_day = today + timedelta(days=1)
        start_day = end_day - timedelta(days=days)
        return cls(midnight(start_day), midnight(end_day), days)

    @classmethod
    def between(cls, first: date, last: date) -> Period:
        """Whole local days from first up to and including last."""
        end = last + timedelta(days=1)
        return cls(midnight(first), midnight(end), (end - first).days)

    def previous(self) -> Period:
        start_day = self.start.date() - timedelta(days=self.days)
        return Period(midnight(start_day), self.start, self.days)

    @property
    def last_day(self) -> date:
        return self.end.date() - timedelta(days=1)

    def day_list(self) -> list[date]:
        first = self.start.date()
        return [first + timedelta(days=i) for i in range(self.days)]

    def pieces(self) -> list[tuple[str, datetime, datetime]]:
        """(granularity, from, to) ranges covering the period: whole months, then loose days."""
        first, last = self.start.date(), self.end.date()  # last is exclusive
        month = first if first.day == 1 else next_month(first)
        months_end = month
        while next_month(months_end) <= last:
            months_end = next_month(months_end)
        if months_end <= month:
            return [(Granularity.DAY, self.start, self.end)]
        out: list[tuple[str, datetime, datetime]] = [
            (Granularity.MONTH, midnight(month), midnight(months_end))
        ]
        if first < month:
            out.append((Granularity.DAY, self.start, midnight(month)))
        if months_end < last:
            out.append((Granularity.DAY, midnight(months_end), self.end))
        return out
