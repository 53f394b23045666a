"""FHIR resources of one exam, built from plain values; shared by exam entry and the synthetic
data generator. Ids are derived from the exam row (``exam-<id>-<section>``), so entering a
section again writes a new version of the same resources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reports.codes import (
    BP_PANEL, CAMPAIGN_SYSTEM, CONCLUSION, INTERPRETATION, LOINC, OBS_CATEGORY, RECOMMENDATIONS,
    SECTION_SYSTEM, UCUM, VITAL_BY_KEY, Section, vital_flag,
)
from telemed.timeutil import fhir_instant

USER_SYSTEM = "http://telemed.example.org/fhir/sid/user"


@dataclass(frozen=True)
class Author:
    user_id: int
    display_name: str

    def reference(self) -> dict:
        return {"display": self.display_name, "identifier": {"system": USER_SYSTEM, "value": str(self.user_id)}}


@dataclass(frozen=True)
class ExamRef:
    exam_id: int
    patient_id: str
    campaign_id: str

    def rid(self, part: str) -> str:
        return f"exam-{self.exam_id}-{part}".replace("_", "-")

    @property
    def encounter_id(self) -> str:
        return f"exam-{self.exam_id}"


def encounter(ref: ExamRef, when: datetime, *, refused_reason: str | None = None) -> dict:
    resource = {
        "resourceType": "Encounter",
        "status": "cancelled" if refused_reason is not None else "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"coding": [{"system": SECTION_SYSTEM, "code": "health-check", "display": "Physical examination"}],
                  "text": "健康体检"}],
        "identifier": [{"system": CAMPAIGN_SYSTEM, "value": ref.campaign_id}],
        "subject": {"reference": f"Patient/{ref.patient_id}"},
        "period": {"start": fhir_instant(when)},
    }
    if refused_reason is not None:
        resource["reasonCode"] = [{"text": f"refused: {refused_reason}".strip()}]
    return resource


def _interpretation(flag: str) -> list[dict]:
    return [{"coding": [{"system": INTERPRETATION, "code": flag}]}]


def _base(ref: ExamRef, category: str, code: dict, when: datetime, author: Author) -> dict:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": category}]}],
        "code": code,
        "subject": {"reference": f"Patient/{ref.patient_id}"},
        "encounter": {"reference": f"Encounter/{ref.encounter_id}"},
        "effectiveDateTime": fhir_instant(when),
        "performer": [author.reference()],
    }


def _quantity(value: float, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _loinc(code: str, display: str) -> dict:
    return {"coding": [{"system": LOINC, "code": code, "display": display}]}


def bmi(height_cm: float, weight_kg: float) -> float:
    return round(weight_kg / (height_cm / 100) ** 2, 1)


def vitals(ref: ExamRef, values: dict[str, float], when: datetime, author: Author) -> list[tuple[str, dict]]:
    """Height, weight, BMI (computed), a blood-pressure panel, pulse, temperature: whichever are given."""
    values = dict(values)
    if "height" in values and "weight" in values:
        values["bmi"] = bmi(values["height"], values["weight"])
    out = []
    for key in ("height", "weight", "bmi", "pulse", "temperature"):
        if key in values:
            vital = VITAL_BY_KEY[key]
            obs = _base(ref, "vital-signs", _loinc(vital.loinc, vital.en), when, author)
            obs["valueQuantity"] = _quantity(values[key], vital.unit)
            obs["interpretation"] = _interpretation(vital_flag(vital, values[key]))
            out.append((ref.rid(key), obs))
    if "sbp" in values and "dbp" in values:
        obs = _base(ref, "vital-signs", _loinc(*BP_PANEL), when, author)
        obs["component"] = [
            {"code": _loinc(VITAL_BY_KEY[k].loinc, VITAL_BY_KEY[k].en),
             "valueQuantity": _quantity(values[k], "mm[Hg]"),
             "interpretation": _interpretation(vital_flag(VITAL_BY_KEY[k], values[k]))}
            for k in ("sbp", "dbp")
        ]
        out.append((ref.rid("bp"), obs))
    return out


def _section_code(section: Section) -> dict:
    codings = [{"system": SECTION_SYSTEM, "code": section.key, "display": section.en}]
    if section.loinc:
        codings.insert(0, {"system": LOINC, "code": section.loinc, "display": section.en})
    return {"coding": codings, "text": section.zh}


def finding(ref: ExamRef, section: Section, text: str, abnormal: bool, advice: str, when: datetime,
            author: Author) -> dict:
    category = "exam" if section.kind == "finding" else "imaging"
    obs = _base(ref, category, _section_code(section), when, author)
    obs["valueString"] = text
    obs["interpretation"] = _interpretation("A" if abnormal else "N")
    if advice:
        obs["note"] = [{"text": advice}]
    return obs


def study(ref: ExamRef, section: Section, conclusion: str, abnormal: bool, advice: str, when: datetime,
          author: Author) -> list[tuple[str, dict]]:
    """A DiagnosticReport holding the conclusion, and the conclusion as an Observation it points at."""
    obs_id = ref.rid(section.key)
    report = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                                  "code": "EC" if section.key == "ecg" else "RAD"}]}],
        "code": _section_code(section),
        "subject": {"reference": f"Patient/{ref.patient_id}"},
        "encounter": {"reference": f"Encounter/{ref.encounter_id}"},
        "effectiveDateTime": fhir_instant(when),
        "performer": [author.reference()],
        "result": [{"reference": f"Observation/{obs_id}"}],
        "conclusion": conclusion,
    }
    return [(obs_id, finding(ref, section, conclusion, abnormal, advice, when, author)),
            (ref.rid(section.key + "-report"), report)]


def summary(ref: ExamRef, conclusion: str, recommendations: str, when: datetime, author: Author) -> list[tuple[str, dict]]:
    out = []
    for section, text in ((CONCLUSION, conclusion), (RECOMMENDATIONS, recommendations)):
        if not text:
            continue
        obs = _base(ref, "exam", _section_code(section), when, author)
        obs["valueString"] = text
        out.append((ref.rid(section.key), obs))
    return out
