"""What the rounds and pill-line pages show: the blocks, each detainee's due work, one pill call's
doses with their state, the controlled counts and adherence as JSON."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, func, select

from care import sickcall
from care.models import FollowUp
from labs.models import LabAlert
from rounds import flags, schedule, watch
from rounds.adherence import Adherence, closed
from rounds.blocks import block_of
from rounds.medpass import outcome_of
from rounds.models import ControlledCount, PatientPhoto
from rounds.photo import url_of
from rounds.records import by_identifier
from rounds.schedule import DOSE_SYSTEM, Dose
from telemed import addresses
from telemed.models import CustodyStatus, Detainee
from telemed.timeutil import utcnow


def identity_card(d: Detainee, photo: bool = False) -> dict:
    """The two identifiers and the date of birth, with the photo to compare (None when there is
    none yet); the cell says where, never who."""
    return {"patient_id": d.patient_id, "page": f"/rounds/patient/{addresses.ref(d.booking_number, d.patient_id)}",
            "name": d.name, "booking_number": d.booking_number,
            "birth_date": d.birth_date, "sex": d.sex, "cell": d.cell, "photo": url_of(d.patient_id) if photo else None}


def _in_custody(session: Session, facility_id: str) -> list[Detainee]:
    return list(session.exec(select(Detainee).where(Detainee.facility_id == facility_id,
                                                    Detainee.status == CustodyStatus.IN_CUSTODY)).all())


def blocks(session: Session, facility_id: str) -> list[dict]:
    count = Counter(block_of(d.cell) for d in _in_custody(session, facility_id) if d.cell)
    return [{"block": b, "detainees": n} for b, n in sorted(count.items(), key=lambda kv: (len(kv[0]), kv[0]))]


def _open_alerts(session: Session, patient_ids: list[str]) -> Counter:
    rows = session.exec(select(LabAlert.patient_id, func.count()).where(
        LabAlert.patient_id.in_(patient_ids), LabAlert.acknowledged_at.is_(None),
        LabAlert.closed_at.is_(None)).group_by(LabAlert.patient_id)).all()
    return Counter(dict(rows))


def _open_follow_ups(session: Session, facility_id: str) -> Counter:
    rows = session.exec(select(FollowUp.patient_id).where(FollowUp.facility_id == facility_id,
                                                          FollowUp.done_at.is_(None))).all()
    return Counter(rows)


def of_block(session: Session, facility_id: str, block: str, now: datetime, tz: ZoneInfo) -> list[dict]:
    people = sorted((d for d in _in_custody(session, facility_id) if block_of(d.cell) == block),
                    key=lambda d: (d.cell, d.name))
    today = now.astimezone(tz).date()
    doses = schedule.doses(session, facility_id, today, block=block)
    recorded = by_identifier(session, "MedicationAdministration", facility_id, DOSE_SYSTEM)
    pending: dict[str, list[Dose]] = {}
    for dose in doses:
        if dose.key not in recorded:
            pending.setdefault(dose.patient_id, []).append(dose)
    raised = Counter(f["subject"]["reference"].removeprefix("Patient/") for f in flags.active(session, facility_id))
    alerts = _open_alerts(session, [d.patient_id for d in people])
    follow_ups = _open_follow_ups(session, facility_id)
    sick_calls = Counter(call.patient_id for call, _d in sickcall.open_calls(session, facility_id))
    return [{**identity_card(d),
             "doses": [{"medicine": x.medicine, "dose": x.dose, "slot": x.slot} for x in pending.get(d.patient_id, [])],
             "flags": raised[d.patient_id], "abnormal_results": alerts[d.patient_id],
             "follow_ups": follow_ups[d.patient_id], "sick_calls": sick_calls[d.patient_id],
             "watch": watch.state(session, d.patient_id)} for d in people]


def _state(dose: Dose, resource: dict | None, now: datetime, tz: ZoneInfo, window: timedelta) -> str:
    if resource is not None:
        return outcome_of(resource)
    return "missed" if closed(dose, now, tz, window) else "due"


def pill_line(session: Session, facility_id: str, day: date, slot: str, block: str | None, now: datetime,
              tz: ZoneInfo, window: timedelta) -> dict:
    doses = schedule.doses(session, facility_id, day, slot=slot, block=block)
    recorded = by_identifier(session, "MedicationAdministration", facility_id, DOSE_SYSTEM)
    rows = [{"key": d.key, "patient_id": d.patient_id, "name": d.name, "booking_number": d.booking_number,
             "cell": d.cell, "medicine": d.medicine, "dose": d.dose, "route": d.route, "controlled": d.controlled,
             "state": _state(d, recorded.get(d.key), now, tz, window)} for d in doses]
    return {"day": day.isoformat(), "slot": slot, "block": block or "", "doses": rows,
            "blocks": [b["block"] for b in blocks(session, facility_id)]}


def counts(session: Session, facility_id: str) -> list[dict]:
    rows = session.exec(select(ControlledCount).where(ControlledCount.facility_id == facility_id)
                        .order_by(ControlledCount.medicine)).all()
    return [{"medicine": r.medicine, "count": r.count, "updated_at": r.updated_at.isoformat()} for r in rows]


def recount(session: Session, facility_id: str, medicine: str, count: int) -> None:
    row = session.exec(select(ControlledCount).where(ControlledCount.facility_id == facility_id,
                                                     ControlledCount.medicine == medicine.lower())).first()
    row = row or ControlledCount(facility_id=facility_id, medicine=medicine.lower())
    row.count, row.updated_at = count, utcnow()
    session.add(row)


def facility_of(session: Session, patient_id: str) -> str:
    row = session.get(Detainee, patient_id)
    return row.facility_id if row else ""


def has_photo(session: Session, patient_id: str) -> bool:
    return session.get(PatientPhoto, patient_id) is not None


def adherence_json(a: Adherence) -> dict:
    return {"medicine": a.medicine, "given": a.given, "due": a.due, "percent": a.percent, "outcomes": a.outcomes}
