"""Structured prescriptions of a consult: drug, dose, route, frequency and duration, checked,
written as a FHIR MedicationRequest dosage, and described in words in either language.

Routes are SNOMED CT route-of-administration codes (the FHIR R4 example value set); frequencies
are HL7 v3 GTSAbbreviation codes with their FHIR Timing repeat."""

from __future__ import annotations

from telemed.i18n import translate

SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ROUTES = {  # code -> SNOMED CT concept
    "oral": "26643006", "sublingual": "37839007", "iv": "47625008", "im": "78421000", "sc": "34206005",
    "topical": "6064005", "inhaled": "447694001", "rectal": "37161004",
}
FREQUENCIES = {  # GTSAbbreviation -> Timing.repeat (None: as needed)
    "QD": {"frequency": 1, "period": 1, "periodUnit": "d"},
    "BID": {"frequency": 2, "period": 1, "periodUnit": "d"},
    "TID": {"frequency": 3, "period": 1, "periodUnit": "d"},
    "QID": {"frequency": 4, "period": 1, "periodUnit": "d"},
    "Q8H": {"frequency": 1, "period": 8, "periodUnit": "h"},
    "ONCE": {"count": 1},
    "PRN": None,
}
DOSE_UNITS = ("mg", "g", "ug", "mL", "[IU]", "{tbl}")
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


def describe(item: dict, lang: str) -> str:
    """``Aspirin 100 mg, by mouth, once a day, for 14 days`` (or its Chinese)."""
    _ = lambda key, **values: translate(lang, f"webrtc.{key}", **values)  # noqa: E731
    dose = f"{item['dose_value']:g} {_('dose_unit_' + item['dose_unit'])}"
    parts = [f"{item['medication']} {dose}", _(f"route_{item['route']}"), _(f"frequency_{item['frequency']}")]
    if item.get("duration_days"):
        parts.append(_("for_days", days=item["duration_days"]))
    return _("list_separator").join(parts)


def dosage(item: dict, lang: str) -> dict:
    """The FHIR Dosage of a checked prescription."""
    found: dict = {
        "text": describe(item, lang),
        "route": {"coding": [{"system": SNOMED, "code": ROUTES[item["route"]]}],
                  "text": translate(lang, f"webrtc.route_{item['route']}")},
        "doseAndRate": [{"doseQuantity": {"value": item["dose_value"], "system": UCUM, "code": item["dose_unit"],
                                          "unit": translate(lang, f"webrtc.dose_unit_{item['dose_unit']}")}}],
    }
    repeat = FREQUENCIES[item["frequency"]]
    if repeat is None:
        found["asNeededBoolean"] = True
        repeat = {}
    else:
        repeat = dict(repeat)
    if item.get("duration_days"):
        repeat["boundsDuration"] = {"value": item["duration_days"], "unit": "d", "system": UCUM, "code": "d"}
    timing: dict = {"code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation",
                                         "code": item["frequency"]}]}} if item["frequency"] != "PRN" else {}
    if repeat:
        timing["repeat"] = repeat
    if timing:
        found["timing"] = timing
    return found


def describe_resource(resource: dict) -> str:
    """A MedicationRequest in the words it was signed with."""
    medication = resource.get("medicationCodeableConcept", {}).get("text", "")
    text = (resource.get("dosageInstruction") or [{}])[0].get("text", "")
    return text if text.startswith(medication) else f"{medication} {text}".strip()
