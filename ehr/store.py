"""Resource storage: create, read, vread, update, delete and history, on one SQL session.

Callers own the transaction: a lab import or a signed consult note writes several resources
in one session and commits once. Each write validates (once), stamps ``meta``, stores the
bytes that reads will serve, appends a history row and refreshes the search index.

The history row of the current version leaves its content empty (``SAME_AS_CURRENT``): the
current row holds the same bytes, and bulk creates then write each resource's JSON once, not
twice. The content is filled in ("settled") just before the current row changes.
"""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import datetime
from typing import NamedTuple

import orjson
from sqlalchemy import bindparam, case
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlmodel import Session, select

from ehr import index
from ehr.custody import sync_detainee
from ehr.errors import conflict, gone, not_found
from ehr.models import FhirHistory, FhirResource
from ehr.params import Kind
from ehr.validation import validate
from telemed.db import bound, insert_sql
from telemed.lookups import Prepared
from telemed.models import Detainee
from telemed.timeutil import fhir_instant, utcnow

# Where each type points at its patient (its compartment), in the order tried.
PATIENT_PATHS: dict[str, tuple[str, ...]] = {
    "Encounter": ("subject",),
    "Condition": ("subject",),
    "AllergyIntolerance": ("patient",),
    "MedicationRequest": ("subject",),
    "MedicationStatement": ("subject",),
    "Observation": ("subject",),
    "DiagnosticReport": ("subject",),
    "ServiceRequest": ("subject",),
    "DocumentReference": ("subject",),
    "Consent": ("patient",),
    "MedicationAdministration": ("subject",),
    "QuestionnaireResponse": ("subject",),
    "Flag": ("subject",),
    "Task": ("for",),
}


class Stored(NamedTuple):
    """One stored version. A tuple: reads build one per resource served, and a frozen
    dataclass's constructor cost five times as much."""

    type: str
    id: str
    version: int
    last_updated: datetime
    deleted: bool
    patient_id: str | None
    content: bytes

    @property
    def resource(self) -> dict:
        return orjson.loads(self.content)

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @classmethod
    def of(cls, row: FhirResource) -> "Stored":
        return cls(row.type, row.id, row.version, row.last_updated, row.deleted, row.patient_id, row.content)


def patient_of(resource: dict) -> str | None:
    rtype = resource["resourceType"]
    if rtype == "Patient":
        return resource.get("id")
    if rtype == "Appointment":
        refs = [p.get("actor", {}).get("reference", "") for p in resource.get("participant", [])]
    elif rtype == "Provenance":
        refs = [t.get("reference", "") for t in resource.get("target", [])]
    else:
        refs = [resource.get(path, {}).get("reference", "") for path in PATIENT_PATHS.get(rtype, ())]
    return next((r.removeprefix("Patient/") for r in refs if r.startswith("Patient/")), None)


def new_id() -> str:
    """A time-ordered UUID (the version 7 layout): new rows land at the end of every index keyed
    by resource id instead of on random pages, which keeps bulk writes and commits cheap."""
    millis = time.time_ns() // 1_000_000
    value = (millis << 80) | (0x7 << 76) | (secrets.randbits(12) << 64) | (0b10 << 62) | secrets.randbits(62)
    return str(uuid.UUID(int=value))


def new_ids(count: int) -> list[str]:
    """``count`` time-ordered ids for one bulk write: one clock reading and one random draw,
    then consecutive values, so they also sort in the order they were handed out."""
    millis = time.time_ns() // 1_000_000
    head = (millis << 80) | (0x7 << 76) | (secrets.randbits(12) << 64) | (0b10 << 62)
    start = secrets.randbits(61)  # room to count up without carrying into the version bits
    return [str(uuid.UUID(int=head | (start + n))) for n in range(count)]


def create(session: Session, resource: dict, *, resource_id: str | None = None, validated: bool = False) -> Stored:
    rtype = resource["resourceType"] if validated else validate(resource)
    rid = resource_id or new_id()
    return _write(session, rtype, rid, resource, version=1, method="POST")


SAME_AS_CURRENT = b""
_R = FhirResource.__table__
_H = FhirHistory.__table__
_READ = sa_select(_R.c.type, _R.c.id, _R.c.version, _R.c.last_updated, _R.c.deleted, _R.c.patient_id, _R.c.content)


