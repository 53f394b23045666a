"""What each role's home page counts: the work waiting for that person, each with the page that lists it.

Every count stays inside what the role may see: the on-site doctor's and the medical officer's
are their own facility's, the specialist's are the consults the consult rules show them, the
administrator's are accounts (no clinical data at all).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, select

from care.home import doctor_care_counts
from custody.home import custody_counts, doctor_custody_counts
from ehr import drafts
from labs.models import HeldMessage, LabAlert, LabOrder
from reports.models import CampaignStatus, Exam, ExamCampaign, ExamStatus
from telemed.models import BreakGlass, CustodyStatus, Detainee, Role, User
from telemed.security import Principal
from webrtc.views import work_lists


@dataclass(frozen=True)
class Count:
    key: str  # translated as home.count.<key>
    value: int
    href: str
    urgent: bool = False  # shown in red while above zero


def _scalar(session: Session, query) -> int:
    return int(session.exec(query).one() or 0)


def _doctor(session: Session, who: Principal) -> list[Count]:
    lists = work_lists(session, who)
    alerts = select(func.count()).select_from(LabAlert).where(
        LabAlert.facility_id == who.org_id, LabAlert.acknowledged_at.is_(None))
    held = select(func.count()).select_from(HeldMessage).where(
        HeldMessage.facility_id == who.org_id, HeldMessage.resolved_at.is_(None))
    orders = select(func.count()).select_from(LabOrder).where(
        LabOrder.facility_id == who.org_id, LabOrder.status == "active")
    return [
        Count("critical_results", _scalar(session, alerts), "/labs#alerts", urgent=True),
        Count("consults_awaiting_decision", len(lists["awaiting_decision"]), "/consults#awaiting_decision"),
        Count("notes_awaiting_signature", len(lists["awaiting_signature"]), "/consults#awaiting_signature"),
        Count("results_held", _scalar(session, held), "/labs#held", urgent=True),
        Count("lab_orders_open", _scalar(session, orders), "/labs#orders"),
        *(Count(key, value, href) for key, value, href in doctor_custody_counts(session, who.org_id)),
        *(Count(key, value, href, urgent) for key, value, href, urgent in doctor_care_counts(session, who.org_id)),
        Count("drafts.progress_notes", len(drafts.mine(session, who)), "/notes/drafts"),
    ]


def _specialist(session: Session, who: Principal) -> list[Count]:
    lists = work_lists(session, who)
    return [
        Count("consults_to_triage", len(lists["awaiting_decision"]), "/consults#awaiting_decision", urgent=True),
        Count("consults_scheduled", len(lists["scheduled"]), "/consults#scheduled"),
        Count("drafts_to_sign", len(lists["awaiting_signature"]), "/consults#awaiting_signature", urgent=True),
    ]


def _officer(session: Session, who: Principal) -> list[Count]:
    running = session.exec(select(ExamCampaign.id).where(
        ExamCampaign.facility_id == who.org_id, ExamCampaign.status == CampaignStatus.OPEN)
        .order_by(ExamCampaign.created_at.desc())).all()
    exams = select(func.count()).select_from(Exam).join(Detainee, Detainee.patient_id == Exam.patient_id).where(
        Exam.campaign_id.in_(running))
    pending = exams.where(Exam.status == ExamStatus.PENDING, Detainee.status == CustodyStatus.IN_CUSTODY)
    to_review = exams.where(Exam.status == ExamStatus.EXAMINED, Exam.reviewed_at.is_(None))
    breaks = select(func.count()).select_from(BreakGlass).join(User, BreakGlass.user_id == User.id).join(
        Detainee, BreakGlass.patient_id == Detainee.patient_id).where(
        (User.org_id == who.org_id) | (Detainee.facility_id == who.org_id), BreakGlass.reviewed_at.is_(None))
    return [
        Count("exams_pending", _scalar(session, pending), _roster(running, "pending")),
        Count("exams_to_review", _scalar(session, to_review), _roster(running, "to_review")),
        Count("campaigns_running", len(running), "/exams"),
        Count("break_glass_to_review", _scalar(session, breaks), "#break-glass", urgent=True),
    ]


def _roster(running: list[str], status: str) -> str:
    """With one campaign running, its roster filtered to ``status``; otherwise the campaign list."""
    return f"/exams/{running[0]}?status={status}" if len(running) == 1 else "/exams"


def _admin(session: Session, who: Principal) -> list[Count]:
    users = select(func.count()).select_from(User)
    return [
        Count("accounts", _scalar(session, users.where(User.active == True, User.approved_at.is_not(None))),  # noqa: E712
              "/admin?state=active"),
        Count("inactive_accounts", _scalar(session, users.where(User.active == False)),  # noqa: E712
              "/admin?state=inactive"),
        Count("pending_accounts", _scalar(session, users.where(User.approved_at.is_(None))),
              "/admin?state=pending", urgent=True),
    ]


def _custody_officer(session: Session, who: Principal) -> list[Count]:
    return [Count(key, value, href, urgent=urgent) for key, value, href, urgent in custody_counts(session, who)]


COUNTERS = {Role.FACILITY_DOCTOR: _doctor, Role.SPECIALIST: _specialist, Role.MEDICAL_OFFICER: _officer,
            Role.ADMIN: _admin, Role.CUSTODY_OFFICER: _custody_officer}


def counts(session: Session, who: Principal) -> list[Count]:
    counter = COUNTERS.get(who.role)
    return counter(session, who) if counter else []
