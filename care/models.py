"""Tables of the care capability: narrow rows beside the FHIR resources (QuestionnaireResponse,
Flag, Task) that the work lists, clocks and monthly figures read."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from telemed.models import ts_column
from telemed.timeutil import utcnow


class CareRules(SQLModel, table=True):
    """A facility's own deadlines; a facility without a row uses ``care.clocks.DEFAULT_RULES``."""

    __tablename__ = "care_rules"
    facility_id: str = Field(primary_key=True, foreign_key="organization.id", max_length=64)
    screening_hours: int
    assessment_days: int
    triage_hours: int
    visit_hours: int
    visit_hours_off_days: int
    urgent_triage_hours: int
    urgent_visit_hours: int
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())


class Intake(SQLModel, table=True):
    """One arrival of a detainee at a facility (an admission or a transfer in), with its
    receiving screening and its initial health assessment."""

    __tablename__ = "care_intake"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: str = Field(max_length=64, index=True)
    facility_id: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=16)  # admission | transfer
    admitted_at: datetime = Field(sa_column=ts_column(index=True))
    screened_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    screened_by: int | None = Field(default=None, foreign_key="app_user.id")
    response_id: str | None = Field(default=None, max_length=64)  # the QuestionnaireResponse
    assessed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    assessed_by: int | None = Field(default=None, foreign_key="app_user.id")


class SickCall(SQLModel, table=True):
    """One sick-call request (a FHIR Task with the same id) and its two clocks."""

    __tablename__ = "care_sick_call"
    id: str = Field(primary_key=True, max_length=64)
    patient_id: str = Field(max_length=64, index=True)
    facility_id: str = Field(max_length=64, index=True)
    category: str = Field(max_length=32)
    urgent: bool = False
    received_at: datetime = Field(sa_column=ts_column(index=True))
    entered_by: int = Field(foreign_key="app_user.id", index=True)
    triage_due: datetime = Field(sa_column=ts_column())
    visit_due: datetime = Field(sa_column=ts_column())
    triaged_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    visit_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))  # scheduled
    place: str = Field(default="", max_length=100)
    seen_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    outcome: str = Field(default="", max_length=16)  # care.sickcall.Outcome
    closed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))



class FollowUp(SQLModel, table=True):
    """Work a screening answer raised (a FHIR Task with the same id): an urgent doctor review, a
    medication reconciliation, one withdrawal check."""

    __tablename__ = "care_follow_up"
    id: str = Field(primary_key=True, max_length=64)
    intake_id: int = Field(foreign_key="care_intake.id", index=True)
    patient_id: str = Field(max_length=64, index=True)
    facility_id: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=16)  # care.consequences.FollowUpKind
    detail: str = Field(default="", max_length=32)  # the scale of a check: CIWA-Ar, COWS
    due: datetime = Field(sa_column=ts_column(index=True))
    done_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    done_by: int | None = Field(default=None, foreign_key="app_user.id")