_D = Detainee.__table__
# A resource with the facility holding its detainee: what most access decisions need.
READ_WITH_FACILITY = Prepared(
    _READ.add_columns(_D.c.facility_id)
    .select_from(_R.outerjoin(_D, _D.c.patient_id == _R.c.patient_id))
    .where(_R.c.type == bindparam("type"), _R.c.id == bindparam("id")))


def with_facility(row: tuple) -> tuple[Stored, str | None]:
    """A row of ``READ_WITH_FACILITY`` as (stored, facility id)."""
    return Stored(*row[:-1]), row[-1]


def read(session: Session, rtype: str, rid: str) -> Stored:
    # A Core select, not session.get: reads are the hot path and need no ORM identity.
    row = session.execute(_READ.where(_R.c.type == rtype, _R.c.id == rid)).first()
    if row is None:
        raise not_found(rtype, rid)
    if row.deleted:
        raise gone(rtype, rid)
    return Stored(*row)


# Every version, as served: a history row joined to its current row for the patient and, while
# it is the current version, the content.
HISTORY = (sa_select(_H.c.type, _H.c.id, _H.c.version, _H.c.last_updated, _H.c.deleted, _R.c.patient_id,
                     case((_H.c.content == SAME_AS_CURRENT, _R.c.content), else_=_H.c.content))
           .join(_R, (_R.c.type == _H.c.type) & (_R.c.id == _H.c.id)))


def vread(session: Session, rtype: str, rid: str, version: int) -> Stored:
    row = session.execute(HISTORY.where(_H.c.type == rtype, _H.c.id == rid, _H.c.version == version)).first()
    if row is None:
        raise not_found(rtype, f"{rid}/_history/{version}")
    if row.deleted:
        raise gone(rtype, f"{rid}/_history/{version}")
    return Stored(*row)


def _settle(session: Session, current: FhirResource) -> None:
    """Give the current version's history row its own content, before the current row changes."""
    session.execute(sa_update(_H).where(_H.c.type == current.type, _H.c.id == current.id,
                                        _H.c.version == current.version, _H.c.content == SAME_AS_CURRENT)
                    .values(content=current.content))


def update(session: Session, resource: dict, rid: str, *, if_match: int | None = None, validated: bool = False) -> tuple[Stored, bool]:
    """Write a new version (or the first, update-as-create). Returns (stored, created)."""
    rtype = resource["resourceType"] if validated else validate(resource)
    current = session.get(FhirResource, (rtype, rid))
    if if_match is not None and (current is None or current.version != if_match):
        have = "none" if current is None else current.version
        raise conflict(f"{rtype}/{rid} is at version {have}, not {if_match}")
    version = current.version + 1 if current else 1
    return _write(session, rtype, rid, resource, version=version, method="PUT", current=current), current is None


def delete(session: Session, rtype: str, rid: str) -> Stored | None:
    """Soft delete: the resource reads as 410 Gone and its versions stay in history."""
    current = session.get(FhirResource, (rtype, rid))
    if current is None or current.deleted:
        return None
    now = utcnow()
    _settle(session, current)
    current.version += 1
    current.deleted = True
    current.last_updated = now
    session.add(current)
    session.add(FhirHistory(type=rtype, id=rid, version=current.version, last_updated=now,
                            method="DELETE", deleted=True, content=SAME_AS_CURRENT))
    index.remove(session, rtype, rid)
    session.flush()
    return Stored.of(current)


def history(session: Session, rtype: str | None = None, rid: str | None = None, *,
            since: datetime | None = None, count: int = 100) -> list[Stored]:
    query = HISTORY
    if rtype:
        query = query.where(_H.c.type == rtype)
    if rid:
        query = query.where(_H.c.id == rid)
    if since:
        query = query.where(_H.c.last_updated >= since)
    rows = session.execute(query.order_by(_H.c.last_updated.desc(), _H.c.version.desc()).limit(count)).all()
    return [Stored(*row) for row in rows]


def by_patient(session: Session, patient_id: str, types: tuple[str, ...] = ()) -> list[Stored]:
    query = select(FhirResource).where(FhirResource.patient_id == patient_id, FhirResource.deleted == False)  # noqa: E712
    if types:
        query = query.where(FhirResource.type.in_(types))
    rows = session.exec(query.order_by(FhirResource.last_updated)).all()
    return [Stored.of(r) for r in rows]


