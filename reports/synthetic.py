"""Synthetic exam campaigns with full data, for the demo, the tests and the benchmark.

``seed_campaign(db, facility_id, n)`` adds n detainees to an existing facility, opens a
campaign over them and writes a complete exam (vitals, every section, lab panels, conclusion)
for most of them, with a realistic share of abnormal findings; a few refuse, a few are pending.
Resources are built from trusted templates and written without re-validation, so 1,000
detainees take seconds, not minutes.
"""

from __future__ import annotations

import random
import secrets
from datetime import date, datetime, timedelta, timezone

from sqlmodel import Session, select

from ehr import store
from reports import exam_fhir
from reports.bulk import create_many
from reports.campaigns import CampaignSpec, create_campaign
from reports.codes import SECTIONS
from reports.exam_fhir import Author, ExamRef
from reports.lab_catalogue import HBSAG, PANELS, TEST_BY_CODE, LabTest, flag
from reports.models import Exam, ExamCampaign, ExamStatus
from telemed.db import Database
from telemed.demo import synthetic_patient
from telemed.models import Detainee, Role, User
from telemed.timeutil import fhir_instant

SNOMED = "http://snomed.info/sct"
POSITIVE = {"system": SNOMED, "code": "10828004", "display": "Positive"}
NEGATIVE = {"system": SNOMED, "code": "260385009", "display": "Negative"}
NORMAL_TEXT = {"general": "发育正常，营养中等，神志清楚", "internal": "心肺听诊未见异常，腹软无压痛",
               "surgical": "脊柱四肢无畸形，浅表淋巴结未触及", "eye": "双眼视力正常，外眼未见异常",
               "ent": "外耳道通畅，鼻咽未见异常", "dental": "牙列整齐，未见龋齿",
               "ecg": "窦性心律，正常心电图", "chest_xray": "两肺纹理清晰，心膈未见异常",
               "abdominal_us": "肝胆胰脾肾未见明显异常"}
ABNORMAL_TEXT = {"general": ("体型肥胖", "控制饮食，增加运动"), "internal": ("心率不齐", "心内科随诊"),
                 "surgical": ("痔疮", "外科随诊"), "eye": ("右眼视力减退", "眼科随诊"),
                 "ent": ("慢性咽炎", "避免刺激性食物"), "dental": ("龋齿", "口腔科治疗"),
                 "ecg": ("窦性心动过缓", "心内科随诊"), "chest_xray": ("右上肺陈旧性病灶", "胸部CT复查"),
                 "abdominal_us": ("脂肪肝（轻度）", "控制体重，半年后复查B超")}


def _lab_value(test: LabTest, sex: str, rng: random.Random | None, abnormal: bool) -> float:
    low, high = test.bounds(sex)
    low = low if low is not None else high * 0.5
    mid = (low + high) / 2
    if rng is None:
        return round(mid, test.decimals)
    if abnormal:
        return round(high * rng.uniform(1.05, 1.5) if rng.random() < 0.8 else low * rng.uniform(0.7, 0.95),
                     test.decimals)
    return round(rng.uniform(low, high), test.decimals)


def _observation(patient_id: str, code: dict, when: datetime) -> dict:
    return {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "laboratory"}]}],
        "code": code, "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": fhir_instant(when), "issued": fhir_instant(when),
    }


def _quantity_result(patient_id: str, test: LabTest, value: float, sex: str, when: datetime) -> dict:
    obs = _observation(patient_id, {"coding": [{"system": "http://loinc.org", "code": test.loinc,
                                                "display": test.display}], "text": test.zh}, when)
    obs["valueQuantity"] = {"value": value, "unit": test.unit, "system": "http://unitsofmeasure.org",
                            "code": test.unit}
    low, high = test.bounds(sex)
    ref = {}
    if low is not None:
        ref["low"] = {"value": low, "unit": test.unit, "system": "http://unitsofmeasure.org", "code": test.unit}
    if high is not None:
        ref["high"] = {"value": high, "unit": test.unit, "system": "http://unitsofmeasure.org", "code": test.unit}
    obs["referenceRange"] = [ref]
    obs["interpretation"] = [{"coding": [{"system": exam_fhir.INTERPRETATION, "code": flag(test, value, sex)}]}]
    return obs


