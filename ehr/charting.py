"""What the doctor types on the record page, checked field by field and made into FHIR resources.

Every function here is pure: it takes the form's fields and answers the resources to write, or
raises ``FieldErrors`` naming each bad field with a message key (translated by the page). Nothing
is written until every field of the form is right."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ehr import terminology, vitals
from ehr.custody import BASE
from telemed.timeutil import fhir_instant, utcnow

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
GTS = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
NO_KNOWN_ALLERGY = "716186003"
PROGRESS_NOTE = "11506-3"
AMENDMENT_REASON = f"{BASE}/StructureDefinition/amendment-reason"
USER_SYSTEM = f"{BASE}/user"
SOAP = ("subjective", "objective", "assessment", "plan")
SEVERITIES = ("mild", "moderate", "severe")
CRITICALITIES = ("low", "high", "unable-to-assess")
# Route key -> SNOMED CT route of administration.
ROUTES = {"oral": "26643006", "iv": "47625008", "im": "78421000", "sc": "34206005", "topical": "6064005",
          "inhaled": "447694001", "sublingual": "37839007", "rectal": "37161004"}
# Frequency key -> FHIR Timing; "prn" is as needed, "once" a single dose.
FREQUENCIES = {
    "qd": {"code": {"coding": [{"system": GTS, "code": "QD"}]}, "repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
    "bid": {"code": {"coding": [{"system": GTS, "code": "BID"}]}, "repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
    "tid": {"code": {"coding": [{"system": GTS, "code": "TID"}]}, "repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
    "qid": {"code": {"coding": [{"system": GTS, "code": "QID"}]}, "repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}},
    "qn": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]}},
    "prn": {},
    "once": {"repeat": {"count": 1}},
}
# UCUM dose unit -> its key among the translated unit names.
DOSE_UNITS = {"mg": "mg", "g": "g", "ug": "ug", "mL": "ml", "[iU]": "iu", "{tbl}": "tablet", "{puff}": "puff",
              "{drop}": "drop"}
MAX_TEXT = 4000


class FieldErrors(Exception):
    def __init__(self, errors: dict[str, str]):
        super().__init__(", ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class Form:
    """The fields of one submitted form, read one at a time, errors collected."""

    data: dict
    tz: ZoneInfo
    lang: str = "en"  # the writer's, for the text a diagnosis is stored with
    errors: dict[str, str] = field(default_factory=dict)

    def text(self, name: str, *, required: bool = False, limit: int = 200) -> str:
        value = self.data.get(name)
        value = "" if value is None else str(value).strip()
        if required and not value:
            self.errors[name] = "ehr.error.required"
        elif len(value) > limit:
            self.errors[name] = "ehr.error.too_long"
        return value

    def choice(self, name: str, options, *, required: bool = True) -> str:
        value = self.text(name, required=required)
        if value and value not in options:
            self.errors[name] = "ehr.error.choice"
        return value

    def number(self, name: str, low: float, high: float) -> float | None:
        raw = self.text(name)
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            self.errors[name] = "ehr.error.number"
            return None
        if not low <= value <= high:
            self.errors[name] = "ehr.error.implausible"
            return None
        return int(value) if value.is_integer() else value

    def day(self, name: str, *, required: bool = False) -> str:
        raw = self.text(name, required=required)
        if not raw:
            return ""
        try:
            found = date.fromisoformat(raw)
        except ValueError:
            self.errors[name] = "ehr.error.date"
            return ""
        if found > utcnow().astimezone(self.tz).date():
            self.errors[name] = "ehr.error.future"
        return found.isoformat()

    def moment(self, name: str) -> str:
        """A facility-local date and time from the form (now when left empty), as a FHIR instant."""
        raw = self.text(name)
        if not raw:
            return fhir_instant(utcnow())
        try:
            found = datetime.fromisoformat(raw).replace(tzinfo=self.tz)
        except ValueError:
            self.errors[name] = "ehr.error.date"
            return ""
        if found > utcnow():
            self.errors[name] = "ehr.error.future"
        return fhir_instant(found)

    def done(self) -> None:
        if self.errors:
            raise FieldErrors(self.errors)


def _subject(patient_id: str) -> dict:
    return {"reference": f"Patient/{patient_id}"}


def _status(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


# -- problems -----------------------------------------------------------------------------------
def problem(form: Form, patient_id: str, author: str, before: dict | None = None) -> dict:
    """A new Condition, or ``before`` with the diagnosis, onset and note changed."""
    code = form.text("code", required=True, limit=10)
    entry = terminology.lookup(code) if code else None
    if code and entry is None:
        form.errors["code"] = "ehr.error.icd10"
    onset = form.day("onset")
    note = form.text("note", limit=MAX_TEXT)
    form.done()
    resource = dict(before) if before else {
        "resourceType": "Condition", "clinicalStatus": _status(CLINICAL, "active"),
        "verificationStatus": _status(VERIFICATION, "confirmed"),
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                  "code": "problem-list-item"}]}],
        "subject": _subject(patient_id), "recordedDate": fhir_instant(utcnow()), "recorder": {"display": author},
    }
    resource["code"] = {"coding": [{"system": terminology.ICD10_SYSTEM, "code": entry.code, "display": entry.en}],
                        "text": entry.title(form.lang)}
    for key, value in (("onsetDateTime", onset), ("note", [{"text": note}] if note else None)):
        if value:
            resource[key] = value
        else:
            resource.pop(key, None)
    return resource


def resolved(form: Form, before: dict) -> dict:
    on = form.day("abatement") or utcnow().astimezone(form.tz).date().isoformat()
    form.done()
    return {**before, "clinicalStatus": _status(CLINICAL, "resolved"), "abatementDateTime": on}


# -- allergies ----------------------------------------------------------------------------------
def allergy(form: Form, patient_id: str, author: str) -> dict:
    substance = form.text("substance", required=True)
    reaction = form.text("reaction")
    severity = form.choice("severity", SEVERITIES, required=False)
    criticality = form.choice("criticality", CRITICALITIES)
    form.done()
    resource = {
        "resourceType": "AllergyIntolerance", "clinicalStatus": _status(ALLERGY_CLINICAL, "active"),
        "verificationStatus": _status(ALLERGY_VERIFICATION, "confirmed"), "code": {"text": substance},
        "criticality": criticality, "patient": _subject(patient_id), "recordedDate": fhir_instant(utcnow()),
        "recorder": {"display": author},
    }
    if reaction or severity:
        found: dict = {"manifestation": [{"text": reaction or substance}]}
        if severity:
            found["severity"] = severity
        resource["reaction"] = [found]
    return resource


def no_known_allergies(patient_id: str, author: str) -> dict:
    return {
        "resourceType": "AllergyIntolerance", "clinicalStatus": _status(ALLERGY_CLINICAL, "active"),
        "verificationStatus": _status(ALLERGY_VERIFICATION, "confirmed"),
        "code": {"coding": [{"system": SNOMED, "code": NO_KNOWN_ALLERGY, "display": "No known allergy"}]},
        "patient": _subject(patient_id), "recordedDate": fhir_instant(utcnow()), "recorder": {"display": author},
    }


def is_no_known_allergy(resource: dict) -> bool:
    return any(c.get("code") == NO_KNOWN_ALLERGY for c in resource.get("code", {}).get("coding", []))


def replaced(no_known: dict) -> dict:
    """"No known allergies" once an allergy is recorded: no longer true."""
    return {**no_known, "clinicalStatus": _status(ALLERGY_CLINICAL, "inactive"),
            "verificationStatus": _status(ALLERGY_VERIFICATION, "refuted")}


# -- medications --------------------------------------------------------------------------------
def medication(form: Form, patient_id: str, author: str) -> dict:
    drug = form.text("drug", required=True)
    dose = form.number("dose", 0.001, 100000)
    if dose is None and "dose" not in form.errors:
        form.errors["dose"] = "ehr.error.required"
    dose_unit = form.choice("dose_unit", DOSE_UNITS)
    route = form.choice("route", ROUTES)
    frequency = form.choice("frequency", FREQUENCIES)
    start = form.day("start") or utcnow().astimezone(form.tz).date().isoformat()
    end = form.text("end")
    if end:
        try:
            if date.fromisoformat(end) < date.fromisoformat(start):
                form.errors["end"] = "ehr.error.end_before_start"
        except ValueError:
            form.errors["end"] = "ehr.error.date"
    form.done()
    bounds = {"start": start, **({"end": end} if end else {})}
    timing = {**FREQUENCIES[frequency]}
    timing["repeat"] = {**timing.get("repeat", {}), "boundsPeriod": bounds}
    dosage = {"timing": timing, "route": {"coding": [{"system": SNOMED, "code": ROUTES[route]}]},
              "doseAndRate": [{"doseQuantity": {"value": dose, "unit": dose_unit, "system": vitals.UCUM,
                                                "code": dose_unit}}]}
    if frequency == "prn":
        dosage["asNeededBoolean"] = True
    return {
        "resourceType": "MedicationRequest", "status": "active", "intent": "order",
        "medicationCodeableConcept": {"text": drug}, "subject": _subject(patient_id),
        "authoredOn": fhir_instant(utcnow()), "requester": {"display": author}, "dosageInstruction": [dosage],
    }


def stopped(form: Form, before: dict) -> dict:
    reason = form.text("reason", required=True, limit=MAX_TEXT)
    form.done()
    today = utcnow().astimezone(form.tz).date().isoformat()
    resource = {**before, "status": "stopped", "statusReason": {"text": reason}}
    dosages = []
    for dosage in before.get("dosageInstruction", []):
        repeat = dosage.get("timing", {}).get("repeat", {})
        bounds = repeat.get("boundsPeriod", {})
        if not bounds.get("end") or bounds["end"] > today:
            bounds = {**bounds, "end": max(today, bounds.get("start", today))}
            dosage = {**dosage, "timing": {**dosage.get("timing", {}), "repeat": {**repeat, "boundsPeriod": bounds}}}
        dosages.append(dosage)
    if dosages:
        resource["dosageInstruction"] = dosages
    return resource


def frequency_of(dosage: dict) -> str:
    """The form's frequency key a dosage was written with ("" for one written elsewhere)."""
    if dosage.get("asNeededBoolean"):
        return "prn"
    timing = dosage.get("timing", {})
    repeat = {k: v for k, v in timing.get("repeat", {}).items() if k != "boundsPeriod"}
    for key, shape in FREQUENCIES.items():
        if shape and shape.get("repeat", {}) == repeat and shape.get("code") == timing.get("code"):
            return key
    return ""


