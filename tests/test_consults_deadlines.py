"""Decision and signing deadlines over the Chinese business calendar."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from webrtc.deadlines import breached, decision_due, is_business_day, sign_due

TZ = ZoneInfo("Asia/Shanghai")
FRIDAY = datetime(2026, 11, 20, 15, 0, tzinfo=TZ)


def test_decision_deadlines_by_urgency():
    assert decision_due(FRIDAY, "emergency", TZ) == datetime(2026, 11, 21, tzinfo=TZ)
    assert decision_due(FRIDAY, "urgent", TZ) == datetime(2026, 11, 24, tzinfo=TZ)  # end of Monday
    assert decision_due(FRIDAY, "routine", TZ) == datetime(2026, 11, 28, tzinfo=TZ)  # end of next Friday


def test_national_day_week_is_not_business_days():
    before_holiday = datetime(2026, 9, 30, 10, 0, tzinfo=TZ)
    due = decision_due(before_holiday, "urgent", TZ)
    assert due > datetime(2026, 10, 8, tzinfo=TZ)  # 1-7 October are holidays


def test_sign_deadline_is_three_business_days_after_the_call():
    assert sign_due(FRIDAY, TZ) == datetime(2026, 11, 26, tzinfo=TZ)  # end of Wednesday


def test_breach():
    due = datetime(2026, 11, 21, tzinfo=TZ)
    assert breached(due, None, due + timedelta(seconds=1))
    assert not breached(due, due - timedelta(hours=1), due + timedelta(days=3))
    assert breached(due, due + timedelta(hours=1), due + timedelta(days=3))
    assert not breached(None, None, due)


def test_worked_weekend_days_count_as_business_days():
    assert is_business_day(date(2025, 1, 26))  # a Sunday worked before the 2025 Spring Festival
    assert not is_business_day(date(2025, 1, 25))