def _hbsag_result(patient_id: str, positive: bool, when: datetime) -> dict:
    obs = _observation(patient_id, {"coding": [{"system": "http://loinc.org", "code": HBSAG.loinc,
                                                "display": HBSAG.display}], "text": HBSAG.zh}, when)
    answer = POSITIVE if positive else NEGATIVE
    obs["valueCodeableConcept"] = {"coding": [answer], "text": "阳性" if positive else "阴性"}
    obs["referenceRange"] = [{"text": "阴性"}]
    obs["interpretation"] = [{"coding": [{"system": exam_fhir.INTERPRETATION, "code": "A" if positive else "N"}]}]
    return obs


def lab_resources(patient_id: str, prefix: str, when: datetime, sex: str, *, overrides: dict[str, float] | None = None,
                  rng: random.Random | None = None, abnormal: frozenset[str] = frozenset()) -> list[tuple[str, dict]]:
    """Lab Observations and one DiagnosticReport per panel. ``overrides``: LOINC -> value (1/0 for HBsAg)."""
    overrides = overrides or {}
    out: list[tuple[str, dict]] = []
    for n, panel in enumerate(PANELS):
        ids = []
        for test in panel.tests:
            rid = f"{prefix}-{test.loinc}"
            if test is HBSAG:
                out.append((rid, _hbsag_result(patient_id, bool(overrides.get(test.loinc, test.loinc in abnormal)), when)))
            else:
                value = overrides.get(test.loinc)
                value = _lab_value(test, sex, rng, test.loinc in abnormal) if value is None else value
                out.append((rid, _quantity_result(patient_id, test, value, sex, when)))
            ids.append(rid)
        code = {"text": panel.zh, "coding": [{"system": "http://loinc.org", "code": panel.code,
                                              "display": panel.display}] if panel.code else []}
        if not panel.code:
            code = {"text": panel.zh}
        out.append((f"{prefix}-panel{n}", {
            "resourceType": "DiagnosticReport", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}],
            "code": code, "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": fhir_instant(when), "issued": fhir_instant(when),
            "result": [{"reference": f"Observation/{i}"} for i in ids],
        }))
    return out


def exam_resources(ref: ExamRef, sex: str, when: datetime, author: Author, rng: random.Random) -> list[tuple[str, dict]]:
    """A complete synthetic exam: about one detainee in three has some abnormal finding."""
    height = round(rng.gauss(170 if sex == "male" else 158, 6))
    weight = round(rng.gauss(66 if sex == "male" else 54, 9), 1)
    hypertensive = rng.random() < 0.2
    values = {"height": height, "weight": max(weight, 40), "pulse": rng.randint(58, 96),
              "temperature": round(rng.uniform(36.1, 37.1), 1),
              "sbp": rng.randint(142, 178) if hypertensive else rng.randint(100, 136),
              "dbp": rng.randint(90, 104) if hypertensive else rng.randint(62, 86)}
    out = [(ref.encounter_id, exam_fhir.encounter(ref, when))]
    out += exam_fhir.vitals(ref, values, when, author)
    flagged = []
    for section in SECTIONS:
        abnormal = rng.random() < 0.08
        text, advice = ABNORMAL_TEXT[section.key] if abnormal else (NORMAL_TEXT[section.key], "")
        if abnormal:
            flagged.append(text)
        if section.kind == "study":
            out += exam_fhir.study(ref, section, text, abnormal, advice, when, author)
        else:
            out.append((ref.rid(section.key), exam_fhir.finding(ref, section, text, abnormal, advice, when, author)))
    if hypertensive:
        flagged.insert(0, "血压偏高")
    conclusion = "；".join(flagged) if flagged else "本次体检未见明显异常"
    out += exam_fhir.summary(ref, conclusion, "定期复查，注意饮食与运动" if flagged else "保持健康生活方式", when, author)
    return out


def _abnormal_labs(rng: random.Random) -> frozenset[str]:
    chosen = {code for code in TEST_BY_CODE if rng.random() < 0.06}
    if rng.random() < 0.07:
        chosen.add(HBSAG.loinc)
    return frozenset(chosen)


