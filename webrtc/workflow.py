"""The consult state machine. Each step is one function over one SQL session: it checks the
step is allowed now, writes the FHIR resources and the workflow rows in the caller's
transaction, and returns what the caller needs to answer and notify.

requested -> accepted (time proposed) -> scheduled (facility confirmed: Appointment)
          -> held (call went live) -> signed;  requested -> declined.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from custody import tasks as custody_tasks
from custody.models import TaskKind
from ehr import charting, store, terminology
from telemed.i18n import translate
from telemed.models import ConsultAccess, ConsultShare, CustodyStatus, Detainee, Organization, OrgKind, Role, User
from telemed.security import Principal
from telemed.timeutil import as_utc, utcnow
from webrtc import prescriptions, resources
from webrtc.deadlines import decision_due, sign_due
from webrtc.models import Consult, ConsultInvite, ConsultStatus, InviteKind, Outcome, Urgency

SHAREABLE = ("Observation", "DiagnosticReport", "DocumentReference")
S = ConsultStatus


class WorkflowError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _need(condition: object, message: str, status: int = 422) -> None:
    if not condition:
        raise WorkflowError(status, message)


def _text(body: dict, key: str, *, required: bool = True, limit: int = 4000) -> str:
    value = body.get(key, "")
    _need(isinstance(value, str), f"{key} must be a string")
    value = value.strip()
    _need(value or not required, f"{key} is required")
    _need(len(value) <= limit, f"{key} is longer than {limit} characters")
    return value


def parse_time(value: object, key: str) -> datetime:
    _need(isinstance(value, str) and value, f"{key} is required (ISO 8601 with offset)")
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise WorkflowError(422, f"{key}: {value!r} is not an ISO 8601 time") from None
    _need(parsed.tzinfo is not None, f"{key} needs a time-zone offset")
    return as_utc(parsed)


def get_consult(session: Session, consult_id: str) -> Consult:
    consult = session.get(Consult, consult_id)
    _need(consult is not None, f"no consult {consult_id}", 404)
    return consult


def user_name(session: Session, user_id: int | None) -> str:
    user = session.get(User, user_id) if user_id else None
    return user.display_name if user else ""


def _expect(consult: Consult, *statuses: str) -> None:
    _need(consult.status in statuses, f"consult is {consult.status}; this step needs {' or '.join(statuses)}", 409)


# --- request ---------------------------------------------------------------------------------

def request_consult(session: Session, who: Principal, body: dict, tz: ZoneInfo) -> Consult:
    patient_id = _text(body, "patient_id", limit=64)
    detainee = session.get(Detainee, patient_id)
    _need(detainee is not None, f"no detainee {patient_id}", 404)
    hospital = session.get(Organization, _text(body, "hospital_id", limit=64))
    _need(hospital is not None and hospital.kind == OrgKind.HOSPITAL, "hospital_id is not a partner hospital")
    urgency = body.get("urgency")
    _need(urgency in set(Urgency), f"urgency must be one of {', '.join(Urgency)}")
    shared = _shared_items(session, patient_id, body.get("share", []))
    now = utcnow()
    consult = Consult(
        id=store.new_id(), patient_id=patient_id, facility_id=detainee.facility_id, hospital_id=hospital.id,
        requester_id=who.user_id, specialty=_text(body, "specialty", limit=64), question=_text(body, "question"),
        urgency=urgency, requested_at=now, decision_due=decision_due(now, urgency, tz),
    )
    _write_service_request(session, consult, who.display_name, shared)
    session.add(consult)
    session.flush()
    for rtype, rid in shared:
        session.add(ConsultShare(consult_id=consult.id, resource_type=rtype, resource_id=rid))
    return consult


def _shared_items(session: Session, patient_id: str, items: object) -> list[tuple[str, str]]:
    _need(isinstance(items, list), "share must be a list of {type, id}")
    found: list[tuple[str, str]] = []
    for item in items:
        _need(isinstance(item, dict) and item.get("type") in SHAREABLE,
              f"each shared item needs a type among {', '.join(SHAREABLE)} and an id")
        key = (item["type"], str(item.get("id", "")))
        try:
            stored = store.read(session, *key)
        except Exception:  # noqa: BLE001 - FhirError 404/410: report as the caller's mistake
            raise WorkflowError(422, f"{key[0]}/{key[1]} does not exist") from None
        _need(stored.patient_id == patient_id, f"{key[0]}/{key[1]} is not this detainee's")
        _need(not charting.is_draft(stored.resource), f"{key[0]}/{key[1]} is an unsigned draft, seen by no specialist")
        for part in [key, *_report_results(stored.resource)]:
            if part not in found:
                found.append(part)
    return found


def _report_results(resource: dict) -> list[tuple[str, str]]:
    """Sharing a report shares the results it lists: the specialist reads the panel's values."""
    if resource["resourceType"] != "DiagnosticReport":
        return []
    return [("Observation", ref["reference"].removeprefix("Observation/")) for ref in resource.get("result", [])
            if ref.get("reference", "").startswith("Observation/")]


