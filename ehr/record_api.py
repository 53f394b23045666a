"""The record page's writes: ``POST /api/record/{patient_id}/...`` with the form's fields as JSON.

Each write is one transaction through the FHIR interactions (``ehr.interactions``), so the access
policy, validation, versioning and audit are those of the FHIR API. A form with a bad field is
answered 422 ``{"errors": {field: message}}`` in the caller's language, before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from sqlmodel import Session

from ehr import charting, interactions, store
from ehr.access import WRITE, Gate
from ehr.charting import FieldErrors, Form
from ehr.errors import FhirError, invalid
from ehr.requests import run
from telemed.context import context_of
from telemed.http import api_error, json_response, read_json, require
from telemed.i18n import translate
from telemed.security import Principal
from telemed.ui import language

Writer = Callable[..., list[str]]


def _before(session: Session, gate: Gate, rtype: str, rid: str, patient_id: str) -> dict:
    """The entry being changed, which must belong to this detainee's record."""
    stored = interactions.read(session, gate, rtype, rid)
    if stored.patient_id != patient_id:
        raise invalid(f"{rtype}/{rid} is not in this detainee's record", [f"{rtype}.subject"], status=404)
    return stored.resource


def _create(session: Session, gate: Gate, resource: dict) -> str:
    return interactions.create(session, gate, resource)[0].id


def _update(session: Session, gate: Gate, resource: dict, rtype: str, rid: str) -> str:
    return interactions.update(session, gate, {**resource, "id": rid}, rtype, rid)[0].id


def add_problem(session: Session, gate: Gate, pid: str, form: Form, who: Principal) -> list[str]:
    return [_create(session, gate, charting.problem(form, pid, who.display_name))]


def edit_problem(session: Session, gate: Gate, pid: str, form: Form, who: Principal, rid: str) -> list[str]:
    before = _before(session, gate, "Condition", rid, pid)
    return [_update(session, gate, charting.problem(form, pid, who.display_name, before), "Condition", rid)]


def resolve_problem(session: Session, gate: Gate, pid: str, form: Form, who: Principal, rid: str) -> list[str]:
    before = _before(session, gate, "Condition", rid, pid)
    return [_update(session, gate, charting.resolved(form, before), "Condition", rid)]


def _active_allergies(session: Session, pid: str) -> list[store.Stored]:
    return [s for s in store.by_patient(session, pid, ("AllergyIntolerance",))
            if s.resource.get("clinicalStatus", {}).get("coding", [{}])[0].get("code", "active") == "active"]


def add_allergy(session: Session, gate: Gate, pid: str, form: Form, who: Principal) -> list[str]:
    """A recorded allergy replaces an earlier "no known allergies"."""
    resource = charting.allergy(form, pid, who.display_name)
    written = [_create(session, gate, resource)]
    for stored in _active_allergies(session, pid):
        if charting.is_no_known_allergy(stored.resource):
            written.append(_update(session, gate, charting.replaced(stored.resource), "AllergyIntolerance", stored.id))
    return written


def no_known_allergies(session: Session, gate: Gate, pid: str, form: Form, who: Principal) -> list[str]:
    active = _active_allergies(session, pid)
    if any(not charting.is_no_known_allergy(s.resource) for s in active):
        raise FieldErrors({"nka": "ehr.error.has_allergies"})
    if active:
        raise FieldErrors({"nka": "ehr.error.nka_recorded"})
    return [_create(session, gate, charting.no_known_allergies(pid, who.display_name))]


def add_medication(session: Session, gate: Gate, pid: str, form: Form, who: Principal) -> list[str]:
    return [_create(session, gate, charting.medication(form, pid, who.display_name))]


def stop_medication(session: Session, gate: Gate, pid: str, form: Form, who: Principal, rid: str) -> list[str]:
    before = _before(session, gate, "MedicationRequest", rid, pid)
    if before.get("status") != "active":
        raise FieldErrors({"reason": "ehr.error.not_active"})
    return [_update(session, gate, charting.stopped(form, before), "MedicationRequest", rid)]


