"""The one path every result takes, whatever brought it (manual entry, file import, HL7):
check it against the catalogue, flag it, de-duplicate it, delta-check it, and file it as
Observations grouped in one DiagnosticReport per panel, with the narrow rows and alerts."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlmodel import Session

from ehr import store
from labs import fhir, qualitative
from labs.catalog import Band, Test, catalogue
from labs.fast_insert import prepared_insert
from labs.flags import CRITICAL, DELTA_WINDOW, Previous, delta_exceeded, flag_quality, flag_quantity
from labs.models import LabAlert, LabOrder, LabResult
from labs.units import UnitError, to_catalogue_unit
from telemed.models import Detainee
from telemed.timeutil import as_utc, utcnow

FUTURE_TOLERANCE = timedelta(minutes=10)
CHUNK = 500  # values per SQL IN (...)


class Rejected(ValueError):
    """A result that cannot be filed; ``hold`` when a person could still resolve it."""

    def __init__(self, reason: str, *, hold: bool = False) -> None:
        super().__init__(reason)
        self.hold = hold


@dataclass(frozen=True)
class Subject:
    patient_id: str
    facility_id: str
    sex: str
    birth_date: str

    def age_at(self, when: datetime) -> int | None:
        try:
            born = date.fromisoformat(self.birth_date)
        except ValueError:
            return None
        day = when.date()
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


@dataclass(frozen=True)
class Submission:
    patient_id: str | None
    loinc: str
    value: object
    effective_at: datetime
    unit: str = ""
    order_id: str | None = None


@dataclass(frozen=True)
class Checked:
    submission: Submission
    test: Test
    subject: Subject
    value_num: float | None
    value_code: str
    flag: str
    band: Band | None
    key: str


@dataclass
class Filed:
    results: list[dict] = field(default_factory=list)
    duplicates: int = 0
    alert_ids: list[int] = field(default_factory=list)
    report_ids: list[str] = field(default_factory=list)


def subjects(session: Session, *, patient_ids: set[str] = frozenset(), bookings: set[str] = frozenset()) -> dict[str, Subject]:
    """Detainees by patient id and by booking number."""
    found: dict[str, Subject] = {}
    for column, values in ((Detainee.patient_id, patient_ids), (Detainee.booking_number, bookings)):
        for chunk in _chunks(sorted(values)):
            for d in session.exec(select(Detainee).where(column.in_(chunk))).scalars():
                subject = Subject(d.patient_id, d.facility_id, d.sex, d.birth_date)
                found[d.patient_id] = subject
                if d.booking_number:
                    found[d.booking_number] = subject
    return found


def check(sub: Submission, subject: Subject | None) -> Checked:
    test = catalogue().test(sub.loinc.strip())
    if test is None:
        raise Rejected(f"unknown test code {sub.loinc!r}", hold=True)
    if subject is None:
        raise Rejected(f"unknown detainee {sub.patient_id!r}", hold=True)
    at = as_utc(sub.effective_at)
    if at > utcnow() + FUTURE_TOLERANCE:
        raise Rejected(f"collection time {at.isoformat()} is in the future")
    band = test.band(subject.sex, subject.age_at(at))
    if test.quantitative:
        number = _number(test, sub.value)
        try:
            number = round(to_catalogue_unit(test, number, sub.unit), test.decimals + 2)
        except UnitError as exc:
            raise Rejected(str(exc)) from None
        value_num, value_code, flag = number, "", flag_quantity(test, number, band)
    else:
        try:
            value_code = qualitative.parse(test, str(sub.value))
        except ValueError as exc:
            raise Rejected(str(exc)) from None
        value_num, flag = None, flag_quality(test, value_code)
    key = _key(subject.patient_id, test.loinc, at, value_num if value_num is not None else value_code)
    return Checked(sub, test, subject, value_num, value_code, flag.value, band, key)


def _number(test: Test, value: object) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise Rejected(f"{test.abbr}: {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise Rejected(f"{test.abbr}: {value!r} is not a valid result")
    return number


def _key(patient_id: str, loinc: str, at: datetime, value: object) -> str:
    return hashlib.sha1(f"{patient_id}|{loinc}|{at.isoformat()}|{value}".encode()).hexdigest()


def _chunks(values: list, size: int = CHUNK):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def file(session: Session, checked: list[Checked], source: str) -> Filed:
    """Store the results that are new; duplicates (same detainee, test, time and value) are skipped."""
    filed = Filed()
    fresh = _without_duplicates(session, checked)
    filed.duplicates = len(checked) - len(fresh)
    if not fresh:
        return filed
    previous = _previous_values(session, fresh)
    groups: dict[tuple, list[Checked]] = defaultdict(list)
    for item in sorted(fresh, key=lambda c: c.submission.effective_at):
        groups[(item.subject.patient_id, item.test.panel, as_utc(item.submission.effective_at),
                item.submission.order_id)].append(item)
    resources, ids, rows = [], [], []
    recorded_at = utcnow()  # the batch's transaction: one moment for all of its results
    # Time-ordered ids: bulk inserts append to the B-trees instead of landing at random pages.
    fresh_ids = iter(store.new_ids(len(fresh) + len(groups)))
    for (patient_id, panel, at, order_id), items in groups.items():
        report_id = next(fresh_ids)
        obs_ids = []
        for item in items:
            obs_id = next(fresh_ids)
            obs_ids.append(obs_id)
            delta = _delta(item, previous, at)
            resources.append(fhir.observation(
                item.test, patient_id=patient_id, effective_at=at, value_num=item.value_num,
                value_code=item.value_code, flag=item.flag, band=item.band, order_id=order_id, delta=delta))
            ids.append(obs_id)
            rows.append({"patient_id": patient_id, "facility_id": item.subject.facility_id, "loinc": item.test.loinc,
                         "value_num": item.value_num, "value_code": item.value_code, "unit": item.test.unit,
                         "flag": item.flag, "delta_flag": delta, "effective_at": at, "recorded_at": recorded_at,
                         "source": source, "import_key": item.key, "observation_id": obs_id, "report_id": report_id,
                         "order_id": order_id})
        report = fhir.diagnostic_report(catalogue().panels[panel], patient_id=patient_id, effective_at=at,
                                        observation_ids=obs_ids, order_id=order_id)
        resources.append(report)
        ids.append(report_id)
        filed.report_ids.append(report_id)
    write_lab_rows = prepared_insert(session, LabResult.__table__, rows)
    store.create_many(session, resources, ids=ids, validated=True)  # built from templates: no validation
    write_lab_rows()
    filed.alert_ids = _raise_alerts(session, [r for r in rows if r["flag"] in CRITICAL])
    _complete_orders(session, {r["order_id"] for r in rows if r["order_id"]})
    filed.results = rows
    return filed


def _without_duplicates(session: Session, checked: list[Checked]) -> list[Checked]:
    keys = sorted({c.key for c in checked})
    known = set()
    for chunk in _chunks(keys):
        known.update(session.execute(select(LabResult.import_key).where(LabResult.import_key.in_(chunk))).scalars())
    fresh, seen = [], set()
    for item in checked:
        if item.key not in known and item.key not in seen:
            seen.add(item.key)
            fresh.append(item)
    return fresh


def _previous_values(session: Session, checked: list[Checked]) -> dict[tuple[str, str], Previous]:
    """The latest stored numeric result per (detainee, test) for the quantitative tests in ``checked``."""
    wanted = {(c.subject.patient_id, c.test.loinc) for c in checked if c.test.quantitative}
    if not wanted:
        return {}
    since = min(as_utc(c.submission.effective_at) for c in checked) - DELTA_WINDOW
    latest: dict[tuple[str, str], Previous] = {}
    numeric = LabResult.value_num.is_not(None)
    for chunk in _chunks(sorted({p for p, _ in wanted})):
        # Only each (detainee, test)'s newest row: reading every row since ``since`` cost a bulk
        # import more than the delta checks themselves (the index ends in effective_at).
        newest = (select(LabResult.patient_id, LabResult.loinc, func.max(LabResult.effective_at).label("at"))
                  .where(LabResult.patient_id.in_(chunk), LabResult.effective_at >= since, numeric)
                  .group_by(LabResult.patient_id, LabResult.loinc).subquery())
        query = (select(LabResult.patient_id, LabResult.loinc, LabResult.value_num, LabResult.effective_at)
                 .join(newest, (LabResult.patient_id == newest.c.patient_id) & (LabResult.loinc == newest.c.loinc)
                       & (LabResult.effective_at == newest.c.at))
                 .where(numeric).order_by(LabResult.effective_at, LabResult.id))
        for patient_id, loinc, value, at in session.execute(query):
            if (patient_id, loinc) in wanted:
                latest[(patient_id, loinc)] = Previous(value, as_utc(at))
    return latest


def _delta(item: Checked, previous: dict[tuple[str, str], Previous], at: datetime) -> bool:
    if item.value_num is None:
        return False
    key = (item.subject.patient_id, item.test.loinc)
    exceeded = delta_exceeded(item.test, item.value_num, previous.get(key), at)
    previous[key] = Previous(item.value_num, at)  # the next result of this batch compares with this one
    return exceeded


def _raise_alerts(session: Session, critical: list[dict]) -> list[int]:
    if not critical:
        return []
    ids = dict(session.execute(select(LabResult.import_key, LabResult.id)
                               .where(LabResult.import_key.in_([r["import_key"] for r in critical]))).all())
    alerts = [LabAlert(result_id=ids[r["import_key"]], patient_id=r["patient_id"], facility_id=r["facility_id"],
                       loinc=r["loinc"], value=display_value(r["value_num"], r["value_code"], r["unit"]), flag=r["flag"])
              for r in critical]
    session.add_all(alerts)
    session.flush()
    return [a.id for a in alerts]


def display_value(value_num: float | None, value_code: str, unit: str) -> str:
    if value_num is None:
        return qualitative.label(value_code, "zh-CN")
    return f"{value_num:g} {unit}".strip()


def _complete_orders(session: Session, order_ids: set[str]) -> None:
    for order_id in order_ids:
        session.execute(update(LabOrder).where(LabOrder.id == order_id).values(status="completed"))
        request = store.read(session, "ServiceRequest", order_id).resource
        if request.get("status") != "completed":
            request["status"] = "completed"
            request.pop("meta", None)
            store.update(session, request, order_id, validated=True)