def _write_service_request(session: Session, consult: Consult, requester: str,
                           shared: list[tuple[str, str]] | None = None, status: str = "active") -> None:
    if shared is None:
        shared = [(r.resource_type, r.resource_id) for r in session.exec(
            select(ConsultShare).where(ConsultShare.consult_id == consult.id, ConsultShare.produced == False))]  # noqa: E712
    resource = resources.service_request(
        patient_id=consult.patient_id, hospital_id=consult.hospital_id, specialty=consult.specialty,
        question=consult.question, urgency=consult.urgency, requester=requester, shared=shared,
        authored=consult.requested_at, status=status, note=consult.decision_reason,
        specialist=user_name(session, consult.specialist_id))
    store.update(session, resource, consult.id)


def on_duty_specialists(session: Session, consult: Consult) -> list[int]:
    return list(session.exec(select(User.id).where(
        User.org_id == consult.hospital_id, User.role == Role.SPECIALIST, User.specialty == consult.specialty,
        User.on_duty == True, User.active == True)))  # noqa: E712


# --- triage and scheduling -------------------------------------------------------------------

def is_triager(who: Principal, consult: Consult) -> bool:
    return who.role == Role.SPECIALIST and who.org_id == consult.hospital_id and who.specialty == consult.specialty


def triage(session: Session, who: Principal, consult_id: str, body: dict) -> Consult:
    consult = get_consult(session, consult_id)
    _need(is_triager(who, consult), "only a specialist of the requested hospital and specialty triages", 403)
    _expect(consult, S.REQUESTED)
    decision = body.get("decision")
    _need(decision in ("accept", "decline"), "decision must be accept or decline")
    now = utcnow()
    consult.decided_at = now
    if decision == "decline":
        consult.decision_reason = _text(body, "reason", limit=2000)
        consult.status = S.DECLINED
        _write_service_request(session, consult, user_name(session, consult.requester_id), status="revoked")
    else:
        consult.decision_reason = _text(body, "reason", required=False, limit=2000)
        consult.proposed_start = parse_time(body.get("proposed_start"), "proposed_start")
        consult.specialist_id = who.user_id
        consult.status = S.ACCEPTED
        session.add(ConsultAccess(consult_id=consult.id, patient_id=consult.patient_id,
                                  specialist_id=who.user_id, accepted_at=now))
        _write_service_request(session, consult, user_name(session, consult.requester_id))
    session.add(consult)
    return consult


def is_facility_doctor(who: Principal, consult: Consult) -> bool:
    return who.role == Role.FACILITY_DOCTOR and who.org_id == consult.facility_id


def confirm(session: Session, who: Principal, consult_id: str, body: dict) -> Consult:
    consult = get_consult(session, consult_id)
    _need(is_facility_doctor(who, consult), "only a doctor of the detainee's facility confirms", 403)
    _expect(consult, S.ACCEPTED)
    start = parse_time(body["start"], "start") if body.get("start") else consult.proposed_start
    appointment = resources.appointment(
        patient_id=consult.patient_id, consult_id=consult.id, specialty=consult.specialty, start=start,
        doctor=who.display_name, specialist=user_name(session, consult.specialist_id))
    consult.appointment_id = store.create(session, appointment, validated=True).id
    consult.scheduled_start = start
    consult.status = S.SCHEDULED
    session.add(consult)
    detainee = session.get(Detainee, consult.patient_id)
    if detainee is not None and detainee.status == CustodyStatus.IN_CUSTODY:  # the officers bring them to the call
        custody_tasks.assign(session, facility_id=consult.facility_id, patient_id=consult.patient_id,
                             kind=TaskKind.BRING_TO_CLINIC, due=start, place="consult_room",
                             source=f"Appointment/{consult.appointment_id}")
    return consult


