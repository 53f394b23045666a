"""A facility's deadlines: its own row, or the defaults."""

from __future__ import annotations

from sqlmodel import Session

from care.clocks import DEFAULT_RULES, FIELDS, Rules
from care.models import CareRules
from telemed.timeutil import utcnow

LIMITS = {"assessment_days": (1, 30)}
HOURS = (1, 168)  # any hour limit: from one hour to a week


class BadRule(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def rules_for(session: Session, facility_id: str) -> Rules:
    row = session.get(CareRules, facility_id)
    return Rules(**{name: getattr(row, name) for name in FIELDS}) if row else DEFAULT_RULES


def set_rules(session: Session, facility_id: str, given: dict) -> Rules:
    for key in given:
        if key not in FIELDS:
            raise BadRule(f"{key}: no such rule", key)
    values = rules_for(session, facility_id).__dict__ | given
    for name in FIELDS:
        low, high = LIMITS.get(name, HOURS)
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise BadRule(f"{name}: a whole number from {low} to {high}", name)
    if values["visit_hours_off_days"] < values["visit_hours"]:
        raise BadRule("visit_hours_off_days: may not be shorter than visit_hours", "visit_hours_off_days")
    row = session.get(CareRules, facility_id) or CareRules(facility_id=facility_id, **values)
    for name in FIELDS:
        setattr(row, name, values[name])
    row.updated_at = utcnow()
    session.add(row)
    return Rules(**values)
