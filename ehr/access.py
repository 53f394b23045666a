"""The access policy applied to FHIR resources: one Gate per request decides inside the
request's transaction (so a denied entry rolls a transaction Bundle back) and remembers every
decision, which the handler audits afterwards, allowed and denied alike."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, exists, false, select
from sqlmodel import Session

from ehr.custody import custody_of
from ehr.errors import Denied, FhirError, forbidden, invalid, not_found, not_yours
from ehr.groups import GROUP, facility_of
from ehr.models import FhirReference, FhirResource
from ehr.store import Stored
from telemed.models import ConsultShare, Detainee, Role
from telemed.policy import (CONSULT_READERS, FACILITY_STAFF, Capability, Decision, active_consults, decide, decide_facility, may,
                            patient_scope)
from telemed.security import Principal

R = FhirResource.__table__
# Shared reference data, not part of any detainee's record.
CATALOG_TYPES = frozenset({"Organization", "Practitioner", "PractitionerRole", "ObservationDefinition", "Location",
                           "Questionnaire"})
# Types in no detainee's record: reference data, and a facility's Groups of detainees.
NO_DETAINEE = CATALOG_TYPES | {GROUP}
READ, WRITE = Capability.CLINICAL_READ, Capability.CLINICAL_WRITE
# The SMART scope letter each capability needs (a write's letter is the broadest: "u").
SCOPE_LETTER = {READ: "r", WRITE: "u"}


@dataclass(frozen=True)
class Noted:
    """One decision to audit."""

    action: str
    allowed: bool
    reason: str
    patient_id: str | None
    resource: str
    break_glass: bool = False


def catalog_decision(who: Principal, capability: Capability) -> Decision:
    if not may(who, capability):
        return Decision(False, f"role {who.role} may not {capability.value}")
    if capability is WRITE and who.role not in FACILITY_STAFF:
        return Decision(False, "only facility staff maintain shared reference data")
    return Decision(True, "reference data")


def group_facility(session: Session, rid: str) -> str:
    """The facility keeping Group ``rid``, as its index holds it ("" when there is no such Group)."""
    ref = FhirReference
    return session.execute(select(ref.target_id).where(
        ref.res_type == GROUP, ref.res_id == rid, ref.param == "managing-entity",
        ref.target_type == "Organization")).scalar() or ""


def facility_groups(who: Principal) -> ColumnElement:
    """The SQL condition: a Group of this principal's own facility (none for anyone but its staff)."""
    if who.role not in FACILITY_STAFF or not who.org_id:
        return false()
    ref = FhirReference
    return exists().where(ref.res_type == GROUP, ref.res_id == R.c.id, ref.param == "managing-entity",
                          ref.target_type == "Organization", ref.target_id == who.org_id)