def record_custody_facts(session: Session, who: Principal, consult_id: str, body: dict) -> Consult:
    consult = get_consult(session, consult_id)
    _need(is_facility_doctor(who, consult), "only a doctor of the detainee's facility records custody facts", 403)
    _expect(consult, S.SCHEDULED)
    for key in ("consult_consent", "recording_consent", "officer_present"):
        _need(isinstance(body.get(key), bool), f"{key} must be true or false")
    consult.officer_present = body["officer_present"]
    consult.security_note = _text(body, "security_note", required=False, limit=2000)
    now = utcnow()
    for purpose, attr in (("consult", "consult_consent_id"), ("recording", "recording_consent_id")):
        resource = resources.consent(
            patient_id=consult.patient_id, consult_id=consult.id, given=body[f"{purpose}_consent"], purpose=purpose,
            at=now, recorded_by=who.display_name, note=consult.security_note)
        current = getattr(consult, attr)
        stored, _created = store.update(session, resource, current or store.new_id(), validated=True)
        setattr(consult, attr, stored.id)
    session.add(consult)
    return consult


def consent_given(session: Session, consent_id: str | None) -> bool:
    if not consent_id:
        return False
    return store.read(session, "Consent", consent_id).resource["provision"]["type"] == "permit"


def invite(session: Session, who: Principal, consult_id: str, body: dict) -> ConsultInvite:
    consult = get_consult(session, consult_id)
    _need(who.user_id == consult.specialist_id or is_facility_doctor(who, consult),
          "only the assigned specialist or the facility's doctor invites", 403)
    _expect(consult, S.ACCEPTED, S.SCHEDULED, S.HELD)
    kind = body.get("kind")
    _need(kind in set(InviteKind), f"kind must be one of {', '.join(InviteKind)}")
    guest = session.get(User, body.get("user_id")) if isinstance(body.get("user_id"), int) else None
    _need(guest is not None and guest.active and guest.role == Role.SPECIALIST,
          "user_id must be an active hospital (specialist-role) account")
    _need(guest.id != consult.specialist_id, "that specialist is already assigned")
    invitation = ConsultInvite(consult_id=consult.id, user_id=guest.id, kind=kind, invited_by=who.user_id)
    session.add(invitation)
    if not session.exec(select(ConsultAccess).where(ConsultAccess.consult_id == consult.id,
                                                    ConsultAccess.specialist_id == guest.id)).first():
        session.add(ConsultAccess(consult_id=consult.id, patient_id=consult.patient_id,
                                  specialist_id=guest.id, accepted_at=utcnow()))
    session.flush()
    return invitation


# --- the call and closing --------------------------------------------------------------------

def mark_call_started(session: Session, consult_id: str, tz: ZoneInfo) -> None:
    consult = get_consult(session, consult_id)
    if consult.call_started_at is None:
        consult.call_started_at = utcnow()
        consult.sign_due = sign_due(consult.call_started_at, tz)
        consult.status = S.HELD
        session.add(consult)


def mark_call_ended(session: Session, consult_id: str) -> None:
    consult = get_consult(session, consult_id)
    consult.call_ended_at = utcnow()
    session.add(consult)


def attach_recording(session: Session, consult_id: str, url: str, size: int, duration_s: float) -> str:
    consult = get_consult(session, consult_id)
    stored = store.create(session, resources.recording(
        patient_id=consult.patient_id, consult_id=consult.id, url=url, size=size, duration_s=duration_s,
        at=utcnow()), validated=True)
    session.add(ConsultShare(consult_id=consult.id, resource_type="DocumentReference", resource_id=stored.id,
                             produced=True))
    consult.recording_id = stored.id
    session.add(consult)
    return stored.id


DRAFT_FIELDS = ("note", "recommendations", "diagnoses", "prescriptions", "outcome")


def save_draft(session: Session, who: Principal, consult_id: str, body: dict) -> Consult:
    """Keep whatever is written so far, incomplete prescriptions included; signing checks it all."""
    consult = get_consult(session, consult_id)
    _need(who.user_id == consult.specialist_id, "only the assigned specialist writes the note", 403)
    _expect(consult, S.HELD)
    _only_note_fields(body)
    draft = {key: _text(body, key, required=False, limit=20000) for key in ("note", "recommendations") if key in body}
    if body.get("outcome"):
        draft["outcome"] = _outcome(body)
    if "diagnoses" in body:
        draft["diagnoses"] = _diagnoses(body)
    if "prescriptions" in body:
        items = body["prescriptions"]
        _need(isinstance(items, list) and len(items) <= 50 and all(
            isinstance(i, dict) and set(i) <= set(prescriptions.FIELDS) for i in items),
            f"prescriptions must be a list of objects with the fields {', '.join(prescriptions.FIELDS)}")
        draft["prescriptions"] = items
    consult.draft = draft
    session.add(consult)
    return consult


