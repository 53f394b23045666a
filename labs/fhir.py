"""FHIR resources of the labs capability, built from catalogue templates (no per-row validation;
tests validate one representative of each test against the R4B models)."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from labs import qualitative, specimen
from labs.catalog import LOINC, PANEL_SYSTEM, SPECIMENS, UCUM, Band, Panel, Test, catalogue
from labs.flags import DISPLAY, INTERPRETATION_SYSTEM, Flag
from labs.values import Reading
from telemed.timeutil import fhir_instant

CATEGORY = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                         "code": "laboratory", "display": "Laboratory"}]}]
REPORT_CATEGORY = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB",
                                "display": "Laboratory"}]}]
VALUE_SYSTEM = "http://telemed.example.org/fhir/CodeSystem/lab-qualitative-value"
DELTA_EXTENSION = "http://telemed.example.org/fhir/StructureDefinition/lab-delta-check"
REPORT_NOTE_EXTENSION = "http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note"
ABSENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/data-absent-reason"


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
                flag: str, band: Band | None, order_id: str | None, delta: bool, status: str = "final",
                reading: Reading | None = None, notes: list[dict] = (), conditions: tuple[str, ...] = ()) -> dict:
    resource: dict = {
        "resourceType": "Observation",
        "status": status,
        "category": CATEGORY,
        "code": _code_of(test.loinc),
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": fhir_instant(effective_at),
    }
    if flag:
        resource["interpretation"] = interpretation(flag)
    resource.update(_value(test, value_num, value_code, reading, status))
    if notes:
        resource["note"] = list(notes)
    resource.update(_specimen(test, conditions))
    ref = _observation_range(test.loinc, band)
    if ref:
        resource["referenceRange"] = ref
    if order_id:
        resource["basedOn"] = [{"reference": f"ServiceRequest/{order_id}"}]
    if delta:
        resource["extension"] = [{"url": DELTA_EXTENSION, "valueBoolean": True}]
    return resource


def observation_of(item, *, effective_at: datetime, order_id: str | None, delta: bool, status: str | None = None,
                   notes: list[dict] = ()) -> dict:
    """The Observation of a checked result (labs.results.Checked), with its comments."""
    sub = item.submission
    return observation(item.test, patient_id=item.subject.patient_id, effective_at=effective_at,
                       value_num=item.value_num, value_code=item.value_code, flag=item.flag, band=item.band,
                       order_id=order_id, delta=delta, status=status or item.status, reading=item.reading,
                       notes=[*({"text": n} for n in sub.notes), *notes], conditions=item.conditions)


def _value(test: Test, value_num: float | None, value_code: str, reading: Reading | None, status: str) -> dict:
    """value[x]: a Quantity (with its comparator when censored), a Range, a Ratio, a coded
    value, or why there is none."""
    if reading is not None and reading.kind == "range":
        return {"valueRange": {"low": quantity(reading.low, test.unit), "high": quantity(reading.high, test.unit)}}
    if reading is not None and reading.kind == "ratio":
        return {"valueRatio": {"numerator": {"value": reading.numerator},
                               "denominator": {"value": reading.denominator}}}
    if reading is not None and reading.comparator:
        return {"valueQuantity": {"comparator": reading.comparator, **quantity(reading.number, test.unit)}}
    if value_num is not None:
        return {"valueQuantity": quantity(round(value_num, test.decimals), test.unit)}
    if value_code:
        return {"valueCodeableConcept": {"coding": [{"system": VALUE_SYSTEM, "code": value_code}],
                                         "text": qualitative.label(value_code, "zh-CN")}}
    absent = "error" if status == "entered-in-error" else "not-performed"
    return {"dataAbsentReason": {"coding": [{"system": ABSENT_SYSTEM, "code": absent}]}}


def _specimen(test: Test, conditions: tuple[str, ...]) -> dict:
    """The specimen; with its conditions (haemolysed ...) as a contained Specimen."""
    display = SPECIMENS[test.specimen][0]
    if not conditions:
        return {"specimen": {"display": display}}
    contained = {"resourceType": "Specimen", "id": "specimen", "type": {"text": display},
                 "condition": specimen.codings(conditions)}
    return {"contained": [contained], "specimen": {"reference": "#specimen", "display": display}}


def report_status(statuses: list[str]) -> str:
    """A DiagnosticReport's status from its results' (FHIR diagnostic-report-status)."""
    live = [s for s in statuses if s not in ("cancelled", "entered-in-error")] or ["cancelled"]
    if "preliminary" in live:
        return "preliminary" if set(live) == {"preliminary"} else "partial"
    if live == ["cancelled"]:
        return "cancelled"
    return "corrected" if "corrected" in live else "final"


@cache
def _observation_range(loinc: str, band: Band | None) -> list[dict] | None:
    """Shared by every Observation of that test and band (bulk imports build thousands)."""
    ref = reference_range(catalogue().tests[loinc], band)
    return [ref] if ref else None


def diagnostic_report(panel: Panel, *, patient_id: str, effective_at: datetime, observation_ids: list[str],
                      order_id: str | None, status: str = "final", notes: tuple[str, ...] = ()) -> dict:
    resource = {
        "resourceType": "DiagnosticReport",
        "status": status,
        "category": REPORT_CATEGORY,
        "code": panel_code(panel),
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": fhir_instant(effective_at),
        "issued": fhir_instant(effective_at),
        "result": [{"reference": f"Observation/{oid}"} for oid in observation_ids],
    }
    if order_id:
        resource["basedOn"] = [{"reference": f"ServiceRequest/{order_id}"}]
    if notes:  # R4 has no DiagnosticReport.note: R5's element through its cross-version extension
        resource["extension"] = [{"url": REPORT_NOTE_EXTENSION, "valueAnnotation": {"text": n}} for n in notes]
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
