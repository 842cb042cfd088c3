"""Business-time arithmetic (routing.sla.arithmetic): pure, no database."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.sla.arithmetic import (
    CalendarSpec,
    add_business_time,
    business_time_between,
    is_open_at,
    office_hours,
    open_intervals,
)

AMS = ZoneInfo("Europe/Amsterdam")


def ams(*args) -> datetime:
    return datetime(*args, tzinfo=AMS)


def local(dt: datetime) -> datetime:
    return dt.astimezone(AMS)


OFFICE = office_hours()  # Mon-Fri 09:00-17:00, Dutch holidays
MIN = timedelta(minutes=1)


def test_friday_afternoon_rolls_over_the_weekend_to_monday_0915():
    due = add_business_time(ams(2026, 3, 13, 16, 45), 30 * MIN, OFFICE)
    assert local(due) == ams(2026, 3, 16, 9, 15)


def test_inside_a_window_it_is_plain_addition():
    assert local(add_business_time(ams(2026, 3, 11, 10, 0), 30 * MIN, OFFICE)) == ams(
        2026, 3, 11, 10, 30
    )


def test_ending_exactly_at_closing_time_stays_that_day():
    assert local(add_business_time(ams(2026, 3, 13, 16, 30), 30 * MIN, OFFICE)) == ams(
        2026, 3, 13, 17, 0
    )


def test_saturday_mention_starts_counting_on_monday():
    assert local(add_business_time(ams(2026, 3, 14, 11, 0), 60 * MIN, OFFICE)) == ams(
        2026, 3, 16, 10, 0
    )


def test_before_opening_counts_from_opening():
    assert local(add_business_time(ams(2026, 3, 11, 6, 0), 60 * MIN, OFFICE)) == ams(
        2026, 3, 11, 10, 0
    )


def test_koningsdag_is_closed():
    # 27 April 2026 is a Monday: Friday 16:45 + 30 min skips the weekend and Koningsdag.
    due = add_business_time(ams(2026, 4, 24, 16, 45), 30 * MIN, OFFICE)
    assert local(due) == ams(2026, 4, 28, 9, 15)


def test_koningsdag_moves_to_the_26th_when_the_27th_is_a_sunday():
    # 2025: 27 April is a Sunday, Koningsdag is Saturday 26th; with a 7-day calendar
    # the 26th is closed and Sunday the 27th is open.
    every_day = CalendarSpec(windows=dict.fromkeys(range(7), ((time(9), time(17)),)))
    due = add_business_time(ams(2025, 4, 25, 16, 45), 30 * MIN, every_day)
    assert local(due) == ams(2025, 4, 27, 9, 15)


def test_christmas_and_boxing_day_are_closed():
    # Thursday 24 Dec 2026 16:45 -> Christmas (Fri) and Boxing Day (Sat) and Sunday closed.
    due = add_business_time(ams(2026, 12, 24, 16, 45), 30 * MIN, OFFICE)
    assert local(due) == ams(2026, 12, 28, 9, 15)


def test_holidays_can_be_switched_off():
    cal = office_hours(use_dutch_holidays=False)
    due = add_business_time(ams(2026, 12, 24, 16, 45), 30 * MIN, cal)
    assert local(due) == ams(2026, 12, 25, 9, 15)


def test_custom_closures():
    cal = office_hours(closed_dates=frozenset({date(2026, 3, 16), date(2026, 3, 17)}))
    due = add_business_time(ams(2026, 3, 13, 16, 45), 30 * MIN, cal)
    assert local(due) == ams(2026, 3, 18, 9, 15)


def test_split_shifts():
    split = CalendarSpec(
        windows=dict.fromkeys(range(5), ((time(8), time(12)), (time(13), time(17))))
    )
    # 11:30 + 60 min: 30 before lunch, 30 after.
    assert local(add_business_time(ams(2026, 3, 11, 11, 30), 60 * MIN, split)) == ams(
        2026, 3, 11, 13, 30
    )
    # Lunchtime does not count.
    assert business_time_between(ams(2026, 3, 11, 11, 0), ams(2026, 3, 11, 14, 0), split) == (
        120 * MIN
    )


def test_windows_until_midnight_and_overnight():
    late = CalendarSpec(windows=dict.fromkeys(range(7), ((time(18), time(0)),)))
    assert local(add_business_time(ams(2026, 3, 11, 23, 30), 60 * MIN, late)) == ams(
        2026, 3, 12, 18, 30
    )


def test_dst_spring_forward_night_in_march():
    # 29 March 2026 02:00 -> 03:00. A 24/7 calendar: 00:00 local + 3 hours is 04:00 local.
    always = CalendarSpec(is_24_7=True)
    due = add_business_time(ams(2026, 3, 29, 0, 0), timedelta(hours=3), always)
    assert local(due) == ams(2026, 3, 29, 4, 0)
    # A night shift 00:00-06:00 on that night is 5 real hours.
    night = CalendarSpec(windows={6: ((time(0), time(6)),)}, use_dutch_holidays=False)
    assert business_time_between(
        ams(2026, 3, 29, 0, 0), ams(2026, 3, 29, 6, 0), night
    ) == timedelta(hours=5)
    # Office hours on the Monday after the switch are still 09:00-17:00 local.
    due = add_business_time(ams(2026, 3, 27, 16, 45), 30 * MIN, OFFICE)
    assert local(due) == ams(2026, 3, 30, 9, 15)
    assert due.astimezone(UTC) == datetime(2026, 3, 30, 7, 15, tzinfo=UTC)


def test_dst_fall_back_night_in_october():
    # 25 October 2026 03:00 -> 02:00: that night has 25 hours.
    night = CalendarSpec(windows={6: ((time(0), time(6)),)}, use_dutch_holidays=False)
    assert business_time_between(
        ams(2026, 10, 25, 0, 0), ams(2026, 10, 25, 6, 0), night
    ) == timedelta(hours=7)
    always = CalendarSpec(is_24_7=True)
    due = add_business_time(ams(2026, 10, 25, 0, 0), timedelta(hours=4), always)
    assert local(due) == ams(2026, 10, 25, 3, 0)
    due = add_business_time(ams(2026, 10, 23, 16, 45), 30 * MIN, OFFICE)
    assert due.astimezone(UTC) == datetime(2026, 10, 26, 8, 15, tzinfo=UTC)  # 09:15 CET


def test_pauses_are_excluded():
    start = ams(2026, 3, 11, 10, 0)
    pauses = [(ams(2026, 3, 11, 10, 15), ams(2026, 3, 11, 11, 15))]
    assert local(add_business_time(start, 30 * MIN, OFFICE, pauses)) == ams(2026, 3, 11, 11, 30)
    assert business_time_between(start, ams(2026, 3, 11, 12, 0), OFFICE, pauses) == 60 * MIN


def test_pause_over_the_weekend_costs_nothing_extra():
    pauses = [(ams(2026, 3, 13, 16, 50), ams(2026, 3, 16, 9, 5))]
    due = add_business_time(ams(2026, 3, 13, 16, 45), 30 * MIN, OFFICE, pauses)
    assert local(due) == ams(2026, 3, 16, 9, 30)


def test_24_7_ignores_holidays_and_weekends():
    always = CalendarSpec(is_24_7=True)
    assert local(add_business_time(ams(2026, 12, 25, 23, 50), 30 * MIN, always)) == ams(
        2026, 12, 26, 0, 20
    )


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        add_business_time(datetime(2026, 3, 11, 10), MIN, OFFICE)  # noqa: DTZ001


def test_a_calendar_without_hours_does_not_loop_forever():
    with pytest.raises(ValueError):
        add_business_time(ams(2026, 3, 11, 10), MIN, CalendarSpec(windows={}))


def test_is_open_at():
    assert is_open_at(OFFICE, ams(2026, 3, 11, 10))
    assert not is_open_at(OFFICE, ams(2026, 3, 11, 17))
    assert not is_open_at(OFFICE, ams(2026, 3, 14, 10))
    assert not is_open_at(OFFICE, ams(2026, 4, 27, 10))


# --- Holidays a team works on ----------------------------------------------------------------

THURSDAY_BEFORE_EASTER = ams(2026, 4, 2, 16, 45)  # Good Friday is 3 April 2026


def test_good_friday_is_closed_unless_the_team_works_on_it():
    # Closed Friday, the weekend and Easter Monday: due on Tuesday.
    assert add_business_time(THURSDAY_BEFORE_EASTER, 30 * MIN, OFFICE) == ams(2026, 4, 7, 9, 15)
    every_year = office_hours(reopened_holidays=frozenset({"Good Friday"}))
    assert add_business_time(THURSDAY_BEFORE_EASTER, 30 * MIN, every_year) == ams(2026, 4, 3, 9, 15)
    once = office_hours(reopened_dates=frozenset({date(2026, 4, 3)}))
    assert add_business_time(THURSDAY_BEFORE_EASTER, 30 * MIN, once) == ams(2026, 4, 3, 9, 15)
    # A date reopens that date only: Good Friday 2027 stays closed.
    assert once.is_closed_day(date(2027, 3, 26)) and not every_year.is_closed_day(date(2027, 3, 26))
    # Easter Monday is another holiday: still closed.
    assert every_year.is_closed_day(date(2026, 4, 6))


def test_liberation_day_is_closed_in_lustrum_years_and_can_be_reopened():
    assert OFFICE.is_closed_day(date(2025, 5, 5))
    assert not OFFICE.is_closed_day(date(2026, 5, 5))  # not a lustrum year: a working day
    works = office_hours(reopened_holidays=frozenset({"Liberation Day"}))
    assert not works.is_closed_day(date(2025, 5, 5))
    assert is_open_at(works, ams(2025, 5, 5, 10))


def test_two_holidays_on_one_date_need_both_reopened():
    # 5 May 2005: Ascension Day and Liberation Day (a lustrum year).
    liberation = office_hours(reopened_holidays=frozenset({"Liberation Day"}))
    assert liberation.is_closed_day(date(2005, 5, 5))
    both = office_hours(reopened_holidays=frozenset({"Liberation Day", "Ascension Day"}))
    assert not both.is_closed_day(date(2005, 5, 5))


def test_a_closure_still_closes_a_reopened_holiday():
    cal = office_hours(
        reopened_holidays=frozenset({"Good Friday"}), closed_dates=frozenset({date(2026, 4, 3)})
    )
    assert cal.is_closed_day(date(2026, 4, 3))


def test_reopening_means_nothing_when_holidays_do_not_close_the_calendar():
    cal = office_hours(use_dutch_holidays=False, reopened_holidays=frozenset({"Good Friday"}))
    assert not cal.is_closed_day(date(2026, 4, 3)) and not cal.is_closed_day(date(2026, 4, 6))


def test_a_snapshot_from_before_reopened_holidays_reads_as_none_reopened():
    old = {
        "tz": "Europe/Amsterdam",
        "is_24_7": False,
        "use_dutch_holidays": True,
        "windows": {"4": [["09:00:00", "17:00:00"]]},
        "closed_dates": [],
    }
    spec = CalendarSpec.from_json(old)
    assert spec.reopened_holidays == frozenset() and spec.reopened_dates == frozenset()
    assert spec.is_closed_day(date(2026, 4, 3))


def test_spec_survives_a_json_round_trip():
    spec = CalendarSpec(
        tz="Europe/Amsterdam",
        windows={0: ((time(8), time(12)), (time(13), time(0)))},
        closed_dates=frozenset({date(2026, 5, 1)}),
        reopened_holidays=frozenset({"Good Friday", "Liberation Day"}),
        reopened_dates=frozenset({date(2026, 12, 26)}),
    )
    assert CalendarSpec.from_json(spec.to_json()) == spec


# --- Properties --------------------------------------------------------------

CALENDARS = st.sampled_from(
    [
        OFFICE,
        CalendarSpec(windows=dict.fromkeys(range(5), ((time(8), time(12)), (time(13), time(17))))),
        CalendarSpec(windows=dict.fromkeys(range(7), ((time(0), time(6)), (time(22), time(0))))),
        CalendarSpec(is_24_7=True),
        CalendarSpec(
            tz="America/New_York", windows=dict.fromkeys(range(6), ((time(7), time(19)),))
        ),
    ]
)
STARTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
DURATIONS = st.integers(min_value=1, max_value=60 * 24 * 10).map(lambda m: m * MIN)


@settings(max_examples=150, deadline=None)
@given(cal=CALENDARS, start=STARTS, duration=DURATIONS)
def test_adding_then_measuring_gives_the_same_duration(cal, start, duration):
    due = add_business_time(start, duration, cal)
    assert business_time_between(start, due, cal) == duration


@settings(max_examples=150, deadline=None)
@given(cal=CALENDARS, start=STARTS, duration=DURATIONS)
def test_a_due_time_never_falls_outside_a_business_window(cal, start, duration):
    due = add_business_time(start, duration, cal)
    # Some open interval (lo, hi] contains the due time.
    lo_search = due - timedelta(days=2)
    assert any(
        lo < due <= hi for lo, hi in _intervals_until(cal, lo_search, due + timedelta(seconds=1))
    )


def _intervals_until(cal, start, end):
    for lo, hi in open_intervals(cal, start):
        if lo >= end:
            return
        yield lo, hi
