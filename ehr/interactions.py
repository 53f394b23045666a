"""The FHIR interactions as functions of (session, gate, ...): the REST handlers and the Bundle
processor both call these, so a Bundle entry obeys exactly the rules of the single request."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qsl

from typing import NamedTuple

import jsonpatch
import jsonpointer
from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlmodel import Session

from ehr import search as fhir_search
from ehr import store
from ehr.access import CATALOG_TYPES, NO_DETAINEE, READ, WRITE, Gate
from ehr.errors import FhirError, Issue, conflict, forbidden, gone, invalid, not_found, unassignable
from ehr.index import TABLES
from ehr.models import FhirHistory, FhirResource
from ehr.params import Kind
from ehr.store import PATIENT_PATHS, Stored
from ehr.validation import SUPPORTED_TYPES, validate
from ehr.validation import check_type as check_resource_type
from telemed.policy import Decision, may

R = FhirResource.__table__
H = FhirHistory.__table__
READ_ONLY_TYPES = frozenset({"AuditEvent"})
HISTORY_MAX = 500
HISTORY_DEFAULT = 100


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
    stored = current(session, rtype, rid)
    if stored is None:
        raise not_found(rtype, rid)
    gate.check_read(session, stored, "fhir.read")  # before 410: a deleted resource out of scope is unknown
    if stored.deleted:
        raise gone(rtype, rid)
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
    if patient_id is None and rtype not in NO_DETAINEE:
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


def conditional_match(session: Session, gate: Gate, rtype: str, criteria: str, what: str = "If-None-Exist") -> Stored | None:
    """The one resource matching ``criteria`` among those the caller may read, or None:
    what the caller may not read is not there for it (else the answer would tell)."""
    matches = conditional_matches(session, gate, rtype, criteria, what, 2)
    if len(matches) > 1:
        raise conflict(f"{what} {criteria} matches more than one {rtype}")
    return matches[0] if matches else None


def conditional_matches(session: Session, gate: Gate, rtype: str, criteria: str, what: str, count: int) -> list[Stored]:
    query = parse_qsl(criteria.split("?", 1)[-1], keep_blank_values=True)
    if not any(value for _, value in query):
        raise invalid(f"{what} needs search criteria", [what], status=400)
    request = fhir_search.parse(rtype, query)
    if any(key in fhir_search.RESULT_PARAMS for key, _ in query):
        raise invalid(f"{what} takes search criteria only", [what], status=400)
    request.count = count
    return visible_search(session, gate, request, "fhir.read").matches


def update(session: Session, gate: Gate, resource: dict, rtype: str, rid: str,
           if_match: int | None = None, *, validated: bool = False) -> tuple[Stored, bool]:
    _checked(resource, rtype, validated)
    writable(rtype)
    if resource.get("id") not in (None, rid):
        raise invalid(f"the resource id {resource.get('id')} does not match the URL ({rid})", [f"{rtype}.id"], status=400)
    patient_id = rid if rtype == "Patient" else patient_required(resource)
    before = existing(session, gate, rtype, rid, "fhir.update")
    gate.check_write(session, "fhir.update", resource, rid, patient_id, None if before.deleted else before)
    return store.update(session, resource, rid, if_match=if_match, validated=True)


def existing(session: Session, gate: Gate, rtype: str, rid: str, action: str) -> Stored:
    """The resource a PUT replaces. There is no update-as-create: an id the store does not hold
    and one the caller may not read get the same answer (``unassignable``). Refusals that say
    nothing of the data (the role, a token's scopes) come first, for every id alike."""
    may_write(gate, action, f"{rtype}/{rid}")
    refused = gate.scope_refusal(rtype, "u")
    if refused is not None:
        raise forbidden(gate.note(action, refused, None, f"{rtype}/{rid}").reason)
    before = current(session, rtype, rid)
    if before is None:
        raise unassignable(rtype, rid)
    decision = gate.decide(session, READ, rtype, rid, before.patient_id)
    if not decision.allowed:
        gate.note(action, decision, before.patient_id, f"{rtype}/{rid}")
        raise unassignable(rtype, rid)
    return before


def delete(session: Session, gate: Gate, rtype: str, rid: str) -> Stored | None:
    """A role that may not write is refused whatever the id; an id unknown or out of the
    caller's scope is 404 alike; deleting a deleted resource again changes nothing (None)."""
    writable(rtype)
    may_write(gate, "fhir.delete", f"{rtype}/{rid}")
    before = current(session, rtype, rid)
    if before is None:
        raise not_found(rtype, rid)
    if rtype == "Patient":
        raise FhirError(405, Issue("not-supported", "a detainee's Patient record cannot be deleted"))
    try:
        gate.check(session, WRITE, "fhir.delete", rtype, rid, before.patient_id)
    except FhirError:
        raise not_found(rtype, rid) from None
    return None if before.deleted else store.delete(session, rtype, rid)


def may_write(gate: Gate, action: str, resource: str) -> None:
    """A role that never writes clinical data is refused before anything is looked up."""
    if not may(gate.who, WRITE):
        decision = gate.note(action, Decision(False, f"role {gate.who.role} may not {WRITE.value}"), None, resource)
        raise forbidden(decision.reason)


def search(session: Session, gate: Gate, rtype: str, query: list[tuple[str, str]], *,
           base: str | None = None, lenient: bool = False) -> tuple[fhir_search.SearchRequest, fhir_search.SearchResult]:
    """``base``: this server's base URL, which absolute references in the query may use;
    ``lenient``: unknown parameters are left out (``Prefer: handling=lenient``), not refused."""
    check_type(rtype)
    request = fhir_search.parse(rtype, query, base=base, lenient=lenient)
    return request, visible_search(session, gate, request, "fhir.search")


def visible_search(session: Session, gate: Gate, request: fhir_search.SearchRequest, action: str) -> fhir_search.SearchResult:
    """The search over what the caller may read. A detainee the query names but the caller may
    not read (or that does not exist) matches nothing; the refusal is audited."""
    rtype = request.rtype
    patients = request.patient_refs()
    gate.require_clinical(action, rtype, patients)
    allowed = {pid for pid in sorted(patients)
               if gate.note(action, gate.decide(session, READ, "Patient", pid, pid), pid, f"Patient/{pid}").allowed}
    restrict = gate.restriction(session, rtype)
    if patients and not gate.shares_only and rtype not in NO_DETAINEE:
        restrict = R.c.patient_id.in_(allowed)
    elif patients and rtype not in NO_DETAINEE:
        restrict = and_(restrict, R.c.patient_id.in_(allowed))
    result = fhir_search.search(session, request, restrict,
                                include_filter=lambda found: gate.visible(session, found, action),
                                restriction=lambda inner: gate.restriction(session, inner))
    if not patients:
        gate.note_results(session, action, result.matches, f"{rtype}?")
    return result


class HistoryPage(NamedTuple):
    found: list[Stored]
    total: int
    next_cursor: str | None


def history(session: Session, gate: Gate, rtype: str | None, rid: str | None, *,
            since: datetime | None = None, count: int = 100, cursor: str | None = None) -> HistoryPage:
    """Instance history (rid given; access decided on the resource), type history, or system
    history (rtype None), the last two filtered to the caller's scope. Newest first, paged by
    keyset; ``total`` counts every version the caller may see."""
    count = min(count, HISTORY_MAX)
    if rid is not None:
        check_type(rtype)
        now = current(session, rtype, rid)
        if now is None:
            raise not_found(rtype, rid)
        gate.check(session, READ, "fhir.history", rtype, rid, now.patient_id)
        conditions = [H.c.type == rtype, H.c.id == rid]
    else:
        if rtype is not None:
            check_type(rtype)
        gate.require_clinical("fhir.history", rtype or "*")
        conditions = [H.c.type == rtype] if rtype else []
        restrict = gate.restriction(session, rtype) if rtype else _system_restriction(session, gate)
        if restrict is not None:
            conditions.append(restrict)
    if since is not None:
        conditions.append(H.c.last_updated >= since)
    total = session.execute(select(func.count()).select_from(H.join(R, (R.c.type == H.c.type) & (R.c.id == H.c.id)))
                            .where(*conditions)).scalar_one()
    query = store.HISTORY.where(*conditions)
    if cursor is not None:
        query = query.where(_history_after(cursor))
    order = (H.c.last_updated.desc(), H.c.type.desc(), H.c.id.desc(), H.c.version.desc())
    rows = session.execute(query.order_by(*order).limit(count + 1)).all()
    found = [Stored(*row) for row in rows[:count]]
    if rid is None:
        gate.note_results(session, "fhir.history", found, f"{rtype or ''}/_history")
    last = found[-1] if found and len(rows) > count else None  # _count=0: the total alone
    next_cursor = fhir_search.encode_cursor([last.last_updated.isoformat(), last.type, last.id, last.version]) if last else None
    return HistoryPage(found, total, next_cursor)


def _system_restriction(session: Session, gate: Gate) -> ColumnElement:
    """What of every type the caller may read (the scope of non-catalog types is the same for
    every type but Patient), within the types a token's scopes grant."""
    others = gate.policy_restriction(session, "Observation")
    patients = gate.policy_restriction(session, "Patient")
    allowed = or_(R.c.type.in_(CATALOG_TYPES),
                  and_(R.c.type == "Patient", patients if patients is not None else true()),
                  and_(R.c.type.not_in([*CATALOG_TYPES, "Patient"]), others if others is not None else true()))
    scoped = gate.scoped_types()
    return allowed if scoped is None else and_(allowed, R.c.type.in_(scoped))


def _history_after(cursor: str) -> ColumnElement:
    values = fhir_search.decode_cursor(cursor, 4)
    try:
        moment, rtype, rid, version = datetime.fromisoformat(values[0]), *values[1:]
    except (TypeError, ValueError):
        raise fhir_search.bad("malformed _cursor", "_cursor") from None
    if not (isinstance(rtype, str) and isinstance(rid, str) and isinstance(version, int)):
        raise fhir_search.bad("malformed _cursor", "_cursor")
    return or_(H.c.last_updated < moment,
               and_(H.c.last_updated == moment,
                    or_(H.c.type < rtype, and_(H.c.type == rtype, or_(H.c.id < rid, and_(H.c.id == rid, H.c.version < version))))))


def history_methods(session: Session, found: list[Stored]) -> dict[tuple[str, str, int], str]:
    keys = {(s.type, s.id) for s in found}
    methods: dict[tuple[str, str, int], str] = {}
    for rtype, rid in keys:
        rows = session.execute(select(H.c.version, H.c.method).where(H.c.type == rtype, H.c.id == rid)).all()
        methods.update({(rtype, rid, v): m for v, m in rows})
    return methods


def everything(session: Session, gate: Gate, patient_id: str, *, since: datetime | None = None,
               types: tuple[str, ...] = ()) -> list[Stored]:
    """The detainee's record the caller may see, with the reference data it points at;
    ``since``: only what changed since; ``types``: only these types."""
    for rtype in types:
        check_type(rtype)
    patient = read(session, gate, "Patient", patient_id)
    records = store.by_patient(session, patient_id)
    others = gate.record_of(session, [s for s in records if (s.type, s.id) != ("Patient", patient_id)], "fhir.everything")
    found = [patient, *others, *_referenced_catalog(session, [patient, *others])]
    return [s for s in found if (not types or s.type in types) and (since is None or s.last_updated >= since)]


def _referenced_catalog(session: Session, found: list[Stored]) -> list[Stored]:
    """Organizations, Practitioners... that the record points at, so the export stands alone."""
    refs = TABLES[Kind.REFERENCE]
    keys = set()
    for stored in found:
        rows = session.execute(select(refs.c.target_type, refs.c.target_id).where(
            refs.c.res_type == stored.type, refs.c.res_id == stored.id, refs.c.target_type.in_(CATALOG_TYPES))).all()
        keys.update(rows)
    return fhir_search.load_many(session, keys) if keys else []


def patch(session: Session, gate: Gate, rtype: str, rid: str, operations: object,
          if_match: int | None = None) -> Stored:
    """JSON Patch (RFC 6902) on the current version; the result is validated and written as an
    update, so it obeys every rule an update does."""
    writable(rtype)
    before = read(session, gate, rtype, rid)
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise invalid("a JSON Patch is an array of operations", ["PATCH"], status=400)
    if any(str(op.get("path", "")).split("/")[1:2] in (["id"], ["resourceType"], ["meta"]) for op in operations):
        raise invalid("a JSON Patch may not change id, resourceType or meta", ["PATCH"], status=400)
    try:
        patched = jsonpatch.apply_patch(before.resource, operations)
    except jsonpatch.InvalidJsonPatch as exc:
        raise invalid(f"malformed JSON Patch: {exc}", ["PATCH"], status=400) from None
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise invalid(f"the JSON Patch does not apply to {rtype}/{rid}: {exc}", ["PATCH"]) from None
    if not isinstance(patched, dict):
        raise invalid("the JSON Patch must leave a resource", ["PATCH"])
    stored, _ = update(session, gate, patched, rtype, rid, before.version if if_match is None else if_match)
    return stored


def conditional_update(session: Session, gate: Gate, resource: dict, rtype: str, criteria: str,
                       if_match: int | None = None, *, new_id: str | None = None,
                       validated: bool = False) -> tuple[Stored, bool]:
    """PUT Type?criteria: the one match the caller may read is updated; with none, the resource
    is created under a new id of the server's (one that names an id of its own is refused, as a
    PUT to that id would be); more than one is 412."""
    _checked(resource, rtype, validated)
    writable(rtype)
    match = conditional_match(session, gate, rtype, criteria, "conditional update")
    if match is None:
        if resource.get("id"):
            raise unassignable(rtype, str(resource["id"]))
        return create(session, gate, resource, expected=rtype, resource_id=new_id, validated=True)
    if resource.get("id") not in (None, match.id):
        raise invalid(f"the resource id {resource['id']} is not that of the match ({match.id})", [f"{rtype}.id"], status=400)
    return update(session, gate, resource, rtype, match.id, if_match, validated=True)


def conditional_delete(session: Session, gate: Gate, rtype: str, criteria: str) -> Stored | None:
    """DELETE Type?criteria: the one match the caller may read is deleted; none deletes nothing
    (None); more than one is 412."""
    writable(rtype)
    may_write(gate, "fhir.delete", rtype)
    match = conditional_match(session, gate, rtype, criteria, "conditional delete")
    return delete(session, gate, rtype, match.id) if match is not None else None


def meta(session: Session, gate: Gate, rtype: str, rid: str) -> dict:
    """$meta on an instance: its meta, as a Parameters resource."""
    return {"resourceType": "Parameters",
            "parameter": [{"name": "return", "valueMeta": read(session, gate, rtype, rid).resource.get("meta", {})}]}
