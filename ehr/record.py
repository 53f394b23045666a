"""The detainee record page, ``/detainees/{patient_id}``: one view of the whole FHIR record."""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp_jinja2
from aiohttp import web
from sqlmodel import Session, select

from ehr import store
from ehr.access import READ, Gate
from ehr.custody import BOOKING_SYSTEM, NATIONAL_ID_SYSTEM, custody_of, display_name, identifier
from ehr.errors import FhirError
from ehr.store import Stored
from ehr.transfer import Transfer, transfers
from ehr.requests import run
from telemed.i18n import translate
from telemed.ui import language
from telemed.models import Organization

VITAL_SIGNS = "vital-signs"
LABORATORY = "laboratory"
CONSULT = "consult"
MAX_LABS = 60
RECORD_TYPES = ("Condition", "AllergyIntolerance", "MedicationRequest", "MedicationStatement", "Observation",
                "DiagnosticReport", "Encounter", "ServiceRequest", "DocumentReference")


def concept(value: dict | None) -> str:
    """What a CodeableConcept says, for people."""
    if not value:
        return ""
    if value.get("text"):
        return value["text"]
    for coding in value.get("coding", []):
        if coding.get("display") or coding.get("code"):
            return coding.get("display") or coding["code"]
    return ""


def codes(value: dict | None) -> set[str]:
    return {c.get("code", "") for c in (value or {}).get("coding", [])}


def _amount(q: dict) -> str:
    """A Quantity's number as written, with its comparator (``<0.5``)."""
    value = q.get("value", "")
    return f"{q.get('comparator', '')}{value:g}" if isinstance(value, int | float) else str(value)


def _unit(q: dict) -> str:
    return q.get("unit") or q.get("code", "")


def quantity(observation: dict) -> str:
    if "valueQuantity" in observation:
        q = observation["valueQuantity"]
        return f"{_amount(q)} {_unit(q)}".strip()
    if "valueRange" in observation:
        low, high = observation["valueRange"].get("low", {}), observation["valueRange"].get("high", {})
        return f"{_amount(low)}-{_amount(high)} {_unit(high) or _unit(low)}".strip()
    if "valueRatio" in observation:
        ratio = observation["valueRatio"]
        return f"{_amount(ratio.get('numerator', {}))}:{_amount(ratio.get('denominator', {}))}"
    if "component" in observation:
        return " / ".join(quantity(c) for c in observation["component"])
    for key in ("valueString", "valueCodeableConcept", "valueBoolean", "valueInteger"):
        if key in observation:
            value = observation[key]
            return concept(value) if isinstance(value, dict) else str(value)
    return ""


SHOWN_STATUSES = ("preliminary", "corrected", "amended", "cancelled", "entered-in-error")


def marks(resource: dict, lang: str) -> list[tuple[str, str]]:
    """(kind, label) of what must be read with a value: its status when it is not simply final
    (corrected, preliminary ...), and its specimen's conditions (a haemolysed potassium)."""
    found = []
    status = resource.get("status", "")
    if status in SHOWN_STATUSES:
        found.append((f"status-{status}", translate(lang, f"ehr.result_status.{status}")))
    for contained in resource.get("contained", []):
        if contained.get("resourceType") != "Specimen":
            continue
        for condition in contained.get("condition", []):
            found.append(("condition", condition_label(codes(condition), concept(condition), lang)))
    return found


def condition_label(found: set[str], fallback: str, lang: str) -> str:
    """A specimen condition in the reader's language (HL7 v2-0493 or SNOMED CT code)."""
    for code in sorted(found):
        key = f"ehr.condition.{code}"
        text = translate(lang, key)
        if text != key:
            return text
    return fallback


def when(resource: dict) -> str:
    for key in ("effectiveDateTime", "issued", "authoredOn", "date", "recordedDate", "onsetDateTime", "start"):
        if resource.get(key):
            return resource[key]
    for key in ("effectivePeriod", "period", "occurrencePeriod"):
        if resource.get(key, {}).get("start"):
            return resource[key]["start"]
    return resource.get("occurrenceDateTime", "")


@dataclass
class TimelineItem:
    at: str
    kind: str  # encounter | consult-request | consult-note
    title: str
    status: str
    ref: str