def seed_campaign(db: Database, facility_id: str, n: int, *, seed: int = 1, refused: float = 0.04,
                  pending: float = 0.03, start: date | None = None, name: str = "") -> str:
    """Add ``n`` synthetic detainees to ``facility_id`` (which must exist) and a campaign over them
    with full exam data; returns the campaign id. Use it from benchmarks and demos."""
    rng = random.Random(seed)
    start = start or date.today().replace(day=1)
    tag = secrets.token_hex(3)
    patients = db.call(_seed_patients, facility_id, n, tag, rng)
    campaign_id = db.call(_seed_campaign_row, facility_id, patients, start, name or f"Synthetic exam campaign {tag}")
    examine(db, campaign_id, patients, seed=seed, refused=refused, pending=pending)
    return campaign_id


def examine(db: Database, campaign_id: str, patient_ids: list[str], *, seed: int = 1, refused: float = 0.04,
            pending: float = 0.03) -> None:
    """Write complete synthetic exams (or refusals) for these members of the campaign."""
    for offset in range(0, len(patient_ids), 200):
        db.call(_seed_exams, campaign_id, patient_ids[offset:offset + 200], random.Random(seed * 7919 + offset),
                refused, pending)


def _seed_patients(session: Session, facility_id: str, n: int, tag: str, rng: random.Random) -> list[str]:
    today = date.today()
    out = []
    for i in range(1, n + 1):
        patient = synthetic_patient(rng, i, facility_id, today)
        patient["identifier"][0]["value"] = f"{patient['identifier'][0]['value']}-{tag}"
        out.append(store.create(session, patient, resource_id=f"syn-{tag}-{i:05d}", validated=True).id)
    return out


def _seed_campaign_row(session: Session, facility_id: str, patients: list[str], start: date, name: str) -> str:
    officer = _staff(session, facility_id, Role.MEDICAL_OFFICER)
    end = start + timedelta(days=60)
    spec = CampaignSpec(facility_id, name, start.isoformat(), end.isoformat(), patient_ids=tuple(patients))
    return create_campaign(session, spec, officer.id).id


def _staff(session: Session, facility_id: str, role: str) -> User:
    user = session.exec(select(User).where(User.org_id == facility_id, User.role == role)).first()
    if user is None:
        raise ValueError(f"facility {facility_id} has no {role} user")
    return user


def _seed_exams(session: Session, campaign_id: str, patient_ids: list[str], rng: random.Random, refused: float,
                pending: float) -> None:
    campaign = session.get(ExamCampaign, campaign_id)
    start = date.fromisoformat(campaign.period_start)
    doctor = _staff(session, campaign.facility_id, Role.FACILITY_DOCTOR)
    author = Author(doctor.id, doctor.display_name)
    rows = session.exec(select(Exam, Detainee.sex).join(Detainee, Detainee.patient_id == Exam.patient_id).where(
        Exam.campaign_id == campaign_id, Exam.patient_id.in_(patient_ids))).all()
    sexes = {exam.patient_id: (exam, sex) for exam, sex in rows}
    batch: list[tuple[str, dict]] = []
    for patient_id in patient_ids:
        exam, sex = sexes[patient_id]
        roll = rng.random()
        if roll < pending:
            continue
        when = datetime.combine(start, datetime.min.time(), timezone.utc) + timedelta(hours=rng.randint(1, 24 * 20))
        ref = ExamRef(exam.id, patient_id, campaign_id)
        if roll < pending + refused:
            batch.append((ref.encounter_id, exam_fhir.encounter(ref, when, refused_reason="拒绝体检")))
            exam.status, exam.refusal_reason, exam.examined_at = ExamStatus.REFUSED, "拒绝体检", when
        else:
            batch += exam_resources(ref, sex, when, author, rng)
            batch += lab_resources(patient_id, f"lab-{exam.id}", when, sex, rng=rng, abnormal=_abnormal_labs(rng))
            exam.status, exam.examined_at, exam.examiner_id = ExamStatus.EXAMINED, when, doctor.id
            exam.sections = ",".join(sorted(("vitals", "conclusion", *(s.key for s in SECTIONS))))
        session.add(exam)
    create_many(session, batch)
