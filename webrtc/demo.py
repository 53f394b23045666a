"""Demo data of the webrtc capability: consults of the demo doctor and cardiologist in every
state of the workflow, so each work list has something in it."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from ehr import store
from telemed.demo import DemoContext
from telemed.models import User
from telemed.security import Principal, principal_of
from telemed.timeutil import utcnow
from webrtc import workflow
from webrtc.models import Consult

QUESTIONS = (
    ("routine", "间断胸闷两周，活动后加重，心电图 ST 段压低？请评估是否为稳定型心绞痛。"),
    ("urgent", "Blood pressure 182/110 on three readings despite amlodipine 5 mg; adjust treatment?"),
    ("routine", "心悸伴早搏，24 小时动态心电图结果请会诊。"),
    ("routine", "Known rheumatic mitral stenosis; exertional dyspnoea worse this month."),
    ("urgent", "晕厥一次，既往有心律失常病史，是否需要转院？"),
    ("routine", "Post-MI follow-up: statin and antiplatelet plan."),
    ("emergency", "持续胸痛 40 分钟，心电图 V1-V4 ST 段抬高。"),
    ("routine", "Ankle oedema and fatigue; query heart failure."),
)


def load(ctx: DemoContext) -> None:
    ctx.db.call(_seed, ctx)


def _seed(session: Session, ctx: DemoContext) -> None:
    doctor = principal_of(session.get(User, ctx.users["doctor"]))
    specialist = principal_of(session.get(User, ctx.users["specialist"]))
    tz = ctx.settings.tz
    consults = [_request(session, ctx, doctor, ctx.patient_ids[n * 7], urgency, question)
                for n, (urgency, question) in enumerate(QUESTIONS)]
    _requested, overdue, accepted, scheduled, held, on_site, transfer, declined = consults
    _backdate(session, overdue, days=4)
    for consult in (accepted, scheduled, held, on_site, transfer):
        _accept(session, specialist, consult.id, hours_ahead=ctx.rng.choice((2, 20, 26)))
    for consult in (scheduled, held, on_site, transfer):
        workflow.confirm(session, doctor, consult.id, {})
        workflow.record_custody_facts(session, doctor, consult.id, {
            "consult_consent": True, "recording_consent": consult is not transfer, "officer_present": True,
            "security_note": "管教民警全程在场"})
    for consult in (held, on_site, transfer):
        workflow.mark_call_started(session, consult.id, tz)
        workflow.mark_call_ended(session, consult.id)
    workflow.sign(session, specialist, on_site.id, {
        "note": "考虑稳定型心绞痛，生命体征平稳。", "recommendations": "阿司匹林 100 mg 每日一次；两周后复查运动心电图。",
        "diagnoses": [{"code": "I20.9", "display": "未特指的心绞痛"}],
        "prescriptions": [{"medication": "阿司匹林肠溶片", "dose_value": 100, "dose_unit": "mg", "route": "oral",
                           "frequency": "qd", "duration_days": 14}],
        "outcome": "treat-on-site"}, lang="zh-CN")
    workflow.sign(session, specialist, transfer.id, {
        "note": "Syncope with documented arrhythmia: needs monitored admission.", "outcome": "transfer-to-hospital",
        "diagnoses": [{"code": "R55", "display": "Syncope and collapse"}]}, lang="en")
    workflow.triage(session, specialist, declined.id, {"decision": "decline",
                                                       "reason": "需要面诊及心脏超声，请直接门诊就诊。"})


def _request(session: Session, ctx: DemoContext, doctor: Principal, patient_id: str, urgency: str,
             question: str) -> Consult:
    shared = store.by_patient(session, patient_id, workflow.SHAREABLE)[:3]
    return workflow.request_consult(session, doctor, {
        "patient_id": patient_id, "hospital_id": ctx.hospital_id, "specialty": "cardiology", "urgency": urgency,
        "question": question, "share": [{"type": s.type, "id": s.id} for s in shared]}, ctx.settings.tz)


def _accept(session: Session, specialist: Principal, consult_id: str, hours_ahead: int) -> None:
    start = (utcnow() + timedelta(hours=hours_ahead)).replace(minute=0, second=0, microsecond=0)
    workflow.triage(session, specialist, consult_id, {"decision": "accept", "proposed_start": start.isoformat()})


def _backdate(session: Session, consult: Consult, days: int) -> None:
    """A request nobody decided on in time: its deadline flag shows on both work lists."""
    consult.requested_at -= timedelta(days=days)
    consult.decision_due -= timedelta(days=days)
    session.add(consult)
