"""The one access policy. Every handler and every query asks it:
may this principal do this on this detainee's data?"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import or_
from sqlmodel import Session, select

from telemed.models import BreakGlass, ConsultAccess, ConsultShare, Detainee, Role
from telemed.security import Principal
from telemed.timeutil import as_utc, utcnow

SPECIALIST_GRACE = timedelta(days=30)
BREAK_GLASS_HOURS = 4
MIN_REASON_LENGTH = 10


class Capability(StrEnum):
    CLINICAL_READ = "clinical.read"
    CLINICAL_WRITE = "clinical.write"
    ORDER_LABS = "labs.order"
    ENTER_RESULTS = "labs.enter"
    VIEW_CATALOG = "labs.catalog"
    REQUEST_CONSULT = "consult.request"
    TRIAGE_CONSULT = "consult.triage"
    SIGN_CONSULT = "consult.sign"
    JOIN_CONSULT = "consult.join"
    MANAGE_CAMPAIGNS = "exams.manage"
    ENTER_EXAMS = "exams.enter"
    PRINT_REPORTS = "reports.print"
    MANAGE_USERS = "admin.users"
    MANAGE_ORGS = "admin.orgs"
    REVIEW_AUDIT = "audit.review"
    BREAK_GLASS = "break_glass"
    APPROVE_ACCOUNTS = "accounts.approve"
    # The custody officer's: who a detainee is and where (name, booking number, cell, photo),
    # and the tasks that move them; never anything clinical.
    CUSTODY_ROSTER = "custody.roster"
    CUSTODY_TASKS = "custody.tasks"
    SUBMIT_SICK_CALL = "care.sick_call"  # enter a request; reading one is clinical
    SET_CARE_RULES = "care.rules"


C = Capability
ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.FACILITY_DOCTOR: frozenset({
        C.CLINICAL_READ, C.CLINICAL_WRITE, C.ORDER_LABS, C.ENTER_RESULTS, C.VIEW_CATALOG,
        C.REQUEST_CONSULT, C.JOIN_CONSULT, C.ENTER_EXAMS, C.BREAK_GLASS, C.SUBMIT_SICK_CALL,
    }),
    Role.SPECIALIST: frozenset({
        C.CLINICAL_READ, C.VIEW_CATALOG, C.TRIAGE_CONSULT, C.SIGN_CONSULT, C.JOIN_CONSULT,
    }),
    Role.MEDICAL_OFFICER: frozenset({
        C.CLINICAL_READ, C.VIEW_CATALOG, C.MANAGE_CAMPAIGNS, C.PRINT_REPORTS, C.REVIEW_AUDIT, C.APPROVE_ACCOUNTS,
        C.SET_CARE_RULES,
    }),
    Role.ADMIN: frozenset({C.MANAGE_USERS, C.MANAGE_ORGS}),
    Role.CUSTODY_OFFICER: frozenset({C.CUSTODY_ROSTER, C.CUSTODY_TASKS}),
}
CUSTODY_CAPABILITIES = frozenset({C.CUSTODY_ROSTER, C.CUSTODY_TASKS})
# Capabilities that touch one detainee's data and so need the detainee checks below.
FACILITY_STAFF = {Role.FACILITY_DOCTOR, Role.MEDICAL_OFFICER}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    break_glass: bool = False
    # For a specialist: the consults through which they see this detainee (None: no such limit).
    consult_ids: tuple[str, ...] | None = None

    def __bool__(self) -> bool:
        return self.allowed


def may(principal: Principal, capability: Capability) -> bool:
    return capability in ROLE_CAPABILITIES.get(principal.role, frozenset())


def decide(
    session: Session,
    principal: Principal,
    capability: Capability,
    patient_id: str,
    *,
    resource: tuple[str, str] | None = None,
    now: datetime | None = None,
) -> Decision:
    """May ``principal`` use ``capability`` on detainee ``patient_id`` (and, for a specialist's
    read, on ``resource`` = (type, id))?"""
    now = now or utcnow()
    if not may(principal, capability):
        return Decision(False, f"role {principal.role} may not {capability.value}")
    detainee = session.get(Detainee, patient_id)
    if detainee is None:
        return Decision(False, f"no detainee {patient_id}")
    if principal.role in FACILITY_STAFF:
        return _facility_decision(session, principal, detainee, now)
    if principal.role == Role.SPECIALIST:
        return _specialist_decision(session, principal, patient_id, resource, now)
    return Decision(False, f"role {principal.role} reads no clinical data")


def decide_facility(principal: Principal, capability: Capability, facility_id: str) -> Decision:
    """For data not yet tied to a detainee, e.g. a new Patient: staff act in their own facility."""
    if not may(principal, capability):
        return Decision(False, f"role {principal.role} may not {capability.value}")
    if principal.role in FACILITY_STAFF and principal.org_id == facility_id:
        return Decision(True, "own facility")
    return Decision(False, f"facility {facility_id} is not yours")


def decide_custody(session: Session, principal: Principal, capability: Capability, patient_id: str) -> Decision:
    """May a custody officer see who and where detainee ``patient_id`` is, or act on their tasks?
    Only for detainees of the officer's own facility."""
    if capability not in CUSTODY_CAPABILITIES:
        return Decision(False, f"{capability.value} is not a custody capability")
    if not may(principal, capability):
        return Decision(False, f"role {principal.role} may not {capability.value}")
    detainee = session.get(Detainee, patient_id)
    if detainee is None:
        return Decision(False, f"no detainee {patient_id}")
    if detainee.facility_id != principal.org_id:
        return Decision(False, "detainee belongs to another facility")
    return Decision(True, "own facility")


