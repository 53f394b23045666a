"""A facility's deadline rules as stored and checked, and the monthly figures counted from the
clocks: met exactly at the deadline, missed just after, months in the facility's zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from care import figures
from care.models import Intake, SickCall
from care.rules import BadRule, set_rules

SH = ZoneInfo("Asia/Shanghai")
TICK = timedelta(microseconds=1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def test_the_rules_refuse_nonsense(rolled_back):
    session, _ = rolled_back
    for given in ({"triage_hours": 0}, {"triage_hours": 169}, {"assessment_days": 31}, {"visit_hours": True},
                  {"visit_hours": 80}):
        with pytest.raises(BadRule):
            set_rules(session, "fac-a", given)
    assert set_rules(session, "fac-a", {"triage_hours": 168, "assessment_days": 30}).triage_hours == 168
    assert set_rules(session, "fac-a", {"visit_hours": 72}).visit_hours == 72  # equal to the days-off limit


def test_monthly_figures_count_clocks_met_and_missed(rolled_back):
    session, _ = rolled_back
    start = at("2026-11-02 09:00")  # a Monday
    hour = timedelta(hours=1)

    def sick_call(n: int, *, triaged: timedelta | None, seen: timedelta | None, closed: timedelta | None = None,
                  received: datetime = start) -> None:
        session.add(SickCall(
            id=f"sc-{n}", patient_id="fac-a-p1", facility_id="fac-a", category="illness", received_at=received,
            entered_by=1, triage_due=received + 24 * hour, visit_due=received + 48 * hour,
            triaged_at=received + triaged if triaged is not None else None,
            seen_at=received + seen if seen is not None else None,
            closed_at=received + (closed or seen) if (closed or seen) is not None else None))
    sick_call(1, triaged=24 * hour, seen=48 * hour)  # both exactly on time
    sick_call(2, triaged=24 * hour + hour, seen=48 * hour + hour)  # both late
    sick_call(3, triaged=hour, seen=None, closed=hour)  # closed at triage: no visit
    sick_call(4, triaged=None, seen=None)  # still open: not met
    sick_call(5, triaged=hour, seen=2 * hour, received=at("2026-12-01 00:00"))  # next month
    sick_call(6, triaged=hour, seen=2 * hour, received=at("2026-10-31 23:59"))  # the month before
    for n, screened in enumerate((4 * hour, 4 * hour + TICK, None)):
        session.add(Intake(patient_id="fac-a-p1", facility_id="fac-a", kind="admission", admitted_at=start,
                           screened_at=start + screened if screened else None,
                           assessed_at=start + timedelta(days=14) if n == 0 else None))
    session.flush()
    found = figures.monthly(session, "fac-a", 2026, 11, tz=SH)
    assert found == {"sick_calls": 4, "sick_call_triage_met": 2, "sick_call_visits": 2, "sick_call_visit_met": 1,
                     "sick_call_closed_without_visit": 1, "arrivals": 3, "screenings": 2, "screenings_on_time": 1,
                     "assessments_on_time": 1}
    assert figures.monthly(session, "fac-b", 2026, 11, tz=SH)["sick_calls"] == 0
    assert figures.monthly(session, "fac-a", 2026, 12, tz=SH)["sick_calls"] == 1


def test_month_bounds_cross_the_year():
    assert figures.month_bounds(2026, 12, SH) == (at("2026-12-01 00:00"), at("2027-01-01 00:00"))