def exists(session: Session, rtype: str, rid: str) -> bool:
    return session.execute(
        sa_select(FhirResource.version).where(FhirResource.type == rtype, FhirResource.id == rid,
                                              FhirResource.deleted == False)  # noqa: E712
    ).first() is not None


class Fresh(NamedTuple):
    """A first version, worked out whole before its transaction (in a validation worker, for a
    large Bundle): the transaction only inserts its rows."""

    type: str
    id: str
    last_updated: datetime
    patient_id: str | None
    content: bytes
    rows: dict[Kind, set[tuple]]  # its search-index rows

    def stored(self) -> Stored:
        return Stored(self.type, self.id, 1, self.last_updated, False, self.patient_id, self.content)


def fresh(resource: dict, rid: str, now: datetime) -> Fresh:
    """The first version of a valid resource: stamped, serialised and indexed."""
    rtype = resource["resourceType"]
    body = _stamped(resource, rid, 1, now)
    patient_id = patient_of(body)
    return Fresh(rtype, rid, now, patient_id, orjson.dumps(body), index.rows_of(rtype, rid, body, patient_id))


def create_many(session: Session, resources: list[dict], *, ids: list[str] | None = None,
                validated: bool = False) -> list[Stored]:
    """Create many new resources with one executemany per table instead of an ORM flush each:
    the path for imports and bulk writes. The ids must be new."""
    now = utcnow()
    made = []
    for n, resource in enumerate(resources):
        if not validated:
            validate(resource)
        made.append(fresh(resource, ids[n] if ids else new_id(), now))
    return insert_fresh(session, made)


def insert_fresh(session: Session, made: list[Fresh]) -> list[Stored]:
    """Insert first versions (their ids new) with one executemany per table."""
    rows: dict[Kind, list[tuple]] = {}
    for f in made:
        if f.type == "Patient":
            sync_detainee(session, orjson.loads(f.content))
        for kind, found in f.rows.items():
            rows.setdefault(kind, []).extend(found)
    stored = [f.stored() for f in made]
    if stored:
        session.flush()  # detainee rows first
        _insert_versions(session, stored)
        index.write_rows(session, rows)
    return stored


def _insert_versions(session: Session, stored: list[Stored]) -> None:
    """The resource and history rows through the driver's executemany. Rows written together
    share their time, so its column type's conversion runs once per time, not per row."""
    connection = session.connection()
    column = FhirResource.__table__.c.last_updated
    stamps = {moment: bound(column, moment, connection.dialect) for moment in {s.last_updated for s in stored}}
    # Both row lists before the first INSERT, which takes SQLite's write lock.
    current = [(s.type, s.id, 1, stamps[s.last_updated], False, s.patient_id, s.content) for s in stored]
    history = [(s.type, s.id, 1, stamps[s.last_updated], "POST", False, SAME_AS_CURRENT) for s in stored]
    connection.exec_driver_sql(
        insert_sql(connection, FhirResource.__tablename__,
                   ("type", "id", "version", "last_updated", "deleted", "patient_id", "content")), current)
    connection.exec_driver_sql(
        insert_sql(connection, FhirHistory.__tablename__,
                   ("type", "id", "version", "last_updated", "method", "deleted", "content")), history)


def _stamped(resource: dict, rid: str, version: int, now: datetime) -> dict:
    body = dict(resource)
    body["id"] = rid
    meta = dict(body.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = fhir_instant(now)
    body["meta"] = meta
    return body


def _write(session: Session, rtype: str, rid: str, resource: dict, *, version: int, method: str,
           current: FhirResource | None = None) -> Stored:
    now = utcnow()
    body = _stamped(resource, rid, version, now)
    content = orjson.dumps(body)
    patient_id = patient_of(body)
    if rtype == "Patient":
        sync_detainee(session, body)
    if current is not None:
        _settle(session, current)
    row = current or FhirResource(type=rtype, id=rid, version=version, last_updated=now, content=content)
    row.version, row.last_updated, row.deleted = version, now, False
    row.patient_id, row.content = patient_id, content
    session.add(row)
    session.add(FhirHistory(type=rtype, id=rid, version=version, last_updated=now, method=method,
                            content=SAME_AS_CURRENT))
    index.reindex(session, rtype, rid, body, fresh=current is None, patient_id=patient_id)
    session.flush()
    return Stored(rtype, rid, version, now, False, patient_id, content)
