"""New versions of a stored result: the final after a preliminary, a correction, a withdrawal.

A result is one Observation for life: each change is a new FHIR version of it (the earlier ones
stay in its history), its lab_result row follows the current version, its DiagnosticReport's
status follows its results', and its alerts follow its flag: a correction that makes the
result critical raises an alert, one that takes it out of the critical range (or withdraws it)
closes the open alert with a note saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlmodel import Session

from ehr import store
from labs import fhir, values
from labs.flags import CRITICAL, Previous, delta_exceeded
from labs.models import LabAlert, LabResult
from telemed.timeutil import as_utc, fhir_instant, utcnow

if TYPE_CHECKING:
    from labs.results import Checked

WITHDRAWN = frozenset({"cancelled", "entered-in-error"})


@dataclass
class Revised:
    rows: list[dict] = field(default_factory=list)
    alert_ids: list[int] = field(default_factory=list)


def new_status(row, item: Checked) -> str | None:
    """The status ``item`` gives the stored result ``row`` (a LabResult, or a row of its
    columns); None when it changes nothing.

    A preliminary never replaces a final or a correction (it arrived late); after a correction
    only another correction or a withdrawal changes the result (a resent original final does
    not undo the correction); a result entered in error comes back only as a correction; a
    final with another value than the final it follows is a correction (the sender should have
    said C)."""
    if item.status == "preliminary" and row.status != "preliminary":
        return None
    if row.status == "entered-in-error" and item.status not in ("corrected", "cancelled"):
        return None  # a resent message of the withdrawn result does not bring it back
    if item.status in WITHDRAWN:
        return item.status if row.status != item.status else None
    if item.status == "final" and row.status == "corrected":
        return None
    same = (row.value_num, row.value_code, row.value_text) == (item.value_num, item.value_code, item.value_text)
    status = "corrected" if item.status == "final" and row.status == "final" and not same else item.status
    unchanged = same and row.status == status and row.conditions == ",".join(item.conditions)
    return None if unchanged else status


def changes(row, item: Checked) -> bool:
    return new_status(row, item) is not None


def revise(session: Session, pairs: list[tuple[LabResult, Checked]], source: str) -> Revised:
    revised = Revised()
    reports = set()
    for row, item in pairs:
        status = new_status(row, item)
        before = (row.flag, _display(row))
        current = store.read(session, "Observation", row.observation_id).resource
        if status in WITHDRAWN:
            resource = _withdrawn(current, item, status)
            row.status = status
        else:
            resource = _replacement(session, row, current, item, status)
            _follow(row, item, status, source, delta=bool(resource.get("extension")))
        resource.pop("meta", None)
        store.update(session, resource, row.observation_id, validated=True)
        session.add(row)
        session.flush()
        revised.alert_ids += _realert(session, row, before)
        revised.rows.append(row_json(row))
        reports.add(row.report_id)
    for report_id in sorted(reports):
        _restate_report(session, report_id)
    return revised


def _notes(current: dict, item: Checked) -> list[dict]:
    """The new version's comments: the sender's (a person's correction keeps the earlier ones),
    earlier corrections' reasons, and this one's."""
    sub = item.submission
    carried = [n for n in current.get("note", []) if sub.reason or "authorString" in n]
    reason = [{"authorString": sub.author, "time": _instant(), "text": sub.reason}] if sub.reason else []
    return [*({"text": n} for n in sub.notes), *carried, *reason]


def _withdrawn(current: dict, item: Checked, status: str) -> dict:
    """The same content, now cancelled or entered in error, with the sender's reason."""
    resource = dict(current, status=status)
    notes = [*current.get("note", []), *_notes({}, item)]
    if notes:
        resource["note"] = notes
    return resource


def _replacement(session: Session, row: LabResult, current: dict, item: Checked, status: str) -> dict:
    at = as_utc(row.effective_at)
    delta = False
    if item.value_num is not None and not item.comparator:
        delta = delta_exceeded(item.test, item.value_num, _previous(session, row), at)
    resource = fhir.observation_of(item, effective_at=at, order_id=row.order_id, delta=delta, status=status)
    notes = _notes(current, item)
    if notes:
        resource["note"] = notes
    else:
        resource.pop("note", None)
    return resource


def _previous(session: Session, row: LabResult) -> Previous | None:
    found = session.execute(
        select(LabResult.value_num, LabResult.effective_at)
        .where(LabResult.patient_id == row.patient_id, LabResult.loinc == row.loinc,
               LabResult.effective_at < row.effective_at, LabResult.value_num.is_not(None),
               LabResult.comparator == "", LabResult.status.not_in(WITHDRAWN))
        .order_by(LabResult.effective_at.desc()).limit(1)).first()
    return Previous(found[0], as_utc(found[1])) if found else None


def _follow(row: LabResult, item: Checked, status: str, source: str, *, delta: bool) -> None:
    row.value_num, row.value_code, row.value_text = item.value_num, item.value_code, item.value_text
    row.comparator, row.flag, row.status, row.delta_flag = item.comparator, item.flag, status, delta
    row.conditions, row.source, row.recorded_at = ",".join(item.conditions), source, utcnow()


def _display(row: LabResult) -> str:
    return values.display(row.value_num, row.value_code, row.value_text, row.unit)


def _realert(session: Session, row: LabResult, before: tuple[str, str]) -> list[int]:
    """Close the open alert of a value that changed; raise one for a new critical value."""
    if (row.flag, _display(row)) == before and row.status not in WITHDRAWN:
        return []  # the same value, now final (or re-commented): its alert stands
    note = f"{row.status}: {_display(row)}" + (f" ({row.flag})" if row.flag else "")
    for alert in session.execute(select(LabAlert).where(LabAlert.result_id == row.id,
                                                        LabAlert.closed_at.is_(None))).scalars():
        alert.closed_at, alert.closed_note = utcnow(), note[:500]
        session.add(alert)
    if row.flag not in CRITICAL or row.status in WITHDRAWN:
        return []
    alert = LabAlert(result_id=row.id, patient_id=row.patient_id, facility_id=row.facility_id, loinc=row.loinc,
                     value=_display(row)[:64], flag=row.flag)
    session.add(alert)
    session.flush()
    return [alert.id]


def _restate_report(session: Session, report_id: str) -> None:
    statuses = list(session.execute(select(LabResult.status).where(LabResult.report_id == report_id)).scalars())
    report = store.read(session, "DiagnosticReport", report_id).resource
    status = fhir.report_status(statuses)
    if report.get("status") != status:
        report["status"] = status
        report.pop("meta", None)
        store.update(session, report, report_id, validated=True)


def row_json(row: LabResult) -> dict:
    found = row.model_dump(exclude={"import_key"})
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in found.items()}


def _instant() -> str:
    return fhir_instant(utcnow())