@dataclass
class Gate:
    who: Principal
    noted: list[Noted] = field(default_factory=list)
    _decided: dict[tuple, Decision] = field(default_factory=dict)

    def note(self, action: str, decision: Decision, patient_id: str | None, resource: str) -> Decision:
        reason = "" if decision.allowed and not decision.break_glass else decision.reason
        self.noted.append(Noted(action, decision.allowed, reason, patient_id, resource, decision.break_glass))
        return decision

    def scope_refusal(self, rtype: str, letter: str) -> Decision | None:
        """A token's scopes come first: a type they do not grant is refused whatever the data."""
        scopes = self.who.scopes
        if scopes is None or scopes.permits(rtype, letter):
            return None
        return Decision(False, f"the token's scopes do not grant system/{rtype}.{letter}")

    def decide(self, session: Session, capability: Capability, rtype: str, rid: str, patient_id: str | None) -> Decision:
        refused = self.scope_refusal(rtype, SCOPE_LETTER.get(capability, "r"))
        if refused is not None:
            return refused
        if rtype in CATALOG_TYPES:
            return catalog_decision(self.who, capability)
        if rtype == GROUP:
            return decide_facility(self.who, capability, group_facility(session, rid) or "(none)")
        if patient_id is None:
            return Decision(False, f"{rtype}/{rid} belongs to no detainee")
        resource = (rtype, rid) if capability is READ else None
        key = (capability, patient_id, resource)
        if key not in self._decided:
            self._decided[key] = decide(session, self.who, capability, patient_id, resource=resource)
        return self._decided[key]

    def allowed_at_once(self, stored: Stored, facility_id: str | None) -> Decision | None:
        """A read allowed with no lookup beyond the resource and its detainee's facility:
        reference data, or staff reading in their own facility. None: ask ``decide``, which
        also words every denial (and weighs a system's scopes)."""
        if self.who.scopes is not None:
            return None
        if stored.type in CATALOG_TYPES:
            decision = catalog_decision(self.who, READ)
        elif stored.patient_id is not None and facility_id is not None:
            decision = decide_facility(self.who, READ, facility_id)
        else:
            return None
        return decision if decision.allowed else None

    def check(self, session: Session, capability: Capability, action: str, rtype: str, rid: str,
              patient_id: str | None) -> Decision:
        """Decide, note for the audit trail, and raise 403 when denied."""
        decision = self.note(action, self.decide(session, capability, rtype, rid, patient_id), patient_id, f"{rtype}/{rid}")
        if not decision.allowed:
            raise self.refusal(capability, decision, rtype, rid, patient_id)
        return decision

    def refusal(self, capability: Capability, decision: Decision, rtype: str, rid: str,
                patient_id: str | None) -> FhirError:
        """A refusal by role says nothing about the data, and is plain; any other is ``Denied``:
        to the FHIR API a read looks like a resource that does not exist, and a write like one
        on a detainee that does not exist."""
        if not may(self.who, capability) or rtype in CATALOG_TYPES \
                or self.scope_refusal(rtype, SCOPE_LETTER.get(capability, "r")) is not None:
            return forbidden(decision.reason)
        if capability is READ:
            return Denied(decision.reason, not_found(rtype, rid))
        return Denied(decision.reason, not_yours(f"Patient/{patient_id}" if patient_id else f"{rtype}/{rid}"))

    def check_read(self, session: Session, stored: Stored, action: str) -> Decision:
        return self.check(session, READ, action, stored.type, stored.id, stored.patient_id)

    def check_write(self, session: Session, action: str, resource: dict, rid: str, patient_id: str | None,
                    current: Stored | None) -> None:
        """A write needs CLINICAL_WRITE on the detainee it names and on the one it held before;
        a new Patient needs it in the facility that will hold the detainee."""
        rtype = resource["resourceType"]
        if rtype == "Patient" and current is None:
            facility = custody_of(resource).get("facility", "")
            if not facility:
                raise invalid("a detainee needs its facility: Patient.managingOrganization (or the custody "
                              "extension's facility) is required", ["Patient.managingOrganization"])
            decision = decide_facility(self.who, WRITE, facility)
            self.note(action, decision, rid, f"Patient/{rid}")
            if not decision.allowed:
                raise forbidden(decision.reason)
            return
        if rtype == GROUP:
            self._check_group_write(session, action, resource, rid, current)
            return
        self.check(session, WRITE, action, rtype, rid, patient_id)
        if current is not None and current.patient_id != patient_id:
            self.check(session, WRITE, action, rtype, rid, current.patient_id)

    def _check_group_write(self, session: Session, action: str, resource: dict, rid: str,
                           current: Stored | None) -> None:
        """A Group is written by staff of the facility it names, and of the one that kept it before;
        another facility's Group is as absent to them as to a read."""
        if current is not None:
            self.check(session, WRITE, action, GROUP, rid, None)
        decision = self.note(action, decide_facility(self.who, WRITE, facility_of(resource)), None, f"{GROUP}/{rid}")
        if not decision.allowed:
            raise forbidden(decision.reason)

    def visible(self, session: Session, found: list[Stored], action: str) -> list[Stored]:
        """The resources this principal may read (``_include``d ones, say), each decision noted."""
        kept = []
        for stored in found:
            decision = self.decide(session, READ, stored.type, stored.id, stored.patient_id)
            self.note(action, decision, stored.patient_id, f"{stored.type}/{stored.id}")
            if decision.allowed:
                kept.append(stored)
        return kept

    @property
    def shares_only(self) -> bool:
        """A specialist sees a detainee's resources one by one, as consults share them."""
        return self.who.role in CONSULT_READERS

    def record_of(self, session: Session, found: list[Stored], action: str) -> list[Stored]:
        """Of one detainee's resources (the Patient read already allowed), those this caller sees."""
        return self.visible(session, found, action) if self.shares_only else found

    def require_clinical(self, action: str, resource: str, patient_ids: set[str] | frozenset[str] = frozenset()) -> None:
        """A role that reads no clinical data is refused; the refusal names each detainee the
        request was about (so the trail shows who was looked for), or none when it named none."""
        rtype = resource.split("/")[0]
        refused = self.scope_refusal(rtype, "s") if rtype != "*" else None
        decision = refused if refused is not None else catalog_decision(self.who, READ)
        if not decision.allowed:
            for patient_id in sorted(patient_ids) or [None]:
                self.note(action, decision, patient_id, resource)
            raise forbidden(decision.reason)

    def restriction(self, session: Session, rtype: str) -> ColumnElement | None:
        """The SQL condition limiting a search of ``rtype`` to what this principal may read."""
        if self.scope_refusal(rtype, "r") is not None:
            return false()
        return self.policy_restriction(session, rtype)

    def scoped_types(self) -> frozenset[str] | None:
        """The types a token's scopes let it read; None: no such limit."""
        return None if self.who.scopes is None else self.who.scopes.types_with("r")

    def policy_restriction(self, session: Session, rtype: str) -> ColumnElement | None:
        """``restriction`` by the policy alone, scopes aside."""
        if rtype in CATALOG_TYPES:
            return None
        if rtype == GROUP:
            return facility_groups(self.who)
        scope = patient_scope(session, self.who)
        if self.shares_only:
            if rtype == "Patient":
                return R.c.id.in_(scope.patient_ids)
            consults = [c for pid in scope.patient_ids for c in active_consults(session, self.who, pid)]
            return exists().where(ConsultShare.consult_id.in_(consults), ConsultShare.resource_type == R.c.type,
                                  ConsultShare.resource_id == R.c.id)
        in_scope = select(Detainee.patient_id).where(scope.where(Detainee.patient_id, Detainee.facility_id))
        return R.c.patient_id.in_(in_scope)

    def note_results(self, session: Session, action: str, found: list[Stored], resource: str) -> None:
        """Audit a search page: one entry per detainee whose data it returns, flagged when the
        detainee is outside the caller's facility (break-the-glass)."""
        patients = sorted({s.patient_id for s in found if s.patient_id})
        if not patients:
            return
        facilities = dict(session.execute(
            select(Detainee.patient_id, Detainee.facility_id).where(Detainee.patient_id.in_(patients))).all())
        for pid in patients:
            flagged = self.who.role == Role.FACILITY_DOCTOR and facilities.get(pid) != self.who.org_id
            reason = "break-the-glass" if flagged else ""
            self.noted.append(Noted(action, True, reason, pid, resource, flagged))
