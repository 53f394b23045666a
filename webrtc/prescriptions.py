"""Structured prescriptions of a consult: drug, dose, route, frequency and duration, checked,
written as a FHIR MedicationRequest dosage, and described in words in either language.

The vocabulary is the record page's (``ehr.charting``): routes as SNOMED CT route codes, doses in
UCUM, frequencies as FHIR Timing (HL7 GTSAbbreviation codes), and their translated names."""

from __future__ import annotations

import copy

from ehr.charting import DOSE_UNITS, FREQUENCIES, ROUTES, SNOMED
from telemed.i18n import translate

UCUM = "http://unitsofmeasure.org"
FIELDS = ("medication", "dose_value", "dose_unit", "route", "frequency", "duration_days")


class PrescriptionError(ValueError):
    pass


def check(item: object) -> dict:
    """A complete prescription or PrescriptionError naming the field; ``duration_days`` may be
    left out (until stopped)."""
    if not isinstance(item, dict):
        raise PrescriptionError("each prescription must be an object")
    unknown = set(item) - set(FIELDS)
    if unknown:
        raise PrescriptionError(f"prescription field {sorted(unknown)[0]!r} is not known")
    medication = item.get("medication")
    if not isinstance(medication, str) or not medication.strip() or len(medication) > 200:
        raise PrescriptionError("prescription medication is required (at most 200 characters)")
    dose = item.get("dose_value")
    if isinstance(dose, bool) or not isinstance(dose, (int, float)) or not 0 < dose < 100000:
        raise PrescriptionError("prescription dose_value must be a positive number")
    for key, allowed in (("dose_unit", DOSE_UNITS), ("route", ROUTES), ("frequency", FREQUENCIES)):
        if item.get(key) not in allowed:
            raise PrescriptionError(f"prescription {key} must be one of {', '.join(allowed)}")
    days = item.get("duration_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not 0 < days <= 365):
        raise PrescriptionError("prescription duration_days must be a whole number of days, 1 to 365")
    return {**{k: item.get(k) for k in FIELDS}, "medication": medication.strip()}


def words(item: dict, lang: str) -> dict[str, str]:
    """The dose unit, route and frequency of a checked prescription in ``lang``."""
    return {"unit": translate(lang, f"ehr.unit.{DOSE_UNITS[item['dose_unit']]}"),
            "route": translate(lang, f"ehr.routes.{item['route']}"),
            "frequency": translate(lang, f"ehr.frequencies.{item['frequency']}")}


def describe(item: dict, lang: str) -> str:
    """``Aspirin 100 mg, oral, once daily, for 14 days`` (or its Chinese)."""
    said = words(item, lang)
    parts = [f"{item['medication']} {item['dose_value']:g} {said['unit']}", said["route"], said["frequency"]]
    if item.get("duration_days"):
        parts.append(translate(lang, "webrtc.for_days", days=item["duration_days"]))
    return translate(lang, "webrtc.list_separator").join(parts)


def dosage(item: dict, lang: str) -> dict:
    """The FHIR Dosage of a checked prescription."""
    said = words(item, lang)
    found: dict = {
        "text": describe(item, lang),
        "route": {"coding": [{"system": SNOMED, "code": ROUTES[item["route"]]}], "text": said["route"]},
        "doseAndRate": [{"doseQuantity": {"value": item["dose_value"], "system": UCUM, "code": item["dose_unit"],
                                          "unit": said["unit"]}}],
    }
    timing = copy.deepcopy(FREQUENCIES[item["frequency"]])
    if item["frequency"] == "prn":
        found["asNeededBoolean"] = True
    if item.get("duration_days"):
        timing.setdefault("repeat", {})["boundsDuration"] = {"value": item["duration_days"], "unit": "d",
                                                             "system": UCUM, "code": "d"}
    if timing:
        found["timing"] = timing
    return found


def describe_resource(resource: dict) -> str:
    """A MedicationRequest in the words it was signed with."""
    medication = resource.get("medicationCodeableConcept", {}).get("text", "")
    text = (resource.get("dosageInstruction") or [{}])[0].get("text", "")
    return text if text.startswith(medication) else f"{medication} {text}".strip()
