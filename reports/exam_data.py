"""Everything one detainee's report shows, read from the FHIR store into plain rows.

Exam resources are those of the exam's Encounter (ids ``exam-<id>-...``); lab results are any
``laboratory`` Observations of the detainee dated within the campaign period, grouped by the
DiagnosticReport (panel) that lists them. Nothing here depends on how the labs package works.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime

import orjson
from sqlmodel import Session

from ehr import store
from ehr.values import marks, number, quantity, reference_range
from reports.advice import advice_for
from reports.codes import (
    BP_PANEL, CONCLUSION, RECOMMENDATIONS, SECTIONS, VITALS, label,
)
from reports.models import Exam, ExamCampaign
from telemed import display
from telemed.i18n import translate
from telemed.models import Detainee, Organization, User
from telemed.timeutil import local

# Reference ranges written as a word ("阴性", "Negative"): printed in the report's language.
QUALITATIVE = {"阴性": "negative", "negative": "negative", "阳性": "positive", "positive": "positive"}
ARROWS = {"H": "↑", "HH": "↑↑", "L": "↓", "LL": "↓↓", "A": "*", "POS": "*", "AA": "**"}
NORMAL_FLAGS = {"", "N"}
INDETERMINATE = "IND"  # a censored value whose flag its limit cannot decide
WITHDRAWN = ("cancelled", "entered-in-error")


@dataclass
class Finding:
    """One numbered line of the summary at the front (总检结论)."""

    kind: str  # vital | section | lab
    code: str
    name: str
    value: str
    flag: str
    advice: str
    urgency: str
    number: float | None = None


@dataclass
class LabRow:
    name: str
    value: str
    flag: str
    unit: str
    reference: str


@dataclass
class LabPanel:
    name: str
    rows: list[LabRow]


@dataclass
class SectionResult:
    key: str
    title: str
    text: str
    abnormal: bool
    advice: str
    doctor: str


@dataclass
class ExamData:
    lang: str
    facility: str
    campaign: str
    exam_id: int
    status: str
    name: str
    sex: str
    age: int | None
    booking_number: str
    national_id: str
    cell: str
    exam_date: str
    vitals: list[LabRow] = field(default_factory=list)
    sections: list[SectionResult] = field(default_factory=list)
    panels: list[LabPanel] = field(default_factory=list)
    conclusion: str = ""
    recommendations: str = ""
    examiner: str = ""
    reviewer: str = ""
    refusal_reason: str = ""
    findings: list[Finding] = field(default_factory=list)

    def summary_json(self) -> bytes:
        """What the cohort summary needs about this detainee."""
        return orjson.dumps({"sex": self.sex, "age": self.age, "status": self.status,
                             "findings": [asdict(f) for f in self.findings]})


def _flag(resource: dict) -> str:
    for concept in resource.get("interpretation", []):
        for coding in concept.get("coding", []):
            return coding.get("code", "")
    return ""


def _code(resource: dict) -> str:
    codings = resource.get("code", {}).get("coding", [])
    return codings[0].get("code", "") if codings else ""


def _name(concept: dict, lang: str) -> str:
    text = concept.get("text", "")
    display = next((c.get("display", "") for c in concept.get("coding", []) if c.get("display")), "")
    has_cjk = any("\u4e00" <= ch <= "\u9fff" for ch in text)
    if lang == "en":
        return display or text
    return text if has_cjk else (text or display)


def _value(resource: dict, lang: str) -> tuple[str, str, float | None]:
    """(printed value, UCUM unit, number)."""
    if "valueQuantity" in resource:
        q = resource["valueQuantity"]
        unit = q.get("code") or q.get("unit", "")
        if not isinstance(q.get("value"), int | float):
            return "", unit, None
        return q.get("comparator", "") + number(q["value"]), unit, float(q["value"])
    if "valueRange" in resource or "valueRatio" in resource:  # as written: 1-5, 1:128
        unit = resource.get("valueRange", {}).get("high", {}).get("code", "")
        return quantity(resource).removesuffix(unit).strip(), unit, None
    if "valueCodeableConcept" in resource:
        return _name(resource["valueCodeableConcept"], lang), "", None
    return str(resource.get("valueString", "")), "", None


def _reference(resource: dict, lang: str) -> str:
    shown = reference_range(resource)
    word = QUALITATIVE.get(shown.strip().lower())
    return translate(lang, f"reports.qualitative_{word}") if word else shown


def _in_period(resource: dict, campaign: ExamCampaign, tz) -> bool:
    """Dated within the campaign period, by the facility's calendar (a 07:00 draw in Beijing is
    still the previous day in UTC)."""
    when = resource.get("effectiveDateTime") or resource.get("issued") or ""
    if not when:
        return True
    try:
        day = local(datetime.fromisoformat(when.replace("Z", "+00:00")), tz).date().isoformat()
    except ValueError:
        day = when[:10]  # a date without a time
    return campaign.period_start <= day <= campaign.period_end


def _is_lab(resource: dict) -> bool:
    """A laboratory result that stands (not cancelled or entered in error)."""
    return resource.get("status") not in WITHDRAWN and any(
        c.get("code") == "laboratory" for cat in resource.get("category", []) for c in cat.get("coding", []))


def _age(birth: str, on: str) -> int | None:
    try:
        b, d = date.fromisoformat(birth), date.fromisoformat(on)
    except ValueError:
        return None
    return d.year - b.year - ((d.month, d.day) < (b.month, b.day))


def _doctor(resource: dict) -> str:
    return next((p.get("display", "") for p in resource.get("performer", [])), "")


def load(session: Session, exam_id: int, lang: str, tz) -> ExamData:
    exam = session.get(Exam, exam_id)
    campaign = session.get(ExamCampaign, exam.campaign_id)
    person = session.get(Detainee, exam.patient_id)
    facility = session.get(Organization, campaign.facility_id)
    when = local(exam.examined_at, tz).date().isoformat() if exam.examined_at else ""
    data = ExamData(
        lang=lang, facility=(facility.name if lang == "en" else facility.name_zh or facility.name),
        campaign=campaign.name, exam_id=exam.id, status=exam.status, name=person.name, sex=person.sex,
        age=_age(person.birth_date, when or campaign.period_start), booking_number=person.booking_number,
        national_id=person.national_id, cell=person.cell, exam_date=when, refusal_reason=exam.refusal_reason,
        examiner=_user_name(session, exam.examiner_id), reviewer=_user_name(session, exam.reviewer_id),
    )
    prefix = f"exam-{exam.id}-"
    resources = store.by_patient(session, exam.patient_id, ("Observation", "DiagnosticReport"))
    own = {s.id: s.resource for s in resources if s.id.startswith(prefix)}
    labs = [s for s in resources if not s.id.startswith(prefix)]
    _fill_exam(data, own, prefix)
    _fill_labs(data, labs, campaign, tz)
    return data


def _user_name(session: Session, user_id: int | None) -> str:
    user = session.get(User, user_id) if user_id else None
    return user.display_name if user else ""


def _fill_exam(data: ExamData, own: dict[str, dict], prefix: str) -> None:
    lang = data.lang
    for vital in VITALS:
        obs = own.get(prefix + vital.key) if vital.key not in ("sbp", "dbp") else own.get(prefix + "bp")
        if obs is None:
            continue
        if vital.key in ("sbp", "dbp"):
            obs = next(c for c in obs["component"] if _code(c) == vital.loinc)
        value, unit, number = _value(obs, lang)
        flag = _flag(obs)
        data.vitals.append(LabRow(label(vital, lang), value, flag, display.unit(unit, lang), vital.reference))
        if flag not in NORMAL_FLAGS and vital.key not in ("sbp", "dbp"):
            _add_vital_finding(data, vital, obs)
    bp = own.get(prefix + "bp")
    if bp is not None and any(_flag(c) not in NORMAL_FLAGS for c in bp["component"]):
        _add_bp_finding(data, bp)
    for section in SECTIONS:
        obs = own.get(prefix + section.key.replace("_", "-"))
        if obs is None:
            continue
        abnormal = _flag(obs) == "A"
        advice = next((n.get("text", "") for n in obs.get("note", [])), "")
        data.sections.append(SectionResult(section.key, label(section, lang), obs.get("valueString", ""),
                                           abnormal, advice, _doctor(obs)))
        if abnormal:
            data.findings.append(Finding("section", section.key, label(section, lang), obs.get("valueString", ""),
                                         "A", advice, "routine"))
    data.conclusion = own.get(prefix + CONCLUSION.key, {}).get("valueString", "")
    data.recommendations = own.get(prefix + RECOMMENDATIONS.key, {}).get("valueString", "")


def _add_bp_finding(data: ExamData, bp: dict) -> None:
    sbp, dbp = (c["valueQuantity"]["value"] for c in bp["component"])
    flags = [_flag(c) for c in bp["component"]]
    flag = next((f for f in ("HH", "H", "LL", "L") if f in flags), "A")
    advice, urgency = advice_for(BP_PANEL[0], flag, data.lang)
    name = "Blood pressure" if data.lang == "en" else "血压"
    data.findings.append(Finding("vital", BP_PANEL[0], name, f"{number(sbp)}/{number(dbp)} mmHg",
                                 flag, advice, urgency, float(sbp)))


def _add_vital_finding(data: ExamData, vital, obs: dict) -> None:
    lang = data.lang
    value, unit, number = _value(obs, lang)
    flag = _flag(obs)
    advice, urgency = advice_for(vital.loinc, flag, lang)
    data.findings.append(Finding("vital", vital.loinc, label(vital, lang), f"{value} {display.unit(unit, lang)}",
                                 flag, advice, urgency, number))


def _fill_labs(data: ExamData, stored: list, campaign: ExamCampaign, tz) -> None:
    lang = data.lang
    observations = {s.id: s.resource for s in stored if s.type == "Observation"}
    observations = {k: r for k, r in observations.items() if _is_lab(r) and _in_period(r, campaign, tz)}
    reports = sorted((s.resource for s in stored if s.type == "DiagnosticReport"),
                     key=lambda r: (r.get("effectiveDateTime", ""), r["id"]))
    placed: set[str] = set()
    for report in reports:
        ids = [r.get("reference", "").removeprefix("Observation/") for r in report.get("result", [])]
        members = [i for i in ids if i in observations and i not in placed]
        if members:
            placed.update(members)
            panel = _panel(data, _name(report.get("code", {}), lang), [observations[i] for i in members])
            if lang == "en" and any("\u4e00" <= ch <= "\u9fff" for ch in panel.name):
                # A panel named only in Chinese: an English report names it by its one test, or generically.
                panel.name = panel.rows[0].name if len(panel.rows) == 1 else translate(lang, "reports.other_tests")
            data.panels.append(panel)
    rest = sorted((r for k, r in observations.items() if k not in placed), key=_code)
    if rest:
        data.panels.append(_panel(data, translate(lang, "reports.other_tests"), rest))


def _panel(data: ExamData, name: str, observations: list[dict]) -> LabPanel:
    rows = []
    for obs in observations:
        value, unit, number = _value(obs, data.lang)
        value = " ".join([value, *(f"[{label}]" for _, label in marks(obs, data.lang))])  # haemolysed, corrected
        flag = _flag(obs)
        row = LabRow(_name(obs.get("code", {}), data.lang), value, flag, display.unit(unit, data.lang),
                     _reference(obs, data.lang))
        rows.append(row)
        if flag not in NORMAL_FLAGS and flag != INDETERMINATE:  # IND: neither normal nor a finding to advise on
            advice, urgency = advice_for(_code(obs), flag, data.lang)
            data.findings.append(Finding("lab", _code(obs), row.name, f"{value} {row.unit}".strip(), flag,
                                         advice, urgency, number))
    return LabPanel(name, rows)


def entered_values(session: Session, exam_id: int, patient_id: str) -> dict[str, dict]:
    """The exam's own resources by id suffix, for prefilling the entry forms."""
    prefix = f"exam-{exam_id}-"
    return {s.id.removeprefix(prefix): s.resource
            for s in store.by_patient(session, patient_id, ("Observation", "DiagnosticReport")) if s.id.startswith(prefix)}


def arrow(flag: str) -> str:
    return ARROWS.get(flag, "")

