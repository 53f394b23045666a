"""Recording one dose at the pill line, as a FHIR MedicationAdministration.

Given is ``completed``; refused, held and not available are ``not-done`` with the reason coded in
``statusReason``. The nurse is the performer, each witnessing officer a performer with the function
"witness". A dose is recorded only for the detainee identified at the hatch: any other detainee
needs an override with its reason, which is written on the dose and raises a Flag. A controlled
medicine needs a second witness and takes one from the facility's count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, select

from ehr import interactions
from ehr.access import Gate
from ehr.custody import BASE
from rounds import flags, once, schedule
from rounds.flags import FlagKind
from rounds.models import ControlledCount
from rounds.records import by_identifier, identifier_of
from rounds.schedule import DOSE_SYSTEM, Dose
from telemed.models import Detainee, Role, User
from telemed.timeutil import fhir_instant, utcnow

OUTCOMES = ("given", "refused", "held", "unavailable")
REASON_CODES = f"{BASE}/CodeSystem/dose-not-given"
PERFORMER_FUNCTION = f"{BASE}/CodeSystem/dose-performer"
# The custody officer witnesses; a facility's doctor or medical officer may too (a second witness
# of a controlled medicine, or where no officer has an account yet).
WITNESS_ROLES = (Role.CUSTODY_OFFICER.value, Role.FACILITY_DOCTOR.value, Role.MEDICAL_OFFICER.value)
MIN_OVERRIDE = 10
REFUSALS_IN_A_ROW = 3


class DoseRefused(Exception):
    """The dose cannot be recorded as sent; ``field`` names what is wrong, ``key`` words it."""

    def __init__(self, field: str, key: str, status: int = 422):
        super().__init__(f"{field}: {key}")
        self.field, self.key, self.status = field, key, status


@dataclass(frozen=True)
class DoseEntry:
    dose_key: str  # <request id>/<day>/<slot>
    outcome: str
    identified: str  # the patient id the identity check found
    witness: int | None
    second_witness: int | None = None
    reason: str = ""
    override: str = ""
    taken_at: datetime | None = None


def _parse_key(key: str) -> tuple[str, date, str]:
    try:
        request_id, day, slot = key.split("/")
        return request_id, date.fromisoformat(day), slot
    except ValueError:
        raise DoseRefused("dose", "rounds.error.no_dose", 404) from None


def find_dose(session: Session, facility_id: str, key: str) -> Dose:
    request_id, day, slot = _parse_key(key)
    if slot not in schedule.SLOTS:
        raise DoseRefused("dose", "rounds.error.no_dose", 404)
    found = next((d for d in schedule.doses(session, facility_id, day, slot=slot) if d.request_id == request_id), None)
    if found is None:
        raise DoseRefused("dose", "rounds.error.no_dose", 404)
    return found


def witnesses(session: Session, facility_id: str) -> list[User]:
    """Who may witness a dose: the facility's officers and staff (admins are not on the floor)."""
    users = session.exec(select(User).where(User.org_id == facility_id, User.active == True,  # noqa: E712
                                            User.role.in_(WITNESS_ROLES))).all()
    return sorted(users, key=lambda u: (u.role != Role.CUSTODY_OFFICER, u.display_name))


def _witness(session: Session, facility_id: str, user_id: int | None, others: set[int]) -> User:
    user = session.get(User, user_id) if user_id else None
    if user is None or user.org_id != facility_id or not user.active or user.role not in WITNESS_ROLES:
        raise DoseRefused("witness", "rounds.error.witness")
    if user.id in others:
        raise DoseRefused("witness", "rounds.error.witness_same")
    return user


def _reason(outcome: str, reason: str) -> list[dict]:
    return [{"coding": [{"system": REASON_CODES, "code": outcome}], **({"text": reason} if reason else {})}]


def administration(dose: Dose, entry: DoseEntry, nurse: str, witnesses: list[User]) -> dict:
    performers = [{"actor": {"display": nurse}}] + [
        {"function": {"coding": [{"system": PERFORMER_FUNCTION, "code": "witness"}]},
         "actor": {"display": w.display_name or w.username}} for w in witnesses]
    resource = {
        "resourceType": "MedicationAdministration",
        "identifier": [{"system": DOSE_SYSTEM, "value": dose.key}],
        "status": "completed" if entry.outcome == "given" else "not-done",
        "medicationCodeableConcept": {"text": dose.medicine},
        "subject": {"reference": f"Patient/{dose.patient_id}"},
        "effectiveDateTime": fhir_instant(entry.taken_at or utcnow()),
        "performer": performers,
        "request": {"reference": f"MedicationRequest/{dose.request_id}"},
    }
    if entry.outcome != "given":
        resource["statusReason"] = _reason(entry.outcome, entry.reason)
    if entry.override:
        resource["note"] = [{"text": f"Wrong-detainee override: {entry.override}"}]
    return resource