@dataclass
class Record:
    patient: dict
    custody: dict[str, str]
    facility_names: dict[str, str]
    booking: str
    national_id: str
    name: str
    transfers: list[Transfer]
    problems: list[dict] = field(default_factory=list)
    allergies: list[dict] = field(default_factory=list)
    medications: list[dict] = field(default_factory=list)
    vitals: list[dict] = field(default_factory=list)
    labs: list[dict] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)
    timeline: list[TimelineItem] = field(default_factory=list)


def _category(resource: dict) -> set[str]:
    return {code for c in resource.get("category", []) for code in codes(c)}


def build(patient: Stored, history: list[Stored], resources: list[Stored], facility_names: dict[str, str]) -> Record:
    body = patient.resource
    custody = custody_of(body)
    record = Record(body, custody, facility_names,
                    identifier(body, BOOKING_SYSTEM), identifier(body, NATIONAL_ID_SYSTEM), display_name(body),
                    transfers(history))
    latest_vitals: dict[str, dict] = {}
    for stored in resources:
        r = stored.resource
        kind = stored.type
        if kind == "Condition":
            record.problems.append(r)
        elif kind == "AllergyIntolerance":
            record.allergies.append(r)
        elif kind in ("MedicationRequest", "MedicationStatement"):
            record.medications.append(r)
        elif kind == "Observation" and VITAL_SIGNS in _category(r):
            key = concept(r.get("code"))
            if key not in latest_vitals or when(r) > when(latest_vitals[key]):
                latest_vitals[key] = r
        elif kind == "Observation" and LABORATORY in _category(r):
            record.labs.append(r)
        elif kind == "DiagnosticReport":
            record.reports.append(r)
        elif kind == "Encounter":
            record.timeline.append(TimelineItem(when(r), "encounter", concept((r.get("type") or [{}])[0]) or
                                                r.get("class", {}).get("display", r.get("class", {}).get("code", "")),
                                                r.get("status", ""), f"Encounter/{stored.id}"))
        elif kind == "ServiceRequest" and CONSULT in _category(r):
            record.timeline.append(TimelineItem(when(r) or stored.last_updated.isoformat(), "consult-request",
                                                concept(r.get("code")), r.get("status", ""), f"ServiceRequest/{stored.id}"))
        elif kind == "DocumentReference":
            record.timeline.append(TimelineItem(when(r) or stored.last_updated.isoformat(), "consult-note",
                                                r.get("description") or concept(r.get("type")), r.get("status", ""),
                                                f"DocumentReference/{stored.id}"))
    record.vitals = sorted(latest_vitals.values(), key=lambda o: concept(o.get("code")))
    record.labs = sorted(record.labs, key=when, reverse=True)[:MAX_LABS]
    record.timeline.sort(key=lambda item: item.at, reverse=True)
    return record


def load(session: Session, gate: Gate, patient_id: str, lang: str) -> Record:
    patient = store.read(session, "Patient", patient_id)
    gate.check(session, READ, "ehr.record", "Patient", patient_id, patient_id)
    resources = gate.record_of(session, store.by_patient(session, patient_id, RECORD_TYPES), "ehr.record")
    history = store.history(session, "Patient", patient_id, count=500)
    orgs = session.exec(select(Organization)).all()
    names = {o.id: (o.name_zh or o.name) if lang == "zh-CN" else o.name for o in orgs}
    return build(patient, history, resources, names)


async def record_page(request: web.Request) -> web.StreamResponse:
    try:
        record = await run(request, load, request.match_info["patient_id"], language(request))
    except FhirError as error:
        message = error.outcome()["issue"][0]["diagnostics"]
        raise (web.HTTPForbidden if error.status == 403 else web.HTTPNotFound)(text=message) from None
    lang = language(request)
    context = {"record": record, "patient_id": request.match_info["patient_id"], "concept": concept,
               "quantity": quantity, "when": when, "marks": lambda resource: marks(resource, lang)}
    return aiohttp_jinja2.render_template("ehr/record.html", request, context)


def setup(app: web.Application) -> None:
    app.router.add_get("/detainees/{patient_id}", record_page)
