"""The detainee record page, ``/detainees/{booking number}`` (``telemed.addresses``): one view of
the whole FHIR record, in the reader's language and the facility's time zone, with the on-site
doctor's forms beside what they change (the writes themselves are ``ehr.record_api``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp_jinja2
from aiohttp import web
from sqlmodel import Session, select

from ehr import charting, store, terminology, vitals
from ehr.access import READ, WRITE, Gate
from ehr.custody import BOOKING_SYSTEM, NATIONAL_ID_SYSTEM, custody_of, display_name, identifier
from ehr.entries import Entry, Namer, timeline
from ehr.errors import FhirError
from ehr.requests import run
from ehr.store import Stored
from ehr.transfer import Transfer, transfers
from telemed import addresses
from telemed.context import context_of
from telemed.http import audit, principal
from telemed.models import Detainee, Organization
from telemed.policy import decide
from telemed.ui import language
from webrtc.pages import CONSULT_ROLES

VITAL_SIGNS = "vital-signs"
LABORATORY = "laboratory"
MAX_LABS = 60
MAX_VITAL_HISTORY = 30
OWN_FLAGS = "http://telemed.example.org/fhir/CodeSystem/care"
RECORD_TYPES = ("Condition", "AllergyIntolerance", "MedicationRequest", "MedicationStatement", "Observation",
                "DiagnosticReport", "Encounter", "ServiceRequest", "DocumentReference")


def _category(resource: dict) -> set[str]:
    return {c.get("code", "") for cat in resource.get("category", []) for c in cat.get("coding", [])}


def status_code(value: dict | None, default: str = "") -> str:
    return ((value or {}).get("coding") or [{}])[0].get("code", default)


@dataclass
class Record:
    patient: dict
    custody: dict[str, str]
    facility_names: dict[str, str]
    booking: str
    national_id: str
    name: str
    transfers: list[Transfer]
    writable: bool = False
    problems: list[dict] = field(default_factory=list)
    resolved_problems: list[dict] = field(default_factory=list)
    allergies: list[dict] = field(default_factory=list)
    no_known_allergies: bool = False
    medications: list[dict] = field(default_factory=list)
    stopped_medications: list[dict] = field(default_factory=list)
    vitals: list[dict] = field(default_factory=list)
    vital_history: list[dict] = field(default_factory=list)
    labs: list[dict] = field(default_factory=list)
    timeline: list[Entry] = field(default_factory=list)
    flags: list[dict] = field(default_factory=list)  # active Flags, for the header: {code, text}


def problem_row(stored: Stored, name: Namer) -> dict:
    r = stored.resource
    icd = next((c["code"] for c in r.get("code", {}).get("coding", []) if c.get("system") == terminology.ICD10_SYSTEM
                and c.get("code")), "")
    return {"id": stored.id, "title": (terminology.title(icd, name.lang) if icd else "") or name.concept(r.get("code")),
            "code": icd, "status": status_code(r.get("clinicalStatus"), "active"),
            "onset": r.get("onsetDateTime", ""), "abatement": r.get("abatementDateTime", ""),
            "note": (r.get("note") or [{}])[0].get("text", ""), "source": r.get("recordedDate", "")}


def allergy_row(stored: Stored, name: Namer) -> dict:
    r = stored.resource
    reaction = (r.get("reaction") or [{}])[0]
    return {"id": stored.id, "substance": name.concept(r.get("code")), "criticality": r.get("criticality", ""),
            "reaction": ", ".join(name.concept(m) for m in reaction.get("manifestation", [])),
            "severity": reaction.get("severity", ""), "recorded": r.get("recordedDate", "")}


def medication_row(stored: Stored, name: Namer) -> dict:
    r = stored.resource
    dosage = (r.get("dosageInstruction") or r.get("dosage") or [{}])[0]
    dose = ((dosage.get("doseAndRate") or [{}])[0]).get("doseQuantity")
    bounds = dosage.get("timing", {}).get("repeat", {}).get("boundsPeriod", {})
    return {"id": stored.id, "drug": name.concept(r.get("medicationCodeableConcept")), "status": r.get("status", ""),
            "dose": dose, "route": charting.route_of(dosage), "frequency": charting.frequency_of(dosage),
            "text": dosage.get("text", ""), "start": bounds.get("start", ""), "end": bounds.get("end", ""),
            "reason": name.concept(r.get("statusReason")), "authored": r.get("authoredOn", "")}


def vital_rows(observations: list[Stored], name: Namer) -> list[dict]:
    """The latest of each vital sign, blood pressure as one row, in the order of the entry form."""
    latest: dict[str, dict] = {}
    for stored in observations:
        r = stored.resource
        code = next(iter(name.codes(r.get("code"))), "")
        if code not in latest or name.time_of(r) > name.time_of(latest[code]):
            latest[code] = r
    order = [vitals.BP_PANEL, *(v.loinc for v in vitals.VITALS)]
    ranked = sorted(latest.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0]))
    return [name.observation_row(r) for _, r in ranked]


def build(patient: Stored, history: list[Stored], resources: list[Stored], facility_names: dict[str, str],
          name: Namer, writable: bool) -> Record:
    body = patient.resource
    record = Record(body, custody_of(body), facility_names, identifier(body, BOOKING_SYSTEM),
                    identifier(body, NATIONAL_ID_SYSTEM), display_name(body), transfers(history), writable)
    vital_obs, labs = [], []
    for stored in resources:
        r, kind = stored.resource, stored.type
        if kind == "Condition" and status_code(r.get("verificationStatus")) != "entered-in-error":
            row = problem_row(stored, name)
            (record.resolved_problems if row["status"] in ("resolved", "inactive", "remission") else record.problems).append(row)
        elif kind == "AllergyIntolerance" and status_code(r.get("clinicalStatus"), "active") == "active":
            if charting.is_no_known_allergy(r):
                record.no_known_allergies = True
            else:
                record.allergies.append(allergy_row(stored, name))
        elif kind in ("MedicationRequest", "MedicationStatement"):
            row = medication_row(stored, name)
            (record.medications if row["status"] in ("active", "on-hold", "draft", "intended") else
             record.stopped_medications).append(row)
        elif kind == "Observation" and VITAL_SIGNS in _category(r):
            vital_obs.append(stored)
        elif kind == "Observation" and LABORATORY in _category(r):
            labs.append(r)
    record.vitals = vital_rows(vital_obs, name)
    newest = sorted((s.resource for s in vital_obs), key=name.time_of, reverse=True)[:MAX_VITAL_HISTORY]
    record.vital_history = [name.observation_row(r) for r in newest]
    record.labs = [name.observation_row(r) for r in sorted(labs, key=name.time_of, reverse=True)[:MAX_LABS]]
    record.timeline = timeline(resources, name)
    for rows in (record.problems, record.resolved_problems):
        rows.sort(key=lambda p: p["source"], reverse=True)
    record.medications.sort(key=lambda m: m["authored"], reverse=True)
    record.stopped_medications.sort(key=lambda m: m["authored"], reverse=True)
    return record


def load(session: Session, gate: Gate, patient_id: str, name: Namer) -> Record:
    patient = store.read(session, "Patient", patient_id)
    gate.check(session, READ, "ehr.record", "Patient", patient_id, patient_id)
    resources = gate.record_of(session, store.by_patient(session, patient_id, RECORD_TYPES), "ehr.record")
    history = store.history(session, "Patient", patient_id, count=500)
    orgs = session.exec(select(Organization)).all()
    names = {o.id: (o.name_zh or o.name) if name.lang == "zh-CN" else o.name for o in orgs}
    # Write controls only for whom the policy would let write (not audited: nothing is read by it).
    writable = decide(session, gate.who, WRITE, patient_id).allowed
    record = build(patient, history, resources, names, name, writable)
    flags = gate.record_of(session, store.by_patient(session, patient_id, ("Flag",)), "ehr.record")
    record.flags = [flag_row(s.resource) for s in flags if s.resource.get("status") == "active"]
    return record


def flag_row(flag: dict) -> dict:
    """A Flag of this server's own code system is shown in the page's language (care.flag.<code>);
    any other by its text."""
    coding = (flag.get("code", {}).get("coding") or [{}])[0]
    own = coding.get("system") == OWN_FLAGS
    return {"code": coding.get("code", "") if own else "", "text": flag.get("code", {}).get("text", "")}


def _old_address(session: Session, who, patient_id: str) -> str | None:
    """The address segment of an old Patient-id bookmark, for a caller who may read that record."""
    detainee = session.get(Detainee, patient_id)
    if detainee is None or not decide(session, who, READ, patient_id).allowed:
        return None
    return addresses.ref(detainee.booking_number, patient_id)


async def patient_of(request: web.Request, action: str = "ehr.record") -> str:
    """The Patient id a page's ``{ref}`` names. An old Patient-id address the caller may read is
    redirected to the same page by booking number; one they may not, and a booking number
    nobody has, are refused as an out-of-scope booking number is (the page does not tell which)."""
    db, who, segment = context_of(request).db, principal(request), request.match_info["ref"]
    patient_id = await db.read(addresses.resolve, who, segment)
    if patient_id is not None:
        return patient_id
    moved = await db.read(_old_address, who, segment)
    if moved:
        raise web.HTTPFound(str(request.rel_url).replace(f"/{segment}", f"/{moved}", 1))
    audit(request, action, "denied", reason="no detainee of that address within your access")
    raise web.HTTPForbidden(text="no such detainee within your access")


async def record_page(request: web.Request) -> web.StreamResponse:
    lang = language(request)
    name = Namer(lang, context_of(request).settings.tz)
    patient_id = await patient_of(request)
    try:
        record = await run(request, load, patient_id, name)
    except FhirError:
        raise web.HTTPForbidden(text="no such detainee within your access") from None
    context = {"record": record, "patient_id": patient_id, "ref": addresses.ref(record.booking, patient_id),
               "show": name,
               "consult_pages": principal(request).role in CONSULT_ROLES,  # the consult page is theirs
               "vital_fields": vitals.VITALS, "vital_bands": vitals.for_browser(), "form": charting}
    return aiohttp_jinja2.render_template("ehr/record.html", request, context)


def setup(app: web.Application) -> None:
    app.router.add_get("/detainees/{ref}", record_page)
