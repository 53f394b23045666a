"""Monthly figures per facility: sick calls and their clocks met, screenings and those on time.
A request or arrival belongs to the month (in the facility's zone) in which it was received."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from care import clocks
from care.models import Intake, SickCall
from care.rules import rules_for
from telemed.config import Settings


def month_bounds(year: int, month: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = date(year, month, 1)
    end = date(year + month // 12, month % 12 + 1, 1)
    return datetime.combine(start, time(0), tzinfo=tz), datetime.combine(end, time(0), tzinfo=tz)


def monthly(session: Session, facility_id: str, year: int, month: int, *, tz: ZoneInfo | None = None) -> dict[str, int]:
    """Clocks still running count as not met: a figure for the month is final once its last
    deadline has passed."""
    start, end = month_bounds(year, month, tz or Settings().tz)
    calls = session.execute(select(SickCall).where(
        SickCall.facility_id == facility_id, SickCall.received_at >= start, SickCall.received_at < end)).scalars().all()
    arrivals = session.execute(select(Intake).where(
        Intake.facility_id == facility_id, Intake.admitted_at >= start, Intake.admitted_at < end)).scalars().all()
    rules = rules_for(session, facility_id)
    screened = [i for i in arrivals if i.screened_at is not None]
    return {
        "sick_calls": len(calls),
        "sick_call_triage_met": sum(c.triaged_at is not None and c.triaged_at <= c.triage_due for c in calls),
        "sick_call_visits": sum(c.seen_at is not None for c in calls),
        "sick_call_visit_met": sum(c.seen_at is not None and c.seen_at <= c.visit_due for c in calls),
        "sick_call_closed_without_visit": sum(c.closed_at is not None and c.seen_at is None for c in calls),
        "arrivals": len(arrivals),
        "screenings": len(screened),
        "screenings_on_time": sum(i.screened_at <= clocks.screening_due(i.admitted_at, rules) for i in screened),
        "assessments_on_time": sum(i.assessed_at is not None and i.assessed_at <= clocks.assessment_due(i.admitted_at, rules)
                                   for i in arrivals),
    }
