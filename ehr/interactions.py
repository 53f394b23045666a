"""The FHIR interactions as functions of (session, gate, ...): the REST handlers and the Bundle
processor both call these, so a Bundle entry obeys exactly the rules of the single request."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qsl

from sqlalchemy import select
from sqlmodel import Session

from ehr import search as fhir_search
from ehr import store
from ehr.access import CATALOG_TYPES, READ, WRITE, Gate
from ehr.errors import FhirError, Issue, conflict, invalid, not_found
from ehr.index import TABLES
from ehr.models import FhirHistory, FhirResource
from ehr.params import Kind
from ehr.store import PATIENT_PATHS, Stored
from ehr.validation import SUPPORTED_TYPES, validate
from ehr.validation import check_type as check_resource_type

R = FhirResource.__table__
H = FhirHistory.__table__
READ_ONLY_TYPES = frozenset({"AuditEvent"})
HISTORY_MAX = 500


def check_type(rtype: str) -> None:
    if rtype not in SUPPORTED_TYPES:
        raise FhirError(404, Issue("not-supported", f"resource type {rtype} is not supported here"))


def writable(rtype: str) -> None:
    check_type(rtype)
    if rtype in READ_ONLY_TYPES:
        raise FhirError(405, Issue("not-supported", f"{rtype} is read-only: it is kept by the audit trail"))


def current(session: Session, rtype: str, rid: str) -> Stored | None:
    row = session.get(FhirResource, (rtype, rid))
    return Stored.of(row) if row is not None else None


def read(session: Session, gate: Gate, rtype: str, rid: str) -> Stored:
    """The resource is read before access is decided: the decision (the role first) and its
    audit entry need the detainee it belongs to."""
    check_type(rtype)
    stored = store.read(session, rtype, rid)
    gate.check_read(session, stored, "fhir.read")
    return stored


def vread(session: Session, gate: Gate, rtype: str, rid: str, version: int) -> Stored:
    check_type(rtype)
    now = current(session, rtype, rid)
    if now is None:
        raise not_found(rtype, rid)
    gate.check(session, READ, "fhir.vread", rtype, rid, now.patient_id)
    return store.vread(session, rtype, rid, version)


def patient_required(resource: dict) -> str | None:
    return named_patient(resource["resourceType"], store.patient_of(resource))


def named_patient(rtype: str, patient_id: str | None) -> str | None:
    """A clinical resource must name its detainee (else no one could be allowed to see it)."""
    if patient_id is None and rtype not in CATALOG_TYPES:
        path = PATIENT_PATHS.get(rtype, ("subject",))[0]
        raise invalid(f"{rtype} must reference its Patient", [f"{rtype}.{path}"])
    return patient_id


def create(session: Session, gate: Gate, resource: dict, *, expected: str | None = None,
           if_none_exist: str | None = None, resource_id: str | None = None,
           validated: bool = False) -> tuple[Stored, bool]:
    """Returns (stored, created); with ``if_none_exist`` an existing match is returned instead.
    ``validated``: the resource has passed ``validate`` already (a Bundle's, in the workers)."""
    if if_none_exist:
        found = conditional_match(session, gate, _checked(resource, expected, validated), if_none_exist)
        if found is not None:
            return found, False
    rid = resource_id or store.new_id()
    prepare_create(session, gate, resource, rid, expected, validated=validated)
    return store.create(session, resource, resource_id=rid, validated=True), True


def _checked(resource: dict, expected: str | None, validated: bool) -> str:
    """The resource type; a resource not yet validated is validated here."""
    return check_resource_type(resource, expected) if validated else validate(resource, expected)


def prepare_create(session: Session, gate: Gate, resource: dict, rid: str, expected: str | None = None, *,
                   validated: bool = False) -> None:
    """Everything a create checks before it writes: validity, a named detainee, access."""
    rtype = _checked(resource, expected, validated)
    patient_id = rid if rtype == "Patient" else patient_required(resource)
    _allow_create(session, gate, resource, rtype, rid, patient_id)


def prepare_fresh(session: Session, gate: Gate, resource: dict, made: store.Fresh, expected: str | None = None) -> None:
    """``prepare_create`` for a create worked out ahead (validated, serialised and its detainee
    found, in a validation worker)."""
    rtype = check_resource_type(resource, expected)
    _allow_create(session, gate, resource, rtype, made.id, named_patient(rtype, made.patient_id))


def _allow_create(session: Session, gate: Gate, resource: dict, rtype: str, rid: str, patient_id: str | None) -> None:
    writable(rtype)
    gate.check_write(session, "fhir.create", resource, rid, patient_id, None)


def conditional_match(session: Session, gate: Gate, rtype: str, criteria: str) -> Stored | None:
    request = fhir_search.parse(rtype, parse_qsl(criteria.split("?", 1)[-1], keep_blank_values=True))
    if not request.criteria:
        raise invalid("If-None-Exist needs search criteria", ["If-None-Exist"], status=400)
    request.count = 2
    matches = fhir_search.search(session, request).matches
    if len(matches) > 1:
        raise conflict(f"If-None-Exist {criteria} matches more than one {rtype}")
    if matches:
        gate.check_read(session, matches[0], "fhir.read")
        return matches[0]
    return None


def update(session: Session, gate: Gate, resource: dict, rtype: str, rid: str,
           if_match: int | None = None, *, validated: bool = False) -> tuple[Stored, bool]:
    _checked(resource, rtype, validated)
    writable(rtype)
    if resource.get("id") not in (None, rid):
        raise invalid(f"the resource id {resource.get('id')} does not match the URL ({rid})", [f"{rtype}.id"], status=400)
    patient_id = rid if rtype == "Patient" else patient_required(resource)
    before = current(session, rtype, rid)
    gate.check_write(session, "fhir.update", resource, rid, patient_id, before if before and not before.deleted else None)
    return store.update(session, resource, rid, if_match=if_match, validated=True)


def delete(session: Session, gate: Gate, rtype: str, rid: str) -> Stored | None:
    writable(rtype)
    before = current(session, rtype, rid)
    if before is None or before.deleted:
        return None
    if rtype == "Patient":
        raise FhirError(409, Issue("business-rule", "a detainee's Patient record cannot be deleted"))
    gate.check(session, WRITE, "fhir.delete", rtype, rid, before.patient_id)
    return store.delete(session, rtype, rid)


def search(session: Session, gate: Gate, rtype: str, query: list[tuple[str, str]]) -> tuple[fhir_search.SearchRequest, fhir_search.SearchResult]:
    check_type(rtype)
    request = fhir_search.parse(rtype, query)
    patients = request.patient_refs()
    gate.require_clinical("fhir.search", rtype, patients)
    for pid in sorted(patients):
        gate.check(session, READ, "fhir.search", "Patient", pid, pid)
    restrict = gate.restriction(session, rtype)
    if patients and not gate.shares_only and rtype not in CATALOG_TYPES:
        restrict = R.c.patient_id.in_(patients)
    result = fhir_search.search(session, request, restrict,
                                include_filter=lambda found: gate.visible(session, found, "fhir.search"))
    if not patients:
        gate.note_results(session, "fhir.search", result.matches, f"{rtype}?")
    return request, result


def history(session: Session, gate: Gate, rtype: str | None, rid: str | None, *,
            since: datetime | None = None, count: int = 100) -> list[Stored]:
    """Instance history (rid given; access decided on the resource) or type history (filtered to
    the caller's scope)."""
    count = min(count, HISTORY_MAX)
    if rid is not None:
        now = current(session, rtype, rid)
        if now is None:
            raise not_found(rtype, rid)
        gate.check(session, READ, "fhir.history", rtype, rid, now.patient_id)
        return store.history(session, rtype, rid, since=since, count=count)
    check_type(rtype)
    gate.require_clinical("fhir.history", rtype)
    query = store.HISTORY.where(H.c.type == rtype)
    restrict = gate.restriction(session, rtype)
    if restrict is not None:
        query = query.where(restrict)
    if since is not None:
        query = query.where(H.c.last_updated >= since)
    rows = session.execute(query.order_by(H.c.last_updated.desc(), H.c.version.desc()).limit(count)).all()
    found = [Stored(*row) for row in rows]
    gate.note_results(session, "fhir.history", found, f"{rtype}/_history")
    return found


def history_methods(session: Session, found: list[Stored]) -> dict[tuple[str, str, int], str]:
    keys = {(s.type, s.id) for s in found}
    methods: dict[tuple[str, str, int], str] = {}
    for rtype, rid in keys:
        rows = session.execute(select(H.c.version, H.c.method).where(H.c.type == rtype, H.c.id == rid)).all()
        methods.update({(rtype, rid, v): m for v, m in rows})
    return methods


def everything(session: Session, gate: Gate, patient_id: str) -> list[Stored]:
    patient = read(session, gate, "Patient", patient_id)
    records = store.by_patient(session, patient_id)
    others = gate.record_of(session, [s for s in records if (s.type, s.id) != ("Patient", patient_id)], "fhir.everything")
    referenced = _referenced_catalog(session, [patient, *others])
    return [patient, *others, *referenced]


def _referenced_catalog(session: Session, found: list[Stored]) -> list[Stored]:
    """Organizations, Practitioners... that the record points at, so the export stands alone."""
    refs = TABLES[Kind.REFERENCE]
    keys = set()
    for stored in found:
        rows = session.execute(select(refs.c.target_type, refs.c.target_id).where(
            refs.c.res_type == stored.type, refs.c.res_id == stored.id, refs.c.target_type.in_(CATALOG_TYPES))).all()
        keys.update(rows)
    return fhir_search.load_many(session, keys) if keys else []
