"""Exam campaigns: open one for a cohort, follow its completion, close it.

The cohort "in custody on a date" is every detainee of the facility admitted on or before
that date who is still in custody when the campaign opens (the index keeps no release dates).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func
from sqlmodel import Session, select

from reports.models import CampaignStatus, Exam, ExamCampaign, ExamStatus
from telemed.models import CustodyStatus, Detainee
from telemed.timeutil import utcnow


class CampaignError(Exception):
    """A request the campaign rules refuse (shown to the user as 400/404/409); ``code`` names the
    message the pages show in the user's language (``reports.campaign_err.<code>``, with
    ``values``), ``field`` the form field at fault."""

    def __init__(self, status: int, message: str, *, code: str = "", field: str = "",
                 values: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.field, self.values = status, code, field, values or {}


@dataclass(frozen=True)
class CampaignSpec:
    facility_id: str
    name: str
    period_start: str
    period_end: str
    cohort_date: str = ""
    patient_ids: tuple[str, ...] = ()
    booking_numbers: tuple[str, ...] = ()  # the pages choose people by booking number, never by id


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(6)


def _check_spec(spec: CampaignSpec) -> None:
    if not spec.name.strip():
        raise CampaignError(400, "a campaign needs a name", code="name", field="name")
    try:
        start, end = date.fromisoformat(spec.period_start), date.fromisoformat(spec.period_end)
        if spec.cohort_date:
            date.fromisoformat(spec.cohort_date)
    except ValueError:
        raise CampaignError(400, "dates must be YYYY-MM-DD", code="dates", field="period_start") from None
    if end < start:
        raise CampaignError(400, "the period ends before it starts", code="period_order", field="period_end")
    if sum(map(bool, (spec.cohort_date, spec.patient_ids, spec.booking_numbers))) != 1:
        raise CampaignError(400, "give one of cohort_date, patient_ids or booking_numbers", code="cohort_choice",
                            field="cohort_date")


def cohort_ids(session: Session, spec: CampaignSpec) -> list[str]:
    if spec.cohort_date:
        return list(session.exec(select(Detainee.patient_id).where(
            Detainee.facility_id == spec.facility_id,
            Detainee.status == CustodyStatus.IN_CUSTODY,
            Detainee.admission_date <= spec.cohort_date,
        ).order_by(Detainee.booking_number)).all())
    if spec.booking_numbers:
        return _by_booking_number(session, spec)
    chosen = set(spec.patient_ids)
    found = set(session.exec(select(Detainee.patient_id).where(
        Detainee.patient_id.in_(chosen), Detainee.facility_id == spec.facility_id)).all())
    if found != chosen:
        raise CampaignError(400, f"not detainees of {spec.facility_id}: {', '.join(sorted(chosen - found))}")
    return sorted(chosen)


def _by_booking_number(session: Session, spec: CampaignSpec) -> list[str]:
    wanted = set(spec.booking_numbers)
    found = dict(session.exec(select(Detainee.booking_number, Detainee.patient_id).where(
        Detainee.booking_number.in_(wanted), Detainee.facility_id == spec.facility_id)).all())
    if set(found) != wanted:
        missing = ", ".join(sorted(wanted - set(found)))
        raise CampaignError(400, f"no detainee of {spec.facility_id} with booking number {missing}",
                            code="unknown_booking", field="booking_numbers", values={"numbers": missing})
    return sorted(found.values())


def create_campaign(session: Session, spec: CampaignSpec, created_by: int) -> ExamCampaign:
    _check_spec(spec)
    members = cohort_ids(session, spec)
    if not members:
        raise CampaignError(400, "the cohort is empty", code="cohort_empty", field="cohort_date")
    campaign = ExamCampaign(id=new_id("c"), facility_id=spec.facility_id, name=spec.name.strip(),
                            period_start=spec.period_start, period_end=spec.period_end,
                            cohort_date=spec.cohort_date, created_by=created_by)
    session.add(campaign)
    session.flush()
    session.add_all(Exam(campaign_id=campaign.id, patient_id=pid) for pid in members)
    session.flush()
    return campaign


def get_campaign(session: Session, campaign_id: str) -> ExamCampaign:
    campaign = session.get(ExamCampaign, campaign_id)
    if campaign is None:
        raise CampaignError(404, f"no campaign {campaign_id}")
    return campaign


def close_campaign(session: Session, campaign_id: str) -> ExamCampaign:
    campaign = get_campaign(session, campaign_id)
    if campaign.status == CampaignStatus.CLOSED:
        raise CampaignError(409, "the campaign is already closed", code="closed")
    campaign.status, campaign.closed_at = CampaignStatus.CLOSED, utcnow()
    session.add(campaign)
    return campaign


def completion(session: Session, campaign_id: str) -> dict[str, int]:
    """Examined, refused, pending (still in custody) and released-or-transferred before examination."""
    gone = Detainee.status != CustodyStatus.IN_CUSTODY
    pending = Exam.status == ExamStatus.PENDING
    row = session.exec(
        select(
            func.count(),
            func.sum(case((Exam.status == ExamStatus.EXAMINED, 1), else_=0)),
            func.sum(case((Exam.status == ExamStatus.REFUSED, 1), else_=0)),
            func.sum(case((pending & ~gone, 1), else_=0)),
            func.sum(case((pending & gone, 1), else_=0)),
        ).select_from(Exam).join(Detainee, Detainee.patient_id == Exam.patient_id)
        .where(Exam.campaign_id == campaign_id)
    ).one()
    total, examined, refused, waiting, released = (int(v or 0) for v in row)
    return {"total": total, "examined": examined, "refused": refused, "pending": waiting, "released": released}


def campaign_json(campaign: ExamCampaign, counts: dict[str, int] | None = None) -> dict:
    data = {
        "id": campaign.id, "facility_id": campaign.facility_id, "name": campaign.name,
        "period_start": campaign.period_start, "period_end": campaign.period_end,
        "cohort_date": campaign.cohort_date, "status": campaign.status,
        "created_at": campaign.created_at.isoformat(),
        "closed_at": campaign.closed_at.isoformat() if campaign.closed_at else None,
    }
    if counts is not None:
        data["completion"] = counts
    return data


def list_campaigns(session: Session, facility_id: str) -> list[dict]:
    rows = session.exec(select(ExamCampaign).where(ExamCampaign.facility_id == facility_id)
                        .order_by(ExamCampaign.created_at.desc())).all()
    return [campaign_json(c, completion(session, c.id)) for c in rows]


def roster(session: Session, campaign_id: str) -> list[dict]:
    rows = session.exec(
        select(Exam, Detainee).join(Detainee, Detainee.patient_id == Exam.patient_id)
        .where(Exam.campaign_id == campaign_id).order_by(Detainee.booking_number)
    ).all()
    return [{"exam_id": e.id, "patient_id": d.patient_id, "booking_number": d.booking_number, "name": d.name,
             "sex": d.sex, "birth_date": d.birth_date, "custody": d.status, "status": e.status,
             "sections": [s for s in e.sections.split(",") if s], "reviewed": e.reviewed_at is not None}
            for e, d in rows]
