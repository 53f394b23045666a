"""The one path every result takes, whatever brought it (manual entry, file import, HL7):
check it against the catalogue, flag it, de-duplicate it, delta-check it, and file it as
Observations grouped in one DiagnosticReport per panel, with the narrow rows and alerts."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Row, func, select
from sqlmodel import Session

from ehr import store
from labs import corrections, fhir, qualitative
from labs.corrections import WITHDRAWN
from labs.catalog import Band, Test, catalogue
from labs.fast_insert import prepared_insert
from labs.flags import CRITICAL, DELTA_WINDOW, Previous, delta_exceeded, flag_quality, flag_reading
from labs.plausible import implausible
from labs.specimen import conditions_in
from labs.values import NotAValue, Reading, display, finite, parse as parse_value
from labs.models import LabAlert, LabResult
from labs.worklist import settle_orders
from labs.units import UnitError, to_catalogue_unit
from telemed.models import Detainee
from telemed.timeutil import as_utc, utcnow

FUTURE_TOLERANCE = timedelta(minutes=10)
STATUSES = ("preliminary", "final", "corrected", "cancelled", "entered-in-error")
# HL7 v2 table 0085 (OBX-11) -> FHIR Observation.status; I (specimen in lab), N (not asked) and
# O (order detail) carry no result yet.
V2_STATUS = {"P": "preliminary", "R": "preliminary", "S": "preliminary", "F": "final", "U": "final",
             "C": "corrected", "X": "cancelled", "D": "entered-in-error", "W": "entered-in-error"}
NO_RESULT = frozenset({"I", "N", "O"})


def status_of(code: str) -> str | None:
    """The FHIR status an OBX-11 code or a file's status cell (either vocabulary) means; None:
    no result yet; an unknown code is returned as it is, for check() to refuse."""
    code = code.strip()
    if code.upper() in NO_RESULT:
        return None
    return V2_STATUS.get(code.upper() or "F", code.lower())
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
    status: str = "final"  # FHIR Observation.status (STATUSES)
    notes: tuple[str, ...] = ()  # comments on this result (HL7: NTEs after its OBX)
    report_notes: tuple[str, ...] = ()  # comments on the request or specimen (NTEs after the OBR)
    specimen_id: str | None = None  # the accession or specimen id, when the sender gives one
    conditions: tuple[str, ...] = ()  # specimen conditions already known (a person's correction keeps them)
    reason: str = ""  # why a person corrected it
    author: str = ""  # who did


@dataclass(frozen=True)
class Checked:
    submission: Submission
    test: Test
    subject: Subject
    value_num: float | None  # a plain or censored number (censored: its limit)
    value_code: str
    flag: str
    band: Band | None
    key: str
    conditions: tuple[str, ...] = ()
    reading: Reading | None = None
    value_text: str = ""  # as written, when not a plain number
    comparator: str = ""

    @property
    def status(self) -> str:
        return self.submission.status


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
    if sub.status not in STATUSES:
        raise Rejected(f"{test.abbr}: unknown result status {sub.status!r}")
    at = as_utc(sub.effective_at)
    if at > utcnow() + FUTURE_TOLERANCE:
        raise Rejected(f"collection time {at.isoformat()} is in the future")
    band = test.band(subject.sex, subject.age_at(at))
    conditions = tuple(dict.fromkeys([*sub.conditions, *(c for note in (*sub.report_notes, *sub.notes)
                                                           for c in conditions_in(note))]))
    key = identity_key(subject.patient_id, test.loinc, sub.specimen_id, at)
    common = {"submission": sub, "test": test, "subject": subject, "band": band, "key": key,
              "conditions": conditions}
    if str(sub.value).strip() == "" and sub.status in WITHDRAWN:
        return Checked(**common, value_num=None, value_code="", flag="")
    if test.quantitative:
        reading = _reading(test, sub)
        number = reading.number if reading.kind in ("number", "censored") else None
        text = "" if reading.kind == "number" else reading.text()
        return Checked(**common, value_num=number, value_code="", flag=flag_reading(test, reading, band).value,
                       reading=reading, value_text=text, comparator=reading.comparator)
    try:
        value_code = qualitative.parse(test, str(sub.value))
    except ValueError as exc:
        raise Rejected(str(exc)) from None
    return Checked(**common, value_num=None, value_code=value_code, flag=flag_quality(test, value_code).value)


def _reading(test: Test, sub: Submission) -> Reading:
    """The value in the catalogue unit; an implausible one is held for a person (never filed)."""
    try:
        reading = parse_value(sub.value)
    except NotAValue as exc:
        raise Rejected(f"{test.abbr}: {exc}") from None
    if not finite(reading):
        raise Rejected(f"{test.abbr}: {sub.value!r} is not plausible (not a finite number)", hold=True)
    try:
        factor = to_catalogue_unit(test, 1.0, sub.unit)
    except UnitError as exc:
        raise Rejected(str(exc)) from None
    reading = reading.scaled(factor, test.decimals + 2)
    reason = implausible(test, reading)
    if reason:
        raise Rejected(f"{test.abbr}: {sub.value!r} is not plausible ({reason})", hold=True)
    return reading


def identity_key(patient_id: str, loinc: str, specimen_id: str | None, at: datetime) -> str:
    """One result's identity: the detainee, the test, and the specimen (its accession or id
    when the sender gives one, else its collection time). A second result with the same
    identity is a new version of the first: a correction, or the final after a preliminary."""
    specimen = f"specimen:{specimen_id}" if specimen_id else f"at:{as_utc(at).isoformat()}"
    return hashlib.sha1(f"{patient_id}|{loinc}|{specimen}".encode()).hexdigest()


def _chunks(values: list, size: int = CHUNK):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def file(session: Session, checked: list[Checked], source: str) -> Filed:
    """Store the results that are new and the new versions of those already stored (a final
    after a preliminary, a correction, a withdrawal); resent ones are counted as duplicates,
    as is a preliminary that arrives after its final."""
    filed = Filed()
    first, later = _first_of_each(checked)
    stored = _stored(session, first)
    fresh, revised = [], []
    for item in first:
        row = stored.get(item.key)
        if row is None:
            fresh.append(item)
        elif corrections.changes(row, item):
            revised.append((session.get(LabResult, row.id), item))
        else:
            filed.duplicates += 1
    if fresh:
        _file_fresh(session, fresh, source, filed)
    if revised:
        outcome = corrections.revise(session, revised, source)
        filed.results += outcome.rows
        filed.alert_ids += outcome.alert_ids
        settle_orders(session, {row.order_id for row, _ in revised if row.order_id})
    if later:  # a second result of the same specimen and test in one batch: a new version of the first
        rest = file(session, later, source)
        filed.results += rest.results
        filed.duplicates += rest.duplicates
        filed.alert_ids += rest.alert_ids
        filed.report_ids += rest.report_ids
    return filed


def _first_of_each(checked: list[Checked]) -> tuple[list[Checked], list[Checked]]:
    first, later, seen = [], [], set()
    for item in checked:
        (later if item.key in seen else first).append(item)
        seen.add(item.key)
    return first, later


def _stored(session: Session, checked: list[Checked]) -> dict[str, Row]:
    """What the stored results with these identities hold (a re-imported file matches all of
    its rows: columns, not ORM objects)."""
    columns = (LabResult.import_key, LabResult.id, LabResult.value_num, LabResult.value_code, LabResult.value_text,
               LabResult.status, LabResult.conditions)
    found: dict[str, Row] = {}
    for chunk in _chunks(sorted({c.key for c in checked})):
        query = select(*columns).where(LabResult.import_key.in_(chunk))
        found.update((r.import_key, r) for r in session.execute(query))
    return found


def _file_fresh(session: Session, fresh: list[Checked], source: str, filed: Filed) -> None:
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
            resources.append(fhir.observation_of(item, effective_at=at, order_id=order_id, delta=delta))
            ids.append(obs_id)
            rows.append(_row(item, source, delta=delta, observation_id=obs_id, report_id=report_id,
                             recorded_at=recorded_at))
        report = fhir.diagnostic_report(catalogue().panels[panel], patient_id=patient_id, effective_at=at,
                                        observation_ids=obs_ids, order_id=order_id,
                                        status=fhir.report_status([i.status for i in items]),
                                        notes=_report_notes(items))
        resources.append(report)
        ids.append(report_id)
        filed.report_ids.append(report_id)
    write_lab_rows = prepared_insert(session, LabResult.__table__, rows)
    store.create_many(session, resources, ids=ids, validated=True)  # built from templates: no validation
    write_lab_rows()
    critical = [r for r in rows if r["flag"] in CRITICAL and r["status"] not in WITHDRAWN]
    filed.alert_ids += raise_alerts(session, critical)
    settle_orders(session, {r["order_id"] for r in rows if r["order_id"]})
    filed.results += rows


def _row(item: Checked, source: str, **fields) -> dict:
    """The narrow lab_result row of a checked result."""
    return {"patient_id": item.subject.patient_id, "facility_id": item.subject.facility_id, "loinc": item.test.loinc,
            "value_num": item.value_num, "value_code": item.value_code, "value_text": item.value_text,
            "comparator": item.comparator, "unit": item.test.unit, "flag": item.flag, "status": item.status,
            "conditions": ",".join(item.conditions), "specimen_id": item.submission.specimen_id,
            "delta_flag": fields.pop("delta"), "effective_at": as_utc(item.submission.effective_at),
            "source": source, "import_key": item.key, "order_id": item.submission.order_id, **fields}


def _report_notes(items: list[Checked]) -> tuple[str, ...]:
    """Comments on the whole request or specimen (NTEs after the OBR), once each."""
    return tuple(dict.fromkeys(n for item in items for n in item.submission.report_notes))


def _previous_values(session: Session, checked: list[Checked]) -> dict[tuple[str, str], Previous]:
    """The latest stored numeric result per (detainee, test) for the quantitative tests in ``checked``."""
    wanted = {(c.subject.patient_id, c.test.loinc) for c in checked if c.test.quantitative}
    if not wanted:
        return {}
    since = min(as_utc(c.submission.effective_at) for c in checked) - DELTA_WINDOW
    latest: dict[tuple[str, str], Previous] = {}
    # Censored values and withdrawn results say nothing a change can be measured from.
    numeric = LabResult.value_num.is_not(None) & (LabResult.comparator == "") & LabResult.status.not_in(WITHDRAWN)
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
    if item.value_num is None or item.comparator:
        return False
    key = (item.subject.patient_id, item.test.loinc)
    exceeded = delta_exceeded(item.test, item.value_num, previous.get(key), at)
    previous[key] = Previous(item.value_num, at)  # the next result of this batch compares with this one
    return exceeded


def raise_alerts(session: Session, critical: list[dict]) -> list[int]:
    """An alert per critical row (rows just inserted are found by their key)."""
    if not critical:
        return []
    ids = dict(session.execute(select(LabResult.import_key, LabResult.id)
                               .where(LabResult.import_key.in_([r["import_key"] for r in critical]))).all())
    alerts = [LabAlert(result_id=ids[r["import_key"]], patient_id=r["patient_id"], facility_id=r["facility_id"],
                       loinc=r["loinc"], value=display(r["value_num"], r["value_code"], r["value_text"],
                                                              r["unit"]), flag=r["flag"])
              for r in critical]
    session.add_all(alerts)
    session.flush()
    return [a.id for a in alerts]
