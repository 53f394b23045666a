"""Missed doses and adherence, both counted from the administration record.

A scheduled dose with no MedicationAdministration once its pill call plus the window has passed
is missed: the sweep raises one Flag for it. Adherence is doses given over doses due (given,
refused, held, not available or missed) in the last ``DAYS`` days, per detainee and medicine and
per facility.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from ehr.access import Gate
from rounds import flags, schedule
from rounds.flags import FlagKind
from rounds.medpass import outcome_of
from rounds.records import by_identifier
from rounds.schedule import DOSE_SYSTEM, Dose

DAYS = 30


def closed(dose: Dose, now: datetime, tz: ZoneInfo, window: timedelta) -> bool:
    """Whether the dose's window has closed by ``now``: from that instant on, unrecorded, it is missed."""
    return dose.due_at(tz) + window <= now


def past_doses(session: Session, facility_id: str, now: datetime, tz: ZoneInfo, window: timedelta, days: int,
               patient_id: str | None = None) -> list[Dose]:
    """Scheduled doses of the last ``days`` days whose window has closed by ``now``."""
    today = now.astimezone(tz).date()
    return [dose for day in schedule.days_back(today, days)
            for dose in schedule.doses(session, facility_id, day, patient_id=patient_id)
            if closed(dose, now, tz, window)]


def sweep(session: Session, gate: Gate, facility_id: str, now: datetime, tz: ZoneInfo, window: timedelta,
          author: str) -> int:
    """Raise a Flag for each dose of today and yesterday missed past the window; answers how many."""
    recorded = by_identifier(session, "MedicationAdministration", facility_id, DOSE_SYSTEM)
    raised = 0
    for dose in past_doses(session, facility_id, now, tz, window, 2):
        if dose.key not in recorded:
            detail = f"{dose.medicine} {dose.dose} ({dose.day.isoformat()} {dose.slot})"
            raised += flags.raise_flag(session, gate, facility_id, dose.patient_id, FlagKind.MISSED, dose.key,
                                       detail, author)
    return raised


@dataclass(frozen=True)
class Adherence:
    medicine: str
    given: int
    due: int
    outcomes: dict[str, int]

    @property
    def percent(self) -> int | None:
        return round(100 * self.given / self.due) if self.due else None


def _count(doses: list[Dose], recorded: dict[str, dict], key) -> dict[str, Counter]:
    counts: dict[str, Counter] = {}
    for dose in doses:
        resource = recorded.get(dose.key)
        counts.setdefault(key(dose), Counter())[outcome_of(resource) if resource else "missed"] += 1
    return counts


def _adherence(name: str, counter: Counter) -> Adherence:
    return Adherence(name, counter["given"], sum(counter.values()), dict(counter))


def of_detainee(session: Session, facility_id: str, patient_id: str, now: datetime, tz: ZoneInfo,
                window: timedelta) -> list[Adherence]:
    recorded = by_identifier(session, "MedicationAdministration", facility_id, DOSE_SYSTEM, patient_id)
    doses = past_doses(session, facility_id, now, tz, window, DAYS, patient_id)
    return [_adherence(m, c) for m, c in sorted(_count(doses, recorded, lambda d: d.medicine).items())]


def of_facility(session: Session, facility_id: str, now: datetime, tz: ZoneInfo, window: timedelta) -> Adherence:
    recorded = by_identifier(session, "MedicationAdministration", facility_id, DOSE_SYSTEM)
    doses = past_doses(session, facility_id, now, tz, window, DAYS)
    counter = _count(doses, recorded, lambda d: "").get("", Counter())
    return _adherence("", counter)
