"""Consult deadlines at their limits: the facility's date (not the UTC date) starts the count,
and a deadline is met up to and including its exact instant."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from webrtc.deadlines import add_business_days, breached, decision_due, end_of_day, is_business_day, sign_due

TZ = ZoneInfo("Asia/Shanghai")
# 00:30 on Monday 23 November 2026 in the facility is still Sunday 16:30 in UTC.
MONDAY_0030 = datetime(2026, 11, 23, 0, 30, tzinfo=TZ)
EARLY_UTC = MONDAY_0030.astimezone(timezone.utc)


def test_a_request_at_0030_counts_from_the_facility_date():
    assert EARLY_UTC.date() == date(2026, 11, 22)  # the trap: the UTC date is the Sunday
    assert decision_due(EARLY_UTC, "emergency", TZ) == datetime(2026, 11, 24, tzinfo=TZ)  # end of Monday
    assert decision_due(EARLY_UTC, "urgent", TZ) == datetime(2026, 11, 25, tzinfo=TZ)  # end of Tuesday
    assert decision_due(EARLY_UTC, "routine", TZ) == datetime(2026, 12, 1, tzinfo=TZ)  # end of next Monday


def test_a_call_at_0030_counts_from_the_facility_date():
    assert sign_due(EARLY_UTC, TZ) == datetime(2026, 11, 27, tzinfo=TZ)  # end of Thursday


def test_a_request_just_before_midnight_stays_on_its_day():
    late = datetime(2026, 11, 23, 23, 59, 59, tzinfo=TZ).astimezone(timezone.utc)
    assert decision_due(late, "emergency", TZ) == datetime(2026, 11, 24, tzinfo=TZ)


@pytest.mark.parametrize("urgency, days", [("emergency", 0), ("urgent", 1), ("routine", 5)])
def test_a_request_on_a_holiday_counts_from_the_next_business_day(urgency, days):
    national_day = datetime(2026, 10, 2, 9, 0, tzinfo=TZ)  # inside the 1-7 October holiday
    due = decision_due(national_day, urgency, TZ)
    assert due == end_of_day(add_business_days(date(2026, 10, 2), days), TZ)
    if days:
        assert due.date() > date(2026, 10, 8)


def test_the_deadline_instant_itself_is_in_time():
    due = datetime(2026, 11, 24, tzinfo=TZ)
    assert not breached(due, due, due + timedelta(days=2))  # done exactly at the deadline
    assert not breached(due, None, due)  # still open, and it is exactly the deadline now
    assert breached(due, None, due + timedelta(microseconds=1))
    assert breached(due, due + timedelta(microseconds=1), due)


def test_done_in_time_is_not_late_however_late_it_is_now():
    due = datetime(2026, 11, 24, tzinfo=TZ)
    assert not breached(due, due - timedelta(microseconds=1), due + timedelta(days=30))


def test_no_deadline_is_never_late():
    assert breached(None, None, datetime(2030, 1, 1, tzinfo=TZ)) is False


def test_zero_business_days_is_the_same_day_even_on_a_holiday():
    assert add_business_days(date(2026, 10, 3), 0) == date(2026, 10, 3)
    assert add_business_days(date(2026, 11, 20), 1) == date(2026, 11, 23)  # Friday -> Monday
    assert add_business_days(date(2026, 11, 23), 2) == date(2026, 11, 25)


def test_end_of_day_is_the_next_local_midnight():
    assert end_of_day(date(2026, 11, 23), TZ) == datetime(2026, 11, 24, 0, 0, tzinfo=TZ)
    assert end_of_day(date(2026, 11, 23), TZ).utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize("day, working", [
    (date(2026, 12, 31), True), (date(2027, 1, 1), False),  # a year boundary: the next year's calendar
    (date(2025, 12, 31), True), (date(2026, 1, 1), False),
    (date(2026, 10, 1), False), (date(2026, 10, 9), True),
])
def test_business_days_across_year_boundaries(day, working):
    assert is_business_day(day) is working


def test_a_deadline_crossing_new_year_skips_the_holiday():
    new_years_eve = datetime(2026, 12, 31, 10, 0, tzinfo=TZ)
    assert decision_due(new_years_eve, "urgent", TZ) == end_of_day(add_business_days(date(2026, 12, 31), 1), TZ)
    assert decision_due(new_years_eve, "urgent", TZ) > datetime(2027, 1, 2, tzinfo=TZ)
