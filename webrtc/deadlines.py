"""Decision and signing deadlines in business days of the Chinese calendar (holidays.China,
which also knows the weekend days that are worked in exchange for a holiday)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

from webrtc.models import Urgency

# Business days the hospital has to decide, counted after the day of the request (0: that day).
DECISION_DAYS = {Urgency.EMERGENCY: 0, Urgency.URGENT: 1, Urgency.ROUTINE: 5}
SIGN_DAYS = 3


@cache
def _calendar(year: int) -> holidays.HolidayBase:
    return holidays.China(years=range(year - 1, year + 2))


def is_business_day(day: date) -> bool:
    return _calendar(day.year).is_working_day(day)


def add_business_days(day: date, count: int) -> date:
    while count > 0:
        day += timedelta(days=1)
        if is_business_day(day):
            count -= 1
    return day


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The local midnight that ends ``day``, as an aware datetime."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def decision_due(requested_at: datetime, urgency: str, tz: ZoneInfo) -> datetime:
    start = requested_at.astimezone(tz).date()
    return end_of_day(add_business_days(start, DECISION_DAYS[Urgency(urgency)]), tz)


def sign_due(call_at: datetime, tz: ZoneInfo) -> datetime:
    return end_of_day(add_business_days(call_at.astimezone(tz).date(), SIGN_DAYS), tz)


def breached(due: datetime | None, done_at: datetime | None, now: datetime) -> bool:
    """Late: not done by the deadline (done late, or still open after it)."""
    if due is None:
        return False
    return (done_at or now) > due