def _check(entry: DoseEntry, dose: Dose) -> None:
    if entry.outcome not in OUTCOMES:
        raise DoseRefused("outcome", "rounds.error.outcome")
    if entry.outcome == "held" and not entry.reason.strip():
        raise DoseRefused("reason", "rounds.error.reason")
    if not entry.identified:
        raise DoseRefused("identified", "rounds.error.identify_first")
    if entry.identified != dose.patient_id and len(entry.override.strip()) < MIN_OVERRIDE:
        raise DoseRefused("identified", "rounds.error.wrong_detainee", 409)


def _take_one(session: Session, facility_id: str, medicine: str) -> int:
    row = session.exec(select(ControlledCount).where(ControlledCount.facility_id == facility_id,
                                                     ControlledCount.medicine == medicine.lower())).first()
    if row is None or row.count < 1:
        raise DoseRefused("count", "rounds.error.count_empty", 409)
    row.count -= 1
    row.updated_at = utcnow()
    session.add(row)
    return row.count


def record(session: Session, gate: Gate, facility_id: str, entry: DoseEntry, nurse: str) -> dict:
    """Record one dose; answers what was written and which flags it raised."""
    dose = find_dose(session, facility_id, entry.dose_key)
    _check(entry, dose)
    if dose.key in by_identifier(session, "MedicationAdministration", facility_id, DOSE_SYSTEM, dose.patient_id):
        raise DoseRefused("dose", "rounds.error.recorded", 409)
    witnesses = [_witness(session, facility_id, entry.witness, {gate.who.user_id})]
    if dose.controlled:
        witnesses.append(_witness(session, facility_id, entry.second_witness, {gate.who.user_id, witnesses[0].id}))
    count = _take_one(session, facility_id, dose.medicine) if dose.controlled and entry.outcome == "given" else None
    stored, _ = interactions.create(session, gate, administration(dose, entry, nurse, witnesses))
    raised = []
    if entry.identified != dose.patient_id:
        wrong = session.get(Detainee, entry.identified)
        detail = f"{dose.medicine} {dose.dose}: identified as {wrong.name if wrong else entry.identified}; {entry.override}"
        if flags.raise_flag(session, gate, facility_id, dose.patient_id, FlagKind.WRONG_DETAINEE, dose.key, detail, nurse):
            raised.append(FlagKind.WRONG_DETAINEE.value)
    if entry.outcome == "refused" and _refusals_in_a_row(session, facility_id, dose) >= REFUSALS_IN_A_ROW:
        if flags.raise_flag(session, gate, facility_id, dose.patient_id, FlagKind.REFUSALS, dose.key,
                            f"{dose.medicine} {dose.dose}", nurse):
            raised.append(FlagKind.REFUSALS.value)
    return {"id": stored.id, "dose": dose.key, "patient_id": dose.patient_id, "flags": raised, "count": count}


def receive(session: Session, gate: Gate, facility_id: str, key: str, entry: DoseEntry, nurse: str) -> tuple[dict, bool]:
    """Record a dose sent with the browser's key once: (the answer, whether this arrival was a
    resend, answered as the first was and writing nothing)."""
    try:
        first = once.earlier(session, key, gate.who.user_id, lambda e: once.answer_of(e).get("dose") == entry.dose_key)
    except once.KeyTaken:
        raise DoseRefused("key", "rounds.error.key_taken", 409) from None
    if first is not None:
        return once.answer_of(first), True
    done = record(session, gate, facility_id, entry, nurse)
    once.remember(session, key, gate.who.user_id, done["patient_id"], "dose", entry.taken_at or utcnow(), 1, done)
    return done, False


def _order(resource: dict) -> tuple[str, int]:
    """A recorded dose's place in its schedule (day, then pill call), from its key."""
    _request, day, slot = identifier_of(resource, DOSE_SYSTEM).split("/")
    return day, list(schedule.SLOTS).index(slot)


def _refusals_in_a_row(session: Session, facility_id: str, dose: Dose) -> int:
    """How many of this prescription's latest recorded doses were refused, counting back."""
    recorded = [r for r in by_identifier(session, "MedicationAdministration", facility_id, DOSE_SYSTEM,
                                         dose.patient_id).values()
                if r.get("request", {}).get("reference") == f"MedicationRequest/{dose.request_id}"]
    run = 0
    for resource in sorted(recorded, key=_order, reverse=True):
        if outcome_of(resource) != "refused":
            break
        run += 1
    return run


def outcome_of(resource: dict) -> str:
    if resource.get("status") == "completed":
        return "given"
    return next((c.get("code", "") for s in resource.get("statusReason", []) for c in s.get("coding", [])
                 if c.get("system") == REASON_CODES), "")
