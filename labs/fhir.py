"""FHIR resources of the labs capability, built from catalogue templates (no per-row validation;
tests validate one representative of each test against the R4B models)."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from labs import qualitative
from labs.catalog import LOINC, PANEL_SYSTEM, SPECIMENS, UCUM, Band, Panel, Test, catalogue
from labs.flags import DISPLAY, INTERPRETATION_SYSTEM, Flag
from telemed.timeutil import fhir_instant

CATEGORY = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                         "code": "laboratory", "display": "Laboratory"}]}]
REPORT_CATEGORY = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB",
                                "display": "Laboratory"}]}]
VALUE_SYSTEM = "http://telemed.example.org/fhir/CodeSystem/lab-qualitative-value"
DELTA_EXTENSION = "http://telemed.example.org/fhir/StructureDefinition/lab-delta-check"


def definition_id(loinc: str) -> str:
    return f"lab-{loinc}"


def test_code(test: Test) -> dict:
    return {"coding": [{"system": LOINC, "code": test.loinc, "display": test.name_en}],
            "text": f"{test.name_zh} ({test.abbr})"}


@cache
def _code_of(loinc: str) -> dict:
    return test_code(catalogue().tests[loinc])


def panel_code(panel: Panel) -> dict:
    coding = [{"system": PANEL_SYSTEM, "code": panel.code, "display": panel.name_en}]
    if panel.loinc:
        coding.insert(0, {"system": LOINC, "code": panel.loinc, "display": panel.name_en})
    return {"coding": coding, "text": panel.name_zh}


def quantity(value: float, unit: str) -> dict:
    found = {"value": value}
    if unit:
        found.update(unit=unit, system=UCUM, code=unit)
    return found


def reference_range(test: Test, band: Band | None, applies_to: str | None = None) -> dict | None:
    if band is None or not test.quantitative:
        return None
    found: dict = {}
    if band.low is not None:
        found["low"] = quantity(band.low, test.unit)
    if band.high is not None:
        found["high"] = quantity(band.high, test.unit)
    if band.age_min or band.age_max < 150:
        found["age"] = {"low": {"value": band.age_min, "unit": "a", "system": UCUM, "code": "a"},
                        "high": {"value": band.age_max, "unit": "a", "system": UCUM, "code": "a"}}
    if applies_to:
        found["appliesTo"] = [{"text": applies_to}]
    return found


@cache
def interpretation(flag: str) -> list[dict]:
    return [{"coding": [{"system": INTERPRETATION_SYSTEM, "code": flag, "display": DISPLAY[Flag(flag)]}]}]


def observation(test: Test, *, patient_id: str, effective_at: datetime, value_num: float | None, value_code: str,
                flag: str, band: Band | None, order_id: str | None, delta: bool) -> dict:
    resource: dict = {
        "resourceType": "Observation",
        "status": "final",
        "category": CATEGORY,
        "code": _code_of(test.loinc),
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": fhir_instant(effective_at),
        "interpretation": interpretation(flag),
        "specimen": {"display": SPECIMENS[test.specimen][0]},
    }
    if value_num is not None:
        resource["valueQuantity"] = quantity(round(value_num, test.decimals), test.unit)
    else:
        resource["valueCodeableConcept"] = {"coding": [{"system": VALUE_SYSTEM, "code": value_code}],
                                            "text": qualitative.label(value_code, "zh-CN")}
    ref = _observation_range(test.loinc, band)
    if ref:
        resource["referenceRange"] = ref
    if order_id:
        resource["basedOn"] = [{"reference": f"ServiceRequest/{order_id}"}]
    if delta:
        resource["extension"] = [{"url": DELTA_EXTENSION, "valueBoolean": True}]
    return resource


@cache
def _observation_range(loinc: str, band: Band | None) -> list[dict] | None:
    """Shared by every Observation of that test and band (bulk imports build thousands)."""
    ref = reference_range(catalogue().tests[loinc], band)
    return [ref] if ref else None


def diagnostic_report(panel: Panel, *, patient_id: str, effective_at: datetime, observation_ids: list[str],
                      order_id: str | None) -> dict:
    resource = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "category": REPORT_CATEGORY,
        "code": panel_code(panel),
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": fhir_instant(effective_at),
        "issued": fhir_instant(effective_at),
        "result": [{"reference": f"Observation/{oid}"} for oid in observation_ids],
    }
    if order_id:
        resource["basedOn"] = [{"reference": f"ServiceRequest/{order_id}"}]
    return resource


def service_request(tests: list[Test], panels: list[Panel], *, patient_id: str, requester: str, note: str,
                    authored: datetime) -> dict:
    codes = [panel_code(p) for p in panels] + [test_code(t) for t in tests]
    resource = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "108252007",
                                  "display": "Laboratory procedure"}]}],
        "code": codes[0],
        "orderDetail": codes[1:] or None,
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": fhir_instant(authored),
        "requester": {"display": requester},
    }
    if note:
        resource["note"] = [{"text": note}]
    return {k: v for k, v in resource.items() if v is not None}


def observation_definition(test: Test, sources: dict[str, str]) -> dict:
    """The catalogue entry as an ObservationDefinition (stable id ``lab-<loinc>``)."""
    resource: dict = {
        "resourceType": "ObservationDefinition",
        "category": CATEGORY,
        "code": test_code(test),
        "permittedDataType": ["Quantity"] if test.quantitative else ["CodeableConcept"],
    }
    if test.quantitative:
        resource["quantitativeDetails"] = {
            "unit": {"coding": [{"system": UCUM, "code": test.unit}], "text": test.unit},
            "decimalPrecision": test.decimals,
        }
        intervals = []
        for sex, bands in test.ranges.items():
            for band in bands or ():
                ref = reference_range(test, band)
                interval = {"category": "reference", "gender": sex, "context": {"text": sources.get(test.ref_source, test.ref_source)}}
                interval.update({"range": {k: ref[k] for k in ("low", "high") if k in ref}} if set(ref) & {"low", "high"} else {})
                if "age" in ref:
                    interval["age"] = ref["age"]
                intervals.append(interval)
        for bound, key in ((test.crit_low, "low"), (test.crit_high, "high")):
            if bound is not None:
                intervals.append({"category": "critical", "range": {key: quantity(bound, test.unit)},
                                  "context": {"text": sources.get(test.crit_source, test.crit_source)}})
        resource["qualifiedInterval"] = intervals
    else:
        resource["validCodedValueSet"] = {"display": "|".join(test.values)}
        resource["normalCodedValueSet"] = {"display": "|".join(test.normal)}
    return resource
