"""Shared helpers of the reports tests: a campaign over the `world` detainees, a complete exam,
and lab results written in the shape the labs capability uses."""

from __future__ import annotations

from datetime import datetime, timezone

from ehr import store
from reports.campaigns import CampaignSpec, create_campaign
from reports.exam_fhir import Author
from reports.exams import enter_section
from reports.models import Exam
from reports.synthetic import lab_resources
from sqlmodel import select

WHEN = datetime(2026, 3, 10, 2, 30, tzinfo=timezone.utc)
PERIOD = ("2026-03-01", "2026-03-31")


def open_campaign(session, facility: str, user_id: int, patient_ids: tuple[str, ...] = (), cohort_date: str = "") -> str:
    spec = CampaignSpec(facility, "2026上半年体检", *PERIOD, cohort_date=cohort_date, patient_ids=patient_ids)
    return create_campaign(session, spec, user_id).id


def exam_id(session, campaign_id: str, patient_id: str) -> int:
    return session.exec(select(Exam.id).where(Exam.campaign_id == campaign_id, Exam.patient_id == patient_id)).one()


FULL_EXAM = {
    "vitals": {"height": 172, "weight": 81, "sbp": 152, "dbp": 96, "pulse": 78, "temperature": 36.5},
    "general": {"text": "发育正常，营养中等", "abnormal": False},
    "internal": {"text": "心肺听诊未见异常", "abnormal": False},
    "surgical": {"text": "右下肢陈旧性瘢痕", "abnormal": True, "advice": "无需处理"},
    "eye": {"text": "双眼视力5.0", "abnormal": False},
    "ent": {"text": "未见异常", "abnormal": False},
    "dental": {"text": "龋齿2颗", "abnormal": True, "advice": "建议口腔科治疗"},
    "ecg": {"text": "窦性心律，正常心电图", "abnormal": False},
    "chest_xray": {"text": "两肺纹理清晰", "abnormal": False},
    "abdominal_us": {"text": "脂肪肝（轻度）", "abnormal": True, "advice": "控制体重，复查B超"},
    "conclusion": {"conclusion": "血压偏高；轻度脂肪肝", "recommendations": "低盐低脂饮食，复测血压"},
}


def full_exam(session, exam: int, author: Author, sections: dict | None = None) -> None:
    for section, data in (sections or FULL_EXAM).items():
        enter_section(session, exam, section, data, author, when=WHEN)


def add_labs(session, patient_id: str, flags: dict[str, float] | None = None) -> None:
    """The standard synthetic panels for ``patient_id``; ``flags`` overrides values by LOINC code."""
    for rid, resource in lab_resources(patient_id, f"lab-{patient_id}", WHEN, "male", overrides=flags or {}):
        store.create(session, resource, resource_id=rid)
