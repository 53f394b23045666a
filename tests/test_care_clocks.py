"""The deadlines of screening and sick call, at their limits: days off of the Chinese calendar
(swapped working weekends included), the facility's zone, urgent clocks, a facility's own rules,
and breaches made by moving ``now``. No database: the mutation runs (scripts/mutation.py) run
these per mutant of care/clocks.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from care import clocks
from care.clocks import DEFAULT_RULES, Rules

SH = ZoneInfo("Asia/Shanghai")
TICK = timedelta(microseconds=1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


@pytest.mark.parametrize(("received", "hours"), [
    ("2024-09-23 09:00", 48),  # Monday to Wednesday: working days only
    ("2024-09-27 10:00", 72),  # Friday: the window takes in Saturday
    ("2024-09-29 10:00", 72),  # a worked Sunday, but the window reaches the 1 October holiday
    ("2024-04-28 09:00", 48),  # a worked Sunday (Labour Day swap) to Tuesday: no day off
    ("2024-10-12 09:00", 72),  # a worked Saturday; Sunday the 13th is off
    ("2024-09-26 00:00", 72),  # ends at the first instant of Saturday: that day is in the window
    ("2024-09-25 23:59", 48),  # ends on Friday 23:59
])
def test_the_visit_clock_is_48_hours_or_72_over_a_day_off(received, hours):
    start = at(received)
    assert clocks.visit_due(start, False, DEFAULT_RULES, SH) == start + timedelta(hours=hours)


def test_days_off_are_those_of_the_facilitys_zone():
    start = datetime(2024, 9, 25, 20, 0, tzinfo=timezone.utc)  # Thursday 04:00 in Shanghai, Wednesday in UTC
    assert clocks.visit_due(start, False, DEFAULT_RULES, SH) == start + timedelta(hours=72)
    assert clocks.visit_due(start, False, DEFAULT_RULES, ZoneInfo("UTC")) == start + timedelta(hours=48)
    # Saturday 16:30 in UTC is the first half hour of a worked Sunday in Shanghai: the start's day too
    # is the facility's
    start = datetime(2024, 4, 27, 16, 30, tzinfo=timezone.utc)
    assert clocks.visit_due(start, False, DEFAULT_RULES, SH) == start + timedelta(hours=48)


def test_urgent_requests_run_on_hours_and_rules_are_the_facilitys():
    start = at("2024-09-27 10:00")
    assert clocks.triage_due(start, False, DEFAULT_RULES) == start + timedelta(hours=24)
    assert clocks.triage_due(start, True, DEFAULT_RULES) == start + timedelta(hours=2)
    assert clocks.visit_due(start, True, DEFAULT_RULES, SH) == start + timedelta(hours=8)
    own = Rules(screening_hours=2, assessment_days=7, triage_hours=12, visit_hours=36, visit_hours_off_days=60,
                urgent_triage_hours=1, urgent_visit_hours=3)
    assert clocks.triage_due(start, False, own) == start + timedelta(hours=12)
    assert clocks.triage_due(start, True, own) == start + timedelta(hours=1)
    assert clocks.visit_due(start, True, own, SH) == start + timedelta(hours=3)
    assert clocks.visit_due(start, False, own, SH) == start + timedelta(hours=60)
    assert clocks.visit_due(at("2024-09-23 09:00"), False, own, SH) == at("2024-09-24 21:00")
    assert clocks.screening_due(start, own) == start + timedelta(hours=2)
    assert clocks.assessment_due(start, own) == start + timedelta(days=7)


def test_screening_is_due_in_4_hours_and_the_assessment_in_14_days():
    start = at("2024-09-27 10:00")
    assert clocks.screening_due(start, DEFAULT_RULES) == at("2024-09-27 14:00")
    assert clocks.assessment_due(start, DEFAULT_RULES) == at("2024-10-11 10:00")


def test_late_is_after_the_deadline_not_at_it():
    due = at("2024-09-27 14:00")
    assert not clocks.late(due, None, due)
    assert clocks.late(due, None, due + TICK)
    assert not clocks.late(due, due, due + timedelta(days=9))  # done in time stays in time
    assert clocks.late(due, due + TICK, due + TICK)
