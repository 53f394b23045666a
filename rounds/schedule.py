"""The administration record: each active MedicationRequest's doses, at the facility's pill calls.

A dose is (request, day, slot). Times per day come from the dosage's Timing: once a day goes at
the morning call, twice at morning and evening, three times at morning, noon and evening, four
times at every call; at bedtime (HS) goes at the night call. As-needed (PRN) orders are given on
request, not scheduled. A dose's key is ``<request id>/<day>/<slot>``: its MedicationAdministration
carries it as an identifier, so that one dose is recorded once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from ehr import charting
from ehr.custody import BASE
from ehr.models import FhirResource
from ehr.store import Stored
from rounds.blocks import block_of
from rounds.controlled import is_controlled
from telemed.models import CustodyStatus, Detainee

DOSE_SYSTEM = f"{BASE}/sid/dose"
# The pill calls, facility time.
SLOTS: dict[str, time] = {"morning": time(8), "noon": time(12), "evening": time(17), "night": time(21)}
BY_FREQUENCY = {1: ("morning",), 2: ("morning", "evening"), 3: ("morning", "noon", "evening"),
                4: ("morning", "noon", "evening", "night")}


@dataclass(frozen=True)
class Dose:
    request_id: str
    patient_id: str
    day: date
    slot: str
    medicine: str
    dose: str  # "10 mg"
    route: str  # the record form's route key ("oral"), "" when written elsewhere
    controlled: bool
    cell: str
    name: str
    booking_number: str

    @property
    def key(self) -> str:
        return f"{self.request_id}/{self.day.isoformat()}/{self.slot}"

    @property
    def block(self) -> str:
        return block_of(self.cell)

    def due_at(self, tz: ZoneInfo) -> datetime:
        return datetime.combine(self.day, SLOTS[self.slot], tz)


def slots_of(dosage: dict) -> tuple[str, ...]:
    if dosage.get("asNeededBoolean"):
        return ()
    repeat = dosage.get("timing", {}).get("repeat", {})
    if "HS" in repeat.get("when", ()):
        return ("night",)
    if repeat.get("count") == 1:
        return ("morning",)
    per_day = repeat.get("frequency", 0) if repeat.get("period", 1) == 1 and repeat.get("periodUnit") == "d" else 0
    return BY_FREQUENCY.get(per_day, ())


def _on(dosage: dict, day: date, authored: str) -> bool:
    bounds = dosage.get("timing", {}).get("repeat", {}).get("boundsPeriod", {})
    start = bounds.get("start") or authored[:10]
    end = bounds.get("end")
    if dosage.get("timing", {}).get("repeat", {}).get("count") == 1:
        end = start
    return start[:10] <= day.isoformat() and (not end or day.isoformat() <= end[:10])


def _dose_text(dosage: dict) -> str:
    quantity = next((d.get("doseQuantity") for d in dosage.get("doseAndRate", []) if d.get("doseQuantity")), None)
    return f"{quantity.get('value', '')} {quantity.get('unit', '')}".strip() if quantity else ""


def doses_of(request: dict, detainee: Detainee, day: date) -> list[Dose]:
    medicine = request.get("medicationCodeableConcept", {}).get("text", "")
    found = []
    for dosage in request.get("dosageInstruction", [])[:1]:
        if not _on(dosage, day, request.get("authoredOn", "")):
            continue
        for slot in slots_of(dosage):
            found.append(Dose(request["id"], detainee.patient_id, day, slot, medicine, _dose_text(dosage),
                              charting.route_of(dosage), is_controlled(medicine), detainee.cell, detainee.name,
                              detainee.booking_number))
    return found


def active_requests(session: Session, facility_id: str, patient_id: str | None = None) -> list[tuple[dict, Detainee]]:
    query = (select(FhirResource, Detainee).join(Detainee, Detainee.patient_id == FhirResource.patient_id)
             .where(FhirResource.type == "MedicationRequest", FhirResource.deleted == False,  # noqa: E712
                    Detainee.facility_id == facility_id, Detainee.status == CustodyStatus.IN_CUSTODY))
    if patient_id:
        query = query.where(Detainee.patient_id == patient_id)
    rows = session.exec(query).all()
    return [(r, d) for r, d in ((Stored.of(row).resource, d) for row, d in rows) if r.get("status") == "active"]


def doses(session: Session, facility_id: str, day: date, *, slot: str | None = None, block: str | None = None,
          patient_id: str | None = None) -> list[Dose]:
    found = [dose for request, detainee in active_requests(session, facility_id, patient_id)
             for dose in doses_of(request, detainee, day)
             if (slot is None or dose.slot == slot) and (block is None or dose.block == block)]
    return sorted(found, key=lambda d: (d.cell, d.name, list(SLOTS).index(d.slot), d.medicine))


def slot_at(moment: datetime) -> str:
    """The pill call a moment belongs to: the latest one begun (morning before the first)."""
    begun = [name for name, at in SLOTS.items() if moment.time() >= at]
    return begun[-1] if begun else "morning"


def days_back(today: date, n: int) -> list[date]:
    return [today - timedelta(days=k) for k in range(n)]
