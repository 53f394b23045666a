"""The deadlines of intake screening and sick call, and whether they were met.

Sources: NCCHC Standards for Health Services in Jails (2018): E-02 receiving screening "as soon
as possible" at arrival (no hour limit: the default here is ours, see README); E-04 initial health
assessment within 14 calendar days; E-07 sick-call requests triaged within 24 hours, and a
face-to-face visit within 48 hours of receipt, 72 hours over a weekend. Days off are those of the
Chinese calendar the consult deadlines use (``webrtc.deadlines``), swapped working weekends
included, so a public holiday counts as a weekend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from webrtc.deadlines import breached, is_business_day


@dataclass(frozen=True)
class Rules:
    screening_hours: int = 4
    assessment_days: int = 14
    triage_hours: int = 24
    visit_hours: int = 48
    visit_hours_off_days: int = 72
    urgent_triage_hours: int = 2
    urgent_visit_hours: int = 8


DEFAULT_RULES = Rules()
FIELDS = tuple(Rules.__dataclass_fields__)


def screening_due(admitted_at: datetime, rules: Rules) -> datetime:
    return admitted_at + timedelta(hours=rules.screening_hours)


def assessment_due(admitted_at: datetime, rules: Rules) -> datetime:
    return admitted_at + timedelta(days=rules.assessment_days)


def triage_due(received_at: datetime, urgent: bool, rules: Rules) -> datetime:
    return received_at + timedelta(hours=rules.urgent_triage_hours if urgent else rules.triage_hours)


def visit_due(received_at: datetime, urgent: bool, rules: Rules, tz: ZoneInfo) -> datetime:
    """Counted from receipt, not from triage (E-07); the longer limit when the window takes in a
    day off."""
    if urgent:
        return received_at + timedelta(hours=rules.urgent_visit_hours)
    end = received_at + timedelta(hours=rules.visit_hours)
    if off_day_within(received_at, end, tz):
        return received_at + timedelta(hours=rules.visit_hours_off_days)
    return end


def off_day_within(start: datetime, end: datetime, tz: ZoneInfo) -> bool:
    day, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    while day <= last:
        if not is_business_day(day):
            return True
        day += timedelta(days=1)
    return False


def late(due: datetime, done_at: datetime | None, now: datetime) -> bool:
    return breached(due, done_at, now)
