"""Exam entry: one section at a time into the FHIR store, with the exam row kept in step."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ehr import store
from reports import exam_fhir
from reports.campaigns import CampaignError, get_campaign
from reports.codes import SECTION_BY_KEY
from reports.exam_fhir import Author, ExamRef
from reports.models import CampaignStatus, Exam, ExamCampaign, ExamStatus
from telemed.timeutil import utcnow

# Plausible ranges: a value outside is a typing error, not a finding.
VITAL_LIMITS = {"height": (100, 250), "weight": (25, 300), "sbp": (50, 300), "dbp": (20, 200),
                "pulse": (20, 250), "temperature": (30, 45)}


def get_exam(session: Session, exam_id: int) -> tuple[Exam, ExamCampaign]:
    exam = session.get(Exam, exam_id)
    if exam is None:
        raise CampaignError(404, f"no exam {exam_id}")
    return exam, get_campaign(session, exam.campaign_id)


def parse_vitals(data: dict) -> dict[str, float]:
    values: dict[str, float] = {}
    for key, (low, high) in VITAL_LIMITS.items():
        raw = data.get(key)
        if raw in (None, ""):
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise CampaignError(400, f"{key}: not a number") from None
        if not low <= value <= high:
            raise CampaignError(400, f"{key}: {value:g} is outside {low}-{high}")
        values[key] = value
    if not values:
        raise CampaignError(400, "no vital sign given")
    if ("sbp" in values) != ("dbp" in values):
        raise CampaignError(400, "blood pressure needs both sbp and dbp")
    return values


def section_resources(ref: ExamRef, section: str, data: dict, when: datetime, author: Author) -> list[tuple[str, dict]]:
    if section == "vitals":
        return exam_fhir.vitals(ref, parse_vitals(data), when, author)
    if section == "conclusion":
        conclusion = str(data.get("conclusion", "")).strip()
        if not conclusion:
            raise CampaignError(400, "conclusion: required")
        return exam_fhir.summary(ref, conclusion, str(data.get("recommendations", "")).strip(), when, author)
    spec = SECTION_BY_KEY.get(section)
    if spec is None:
        raise CampaignError(404, f"no exam section {section}")
    text = str(data.get("text", "")).strip()
    if not text:
        raise CampaignError(400, "text: required")
    abnormal, advice = bool(data.get("abnormal")), str(data.get("advice", "")).strip()
    if spec.kind == "study":
        return exam_fhir.study(ref, spec, text, abnormal, advice, when, author)
    return [(ref.rid(section), exam_fhir.finding(ref, spec, text, abnormal, advice, when, author))]


def enter_section(session: Session, exam_id: int, section: str, data: dict, author: Author,
                  *, when: datetime | None = None, validated: bool = False) -> Exam:
    exam, campaign = get_exam(session, exam_id)
    if campaign.status != CampaignStatus.OPEN:
        raise CampaignError(409, "the campaign is closed")
    when = when or utcnow()
    ref = ExamRef(exam.id, exam.patient_id, campaign.id)
    if section == "refused":
        return _refuse(session, exam, ref, str(data.get("reason", "")).strip(), when)
    if exam.status == ExamStatus.REFUSED:
        raise CampaignError(409, "the detainee refused this exam")
    resources = section_resources(ref, section, data, when, author)
    store.update(session, exam_fhir.encounter(ref, exam.examined_at or when), ref.encounter_id, validated=validated)
    for rid, resource in resources:
        store.update(session, resource, rid, validated=validated)
    done = [s for s in exam.sections.split(",") if s]
    exam.sections = ",".join(sorted({*done, section}))
    exam.examiner_id = exam.examiner_id or author.user_id
    exam.examined_at = exam.examined_at or when
    if section == "conclusion":
        exam.status = ExamStatus.EXAMINED
    session.add(exam)
    return exam


def _refuse(session: Session, exam: Exam, ref: ExamRef, reason: str, when: datetime) -> Exam:
    if exam.status == ExamStatus.EXAMINED:
        raise CampaignError(409, "the exam is already complete")
    store.update(session, exam_fhir.encounter(ref, when, refused_reason=reason), ref.encounter_id)
    exam.status, exam.refusal_reason, exam.examined_at = ExamStatus.REFUSED, reason, when
    session.add(exam)
    return exam


def review(session: Session, exam_id: int, reviewer_id: int) -> Exam:
    exam, _campaign = get_exam(session, exam_id)
    if exam.status != ExamStatus.EXAMINED:
        raise CampaignError(409, "only a complete exam can be reviewed")
    exam.reviewer_id, exam.reviewed_at = reviewer_id, utcnow()
    session.add(exam)
    return exam


def exam_json(exam: Exam) -> dict:
    return {"id": exam.id, "campaign_id": exam.campaign_id, "patient_id": exam.patient_id, "status": exam.status,
            "sections": [s for s in exam.sections.split(",") if s], "examiner_id": exam.examiner_id,
            "reviewer_id": exam.reviewer_id, "refusal_reason": exam.refusal_reason,
            "reviewed_at": exam.reviewed_at.isoformat() if exam.reviewed_at else None}
