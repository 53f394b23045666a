"""Codes and labels of the exam sections: LOINC vital signs with UCUM units, the exam's own
code system for narrative department findings, and the thresholds that flag a vital sign.

Thresholds: BMI per WS/T 428-2013 (Chinese adults: <18.5 underweight, 24 overweight, 28 obese);
blood pressure per the 2018 Chinese hypertension guideline (>=140/90 high, >=180/110 grade 3);
pulse 60-100 /min; axillary temperature 36.0-37.3 Cel.
"""

from __future__ import annotations

from dataclasses import dataclass

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SECTION_SYSTEM = "http://telemed.example.org/fhir/CodeSystem/exam-section"
CAMPAIGN_SYSTEM = "http://telemed.example.org/fhir/sid/exam-campaign"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


@dataclass(frozen=True)
class Vital:
    key: str
    loinc: str
    en: str
    zh: str
    unit: str
    low: float | None = None    # below: L
    high: float | None = None   # at or above: H
    critical_high: float | None = None  # at or above: HH
    reference: str = ""  # as printed


VITALS = (
    Vital("height", "8302-2", "Body height", "身高", "cm"),
    Vital("weight", "29463-7", "Body weight", "体重", "kg"),
    Vital("bmi", "39156-5", "Body mass index", "体重指数", "kg/m2", 18.5, 24.0, reference="18.5-23.9"),
    Vital("sbp", "8480-6", "Systolic blood pressure", "收缩压", "mm[Hg]", 90, 140, 180, "90-139"),
    Vital("dbp", "8462-4", "Diastolic blood pressure", "舒张压", "mm[Hg]", 60, 90, 110, "60-89"),
    Vital("pulse", "8867-4", "Heart rate", "脉搏", "/min", 60, 101, reference="60-100"),
    Vital("temperature", "8310-5", "Body temperature", "体温", "Cel", 36.0, 37.4, reference="36.0-37.3"),
)
VITAL_BY_KEY = {v.key: v for v in VITALS}
VITAL_BY_LOINC = {v.loinc: v for v in VITALS}
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")


@dataclass(frozen=True)
class Section:
    key: str
    en: str
    zh: str
    kind: str  # "finding" (Observation) or "study" (DiagnosticReport with a conclusion Observation)
    loinc: str = ""


SECTIONS = (
    Section("general", "General condition", "一般情况", "finding"),
    Section("internal", "Internal medicine", "内科", "finding"),
    Section("surgical", "Surgery", "外科", "finding"),
    Section("eye", "Ophthalmology", "眼科", "finding"),
    Section("ent", "Ear, nose and throat", "耳鼻喉科", "finding"),
    Section("dental", "Dental", "口腔科", "finding"),
    Section("ecg", "Electrocardiogram", "心电图", "study", "11524-6"),
    Section("chest_xray", "Chest X-ray", "胸部DR", "study", "36554-4"),
    Section("abdominal_us", "Abdominal ultrasound", "腹部B超", "study"),
)
SECTION_BY_KEY = {s.key: s for s in SECTIONS}
CONCLUSION = Section("conclusion", "Overall conclusion", "总检结论", "summary")
RECOMMENDATIONS = Section("recommendations", "Recommendations", "建议", "summary")
ENTRY_SECTIONS = ("vitals", *SECTION_BY_KEY, "conclusion", "refused")


def vital_flag(vital: Vital, value: float) -> str:
    if vital.critical_high is not None and value >= vital.critical_high:
        return "HH"
    if vital.high is not None and value >= vital.high:
        return "H"
    if vital.low is not None and value < vital.low:
        return "L"
    return "N"


def label(item: Vital | Section, lang: str) -> str:
    return item.en if lang == "en" else item.zh
