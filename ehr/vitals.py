"""The vital signs a doctor enters on the record page: LOINC code, UCUM unit, the adult range
each is flagged against (with the published source it comes from), and the limits outside which
a value cannot be a measurement of a living adult and is refused.

Sources:
- BP: 2018 Chinese Guidelines for the Management of Hypertension (>=140/90 high; >=180/110 grade 3);
  systolic below 90 mmHg is hypotension.
- Pulse 60-100 /min (AHA, adult resting heart rate); respiratory rate 12-20 /min, SpO2 >= 96 %,
  and the critical bands (pulse <= 40 or >= 131, RR <= 8 or >= 25, SpO2 <= 91 %, temperature
  <= 35.0 degC): NEWS2 (Royal College of Physicians, 2017), the values that score 3.
- Temperature 36.0-37.3 degC (axillary; Diagnostics, 9th edition, People's Medical Publishing House).
- Capillary glucose: hypoglycaemia below 3.9 mmol/L, clinically significant below 3.0 (ADA
  Standards of Care 2024, levels 1 and 2); random glucose >= 11.1 mmol/L (WHO diabetes threshold);
  >= 13.9 mmol/L (250 mg/dL) is the hyperglycaemic-crisis threshold (ADA consensus, Kitabchi 2009).
"""

from __future__ import annotations

from dataclasses import dataclass

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs", "display": "Vital Signs"}]}
BP_PANEL = "85354-9"


@dataclass(frozen=True)
class Vital:
    key: str
    loinc: str
    display: str  # LOINC's own display, stored in the coding
    unit: str  # UCUM
    plausible: tuple[float, float]
    low: float | None = None  # below: L
    high: float | None = None  # at or above: H
    critical_low: float | None = None  # at or below: LL
    critical_high: float | None = None  # at or above: HH
    source: str = ""  # a key of SOURCES
    decimals: int = 0

    def flag(self, value: float) -> str:
        if self.critical_low is not None and value <= self.critical_low:
            return "LL"
        if self.critical_high is not None and value >= self.critical_high:
            return "HH"
        if self.low is not None and value < self.low:
            return "L"
        if self.high is not None and value >= self.high:
            return "H"
        return "N"

    def upper(self) -> float:
        """The highest normal value as written (``high`` itself is the first one flagged H)."""
        return round(self.high - 10 ** -self.decimals, self.decimals)

    def reference(self) -> str:
        """The normal range as printed: 60–100, ≥96."""
        if self.low is not None and self.high is not None:
            return f"{self.low:.{self.decimals}f}–{self.upper():.{self.decimals}f}"
        if self.low is not None:
            return f"≥{self.low:.{self.decimals}f}"
        return ""


# Source key (translated on pages as ehr.source.<key>) -> its name in the stored range's text.
SOURCES = {
    "htn": "2018 Chinese Guidelines for the Management of Hypertension",
    "aha_news2": "AHA adult resting heart rate; NEWS2 (RCP 2017)",
    "news2": "NEWS2 (RCP 2017)",
    "diag_news2": "Diagnostics, 9th ed. (axillary); NEWS2 (RCP 2017)",
    "ada_who": "ADA Standards of Care 2024; WHO diabetes criteria",
}
VITALS = (
    Vital("sbp", "8480-6", "Systolic blood pressure", "mm[Hg]", (40, 300), 90, 140, None, 180, "htn"),
    Vital("dbp", "8462-4", "Diastolic blood pressure", "mm[Hg]", (20, 200), 60, 90, None, 110, "htn"),
    Vital("pulse", "8867-4", "Heart rate", "/min", (20, 250), 60, 101, 40, 131, "aha_news2"),
    Vital("temperature", "8310-5", "Body temperature", "Cel", (30, 45), 36.0, 37.4, 35.0, None, "diag_news2", 1),
    Vital("rr", "9279-1", "Respiratory rate", "/min", (4, 70), 12, 21, 8, 25, "news2"),
    Vital("spo2", "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", (50, 100), 96, None, 91,
          None, "news2"),
    Vital("weight", "29463-7", "Body weight", "kg", (25, 300), decimals=1),
    Vital("height", "8302-2", "Body height", "cm", (100, 250)),
    Vital("glucose", "14743-9", "Glucose [Moles/volume] in Capillary blood by Glucometer", "mmol/L", (0.5, 60),
          3.9, 11.1, 2.9, 13.9, "ada_who", 1),
)
BY_KEY = {v.key: v for v in VITALS}
BY_LOINC = {v.loinc: v for v in VITALS}


def coding(vital: Vital) -> dict:
    return {"coding": [{"system": LOINC, "code": vital.loinc, "display": vital.display}]}


def quantity(vital: Vital, value: float) -> dict:
    return {"value": value, "unit": vital.unit, "system": UCUM, "code": vital.unit}


def interpretation(flag: str) -> list[dict]:
    return [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                         "code": flag}]}]


def observation(vital: Vital, value: float, patient_id: str, at: str, performer: str) -> dict:
    return {
        "resourceType": "Observation", "status": "final", "category": [CATEGORY], "code": coding(vital),
        "subject": {"reference": f"Patient/{patient_id}"}, "effectiveDateTime": at,
        "performer": [{"display": performer}], **_measured(vital, value),
    }


def blood_pressure(systolic: float, diastolic: float, patient_id: str, at: str, performer: str) -> dict:
    return {
        "resourceType": "Observation", "status": "final", "category": [CATEGORY],
        "code": {"coding": [{"system": LOINC, "code": BP_PANEL, "display": "Blood pressure panel with all children optional"}]},
        "subject": {"reference": f"Patient/{patient_id}"}, "effectiveDateTime": at,
        "performer": [{"display": performer}],
        "component": [{"code": coding(BY_KEY[key]), **_measured(BY_KEY[key], value)}
                      for key, value in (("sbp", systolic), ("dbp", diastolic))],
    }


def _measured(vital: Vital, value: float) -> dict:
    """The value, its flag and, for a flagged vital, the range with its source."""
    found: dict = {"valueQuantity": quantity(vital, value)}
    if vital.low is None and vital.high is None:
        return found
    found["interpretation"] = interpretation(vital.flag(value))
    band: dict = {"text": f"{vital.reference()} ({SOURCES[vital.source]})"}
    if vital.low is not None:
        band["low"] = quantity(vital, vital.low)
    if vital.high is not None:
        band["high"] = quantity(vital, vital.upper())
    found["referenceRange"] = [band]
    return found


def for_browser() -> list[dict]:
    """What record.js needs to flag a value as it is typed: the same bands as the server."""
    return [{"key": v.key, "low": v.low, "high": v.high, "critical_low": v.critical_low,
             "critical_high": v.critical_high, "min": v.plausible[0], "max": v.plausible[1]} for v in VITALS]