def route_of(dosage: dict) -> str:
    codes = {c.get("code") for c in dosage.get("route", {}).get("coding", [])}
    return next((key for key, code in ROUTES.items() if code in codes), "")


# -- vital signs --------------------------------------------------------------------------------
def vital_signs(form: Form, patient_id: str, author: str) -> list[dict]:
    values = {v.key: form.number(v.key, *v.plausible) for v in vitals.VITALS}
    at = form.moment("at")
    if (values["sbp"] is None) != (values["dbp"] is None) and not {"sbp", "dbp"} & form.errors.keys():
        form.errors["dbp" if values["dbp"] is None else "sbp"] = "ehr.error.bp_pair"
    if values["sbp"] is not None and values["dbp"] is not None and values["dbp"] >= values["sbp"]:
        form.errors["dbp"] = "ehr.error.bp_order"
    if not form.errors and all(v is None for v in values.values()):
        form.errors["sbp"] = "ehr.error.no_vitals"
    form.done()
    found = []
    if values["sbp"] is not None:
        found.append(vitals.blood_pressure(values["sbp"], values["dbp"], patient_id, at, author))
    for vital in vitals.VITALS:
        if vital.key not in ("sbp", "dbp") and values[vital.key] is not None:
            found.append(vitals.observation(vital, values[vital.key], patient_id, at, author))
    return found