def _facility_decision(session: Session, principal: Principal, detainee: Detainee, now: datetime) -> Decision:
    if detainee.facility_id == principal.org_id:
        return Decision(True, "own facility")
    if principal.role == Role.FACILITY_DOCTOR and active_break_glass(session, principal, detainee.patient_id, now):
        return Decision(True, "break-the-glass", break_glass=True)
    return Decision(False, "detainee belongs to another facility")


def _specialist_decision(
    session: Session, principal: Principal, patient_id: str, resource: tuple[str, str] | None, now: datetime
) -> Decision:
    consults = active_consults(session, principal, patient_id, now)
    if not consults:
        return Decision(False, "no open consult assigned to you for this detainee")
    if resource is None or resource == ("Patient", patient_id):
        return Decision(True, "assigned consult", consult_ids=consults)
    shared = session.exec(
        select(ConsultShare.id).where(
            ConsultShare.consult_id.in_(consults),
            ConsultShare.resource_type == resource[0],
            ConsultShare.resource_id == resource[1],
        )
    ).first()
    if shared is None:
        return Decision(False, f"{resource[0]}/{resource[1]} was not shared with your consult")
    return Decision(True, "shared with consult", consult_ids=consults)


def active_consults(session: Session, principal: Principal, patient_id: str, now: datetime | None = None) -> tuple[str, ...]:
    now = now or utcnow()
    rows = session.exec(
        select(ConsultAccess).where(
            ConsultAccess.specialist_id == principal.user_id,
            ConsultAccess.patient_id == patient_id,
        )
    ).all()
    return tuple(r.consult_id for r in rows if _window_open(r, now))


def _window_open(access: ConsultAccess, now: datetime) -> bool:
    if as_utc(access.accepted_at) > now:
        return False
    return access.closed_at is None or now <= as_utc(access.closed_at) + SPECIALIST_GRACE


def shared_resources(session: Session, consult_ids: tuple[str, ...]) -> set[tuple[str, str]]:
    rows = session.exec(
        select(ConsultShare.resource_type, ConsultShare.resource_id).where(ConsultShare.consult_id.in_(consult_ids))
    ).all()
    return {(t, i) for t, i in rows}


@dataclass(frozen=True)
class PatientScope:
    """Which detainees a principal may list: a facility, plus individually granted ones."""

    facility_id: str | None = None
    patient_ids: frozenset[str] = field(default_factory=frozenset)

    def where(self, column_patient, column_facility):
        """A SQL condition for a query over detainee rows (or rows carrying both columns)."""
        terms = []
        if self.facility_id is not None:
            terms.append(column_facility == self.facility_id)
        if self.patient_ids:
            terms.append(column_patient.in_(self.patient_ids))
        return or_(*terms) if terms else (column_patient == None)  # noqa: E711 - SQL NULL test: matches nothing


def patient_scope(session: Session, principal: Principal, now: datetime | None = None) -> PatientScope:
    now = now or utcnow()
    if not may(principal, Capability.CLINICAL_READ):
        return PatientScope()
    if principal.role == Role.SPECIALIST:
        rows = session.exec(select(ConsultAccess).where(ConsultAccess.specialist_id == principal.user_id)).all()
        return PatientScope(patient_ids=frozenset(r.patient_id for r in rows if _window_open(r, now)))
    granted = frozenset()
    if principal.role == Role.FACILITY_DOCTOR:
        granted = frozenset(
            session.exec(
                select(BreakGlass.patient_id).where(BreakGlass.user_id == principal.user_id, BreakGlass.expires_at > now)
            ).all()
        )
    return PatientScope(facility_id=principal.org_id, patient_ids=granted)


def active_break_glass(session: Session, principal: Principal, patient_id: str, now: datetime | None = None) -> BreakGlass | None:
    now = now or utcnow()
    return session.exec(
        select(BreakGlass).where(
            BreakGlass.user_id == principal.user_id,
            BreakGlass.patient_id == patient_id,
            BreakGlass.expires_at > now,
        )
    ).first()


class BreakGlassRefused(Exception):
    pass


def open_break_glass(session: Session, principal: Principal, patient_id: str, reason: str) -> BreakGlass:
    if not may(principal, Capability.BREAK_GLASS):
        raise BreakGlassRefused(f"role {principal.role} may not use emergency access")
    reason = reason.strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise BreakGlassRefused(f"a written reason of at least {MIN_REASON_LENGTH} characters is required")
    if session.get(Detainee, patient_id) is None:
        raise BreakGlassRefused(f"no detainee {patient_id}")
    grant = BreakGlass(
        user_id=principal.user_id,
        patient_id=patient_id,
        reason=reason,
        expires_at=utcnow() + timedelta(hours=BREAK_GLASS_HOURS),
    )
    session.add(grant)
    session.flush()
    return grant