def add_vitals(session: Session, gate: Gate, pid: str, form: Form, who: Principal) -> list[str]:
    return [_create(session, gate, resource) for resource in charting.vital_signs(form, pid, who.display_name)]


def add_note(session: Session, gate: Gate, pid: str, form: Form, who: Principal) -> list[str]:
    return [_create(session, gate, charting.note(form, pid, who.display_name))]


def amend_note(session: Session, gate: Gate, pid: str, form: Form, who: Principal, rid: str) -> list[str]:
    """The amendment is a new note that replaces the signed one, which is kept, superseded."""
    before = _before(session, gate, "DocumentReference", rid, pid)
    if not charting.is_progress_note(before) or before.get("status") != "current" or charting.is_draft(before):
        raise FieldErrors({"reason": "ehr.error.not_amendable"})
    new_id = _create(session, gate, charting.note(form, pid, who.display_name, replaces=rid))
    _update(session, gate, charting.superseded(before), "DocumentReference", rid)
    return [new_id]


def add_draft(session: Session, gate: Gate, pid: str, form: Form, who: Principal) -> list[str]:
    return [_create(session, gate, charting.draft(form, pid, who.display_name, who.username))]


def _own_draft(session: Session, gate: Gate, pid: str, rid: str, who: Principal) -> dict:
    """The caller's own unsigned note: a signed note is only amended, another doctor's draft is theirs."""
    before = _before(session, gate, "DocumentReference", rid, pid)
    if not charting.is_progress_note(before) or not charting.is_draft(before) or before.get("status") != "current":
        raise FieldErrors({"text": "ehr.drafts.not_a_draft"})
    if charting.drafted_by(before) != who.username:
        raise invalid(f"DocumentReference/{rid} is another doctor's draft", ["DocumentReference.author"], status=403)
    return before


def edit_draft(session: Session, gate: Gate, pid: str, form: Form, who: Principal, rid: str) -> list[str]:
    _own_draft(session, gate, pid, rid, who)
    return [_update(session, gate, charting.draft(form, pid, who.display_name, who.username), "DocumentReference", rid)]


def sign_draft(session: Session, gate: Gate, pid: str, form: Form, who: Principal, rid: str) -> list[str]:
    """Signing files the draft as it is in the form, in place: the draft's versions stay in its history."""
    _own_draft(session, gate, pid, rid, who)
    resource = charting.signed(charting.draft(form, pid, who.display_name, who.username), who.display_name)
    return [_update(session, gate, resource, "DocumentReference", rid)]


ROUTES: dict[str, Writer] = {
    "problems": add_problem, "problems/{id}": edit_problem, "problems/{id}/resolve": resolve_problem,
    "allergies": add_allergy, "allergies/none": no_known_allergies,
    "medications": add_medication, "medications/{id}/stop": stop_medication,
    "vitals": add_vitals, "notes": add_note, "notes/{id}/amend": amend_note,
    "notes/draft": add_draft, "notes/{id}/draft": edit_draft, "notes/{id}/sign": sign_draft,
}


def handler(path: str, writer: Writer):
    async def write(request: web.Request) -> web.Response:
        pid = request.match_info["patient_id"]
        who = require(request, WRITE, f"ehr.record.{path.split('/')[0]}", patient_id=pid)
        lang = language(request)
        form = Form(await read_json(request), context_of(request).settings.tz, lang)
        extra = (request.match_info["id"],) if "id" in request.match_info else ()
        try:
            written = await run(request, writer, pid, form, who, *extra)
        except FieldErrors as exc:
            raise api_error(422, translate(lang, "ehr.error.form"),
                            errors={k: translate(lang, v) for k, v in exc.errors.items()}) from None
        except FhirError as exc:
            issue = exc.outcome()["issue"][0]
            raise api_error(exc.status, issue.get("diagnostics", "")) from None
        return json_response({"written": len(written)}, status=201)
    return write


def setup(app: web.Application) -> None:
    for path, writer in ROUTES.items():
        app.router.add_post(f"/api/record/{{patient_id}}/{path}", handler(path, writer))