# -- progress notes -----------------------------------------------------------------------------
def note(form: Form, patient_id: str, author: str, replaces: str | None = None) -> dict:
    """A signed progress note: SOAP (four parts) or free text; ``replaces`` the note it amends."""
    reason = form.text("reason", required=replaces is not None, limit=500)
    resource = signed(_note_body(form, patient_id, author), author)
    if replaces:
        resource["relatesTo"] = [{"code": "replaces", "target": {"reference": f"DocumentReference/{replaces}"}}]
        resource["extension"] = [{"url": AMENDMENT_REASON, "valueString": reason}]
    return resource


def draft(form: Form, patient_id: str, author: str, username: str) -> dict:
    """A progress note saved unsigned (docStatus preliminary), which only its author edits and signs."""
    resource = _note_body(form, patient_id, author)
    resource["author"] = [{"display": author, "identifier": {"system": USER_SYSTEM, "value": username}}]
    return {**resource, "docStatus": "preliminary"}


def signed(resource: dict, author: str) -> dict:
    # dated when written (a rounds note keeps the time it was taken), else when signed
    return {**resource, "docStatus": "final", "date": resource.get("date") or fhir_instant(utcnow()),
            "authenticator": {"display": author}}


def _note_body(form: Form, patient_id: str, author: str) -> dict:
    shape = form.choice("shape", ("soap", "free"))
    parts = [(key, form.text(key, limit=MAX_TEXT)) for key in (SOAP if shape == "soap" else ("text",))]
    if shape and not any(text for _, text in parts):
        form.errors[parts[0][0]] = "ehr.error.empty_note"
    now = form.moment("at")  # when written: a note taken on rounds and sent later keeps its time
    form.done()
    return {
        "resourceType": "DocumentReference", "status": "current",
        "type": {"coding": [{"system": LOINC, "code": PROGRESS_NOTE, "display": "Progress note"}]},
        "subject": _subject(patient_id), "date": now, "author": [{"display": author}],
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "title": key,
                                    "data": base64.b64encode(text.encode()).decode(), "creation": now}}
                    for key, text in parts if text],
    }


def is_draft(resource: dict) -> bool:
    return resource.get("docStatus") == "preliminary"


def drafted_by(resource: dict) -> str:
    """The username of the note's author, as a draft records it."""
    return next((a.get("identifier", {}).get("value", "") for a in resource.get("author", [])
                 if a.get("identifier", {}).get("system") == USER_SYSTEM), "")


def superseded(before: dict) -> dict:
    return {**before, "status": "superseded"}


def is_progress_note(resource: dict) -> bool:
    return any(c.get("code") == PROGRESS_NOTE for c in resource.get("type", {}).get("coding", []))