def _only_note_fields(body: dict) -> None:
    unknown = sorted(set(body) - set(DRAFT_FIELDS))
    _need(not unknown, f"{unknown[0] if unknown else ''} is not a field of the consult note")


def _outcome(content: dict) -> str:
    outcome = content.get("outcome")
    _need(outcome in set(Outcome), f"outcome must be one of {', '.join(Outcome)}")
    return outcome


def _diagnoses(content: dict) -> list[dict]:
    items = content.get("diagnoses") or []
    _need(isinstance(items, list) and len(items) <= 50, "diagnoses must be a list of {code, display}")
    for item in items:
        _need(isinstance(item, dict) and set(item) <= {"code", "display"} and isinstance(item.get("display"), str)
              and item["display"].strip() and len(item["display"]) <= 300,
              "each diagnosis needs a display text (and an ICD-10 code)")
        _need(isinstance(item.get("code"), str) and terminology.lookup(item["code"]) is not None,
              f"diagnosis code {item.get('code')!r} is not an ICD-10 code")
    return items


def _prescriptions(content: dict) -> list[dict]:
    items = content.get("prescriptions") or []
    _need(isinstance(items, list) and len(items) <= 50, "prescriptions must be a list")
    try:
        return [prescriptions.check(item) for item in items]
    except prescriptions.PrescriptionError as error:
        raise WorkflowError(422, str(error)) from None


@dataclass(frozen=True)
class Signed:
    consult: Consult
    produced: list[tuple[str, str]]


def sign(session: Session, who: Principal, consult_id: str, body: dict, lang: str = "zh-CN") -> Signed:
    """File the note, diagnoses and prescriptions; the note's headings are in ``lang``, the
    language the specialist signs in."""
    consult = get_consult(session, consult_id)
    _need(who.user_id == consult.specialist_id, "only the assigned specialist signs", 403)
    _expect(consult, S.HELD)
    _only_note_fields(body)
    content = {**consult.draft, **body}
    outcome = _outcome(content)
    note = _text(content, "note", limit=20000)
    recommendations = _text(content, "recommendations", required=False, limit=20000)
    diagnoses, prescribed = _diagnoses(content), _prescriptions(content)
    now = utcnow()
    author = who.display_name
    text = note_text(lang, note, recommendations, diagnoses, prescribed, outcome)
    written = [store.create(session, resources.consult_note(
        patient_id=consult.patient_id, consult_id=consult.id, author=author, text=text, at=now), validated=True)]
    for diagnosis in diagnoses:
        written.append(store.create(session, resources.condition(
            patient_id=consult.patient_id, consult_id=consult.id, diagnosis=diagnosis, author=author, at=now)))
    for prescription in prescribed:
        written.append(store.create(session, resources.medication_request(
            patient_id=consult.patient_id, consult_id=consult.id, prescription=prescription, author=author, at=now,
            lang=lang)))
    produced = [(s.type, s.id) for s in written]
    for rtype, rid in produced:
        session.add(ConsultShare(consult_id=consult.id, resource_type=rtype, resource_id=rid, produced=True))
    consult.note_id, consult.outcome, consult.signed_at, consult.status = written[0].id, outcome, now, S.SIGNED
    consult.draft = {}
    _write_service_request(session, consult, user_name(session, consult.requester_id), status="completed")
    for access in session.exec(select(ConsultAccess).where(ConsultAccess.consult_id == consult.id)):
        access.closed_at = now
        session.add(access)
    session.add(consult)
    return Signed(consult, produced)


def note_text(lang: str, note: str, recommendations: str, diagnoses: list[dict], prescribed: list[dict],
              outcome: str) -> str:
    """The signed note as one text, every heading and the outcome in ``lang``."""
    _ = lambda key, **values: translate(lang, f"webrtc.{key}", **values)  # noqa: E731
    parts = [note]
    if recommendations:
        parts.append(f"{_('heading_recommendations')}\n{recommendations}")
    if diagnoses:
        parts.append(_("heading_diagnoses") + "".join(f"\n- {d['code']} {d['display']}" for d in diagnoses))
    if prescribed:
        parts.append(_("heading_prescriptions") + "".join(f"\n- {prescriptions.describe(p, lang)}" for p in prescribed))
    parts.append(_("note_outcome", outcome=_(f"outcome_{outcome}")))
    return "\n\n".join(parts)
