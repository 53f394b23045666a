"""Index tables of the custody tasks and outside referrals; the FHIR Task and ServiceRequest
are the records, these rows are what the work lists and the figures query."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from telemed.models import ts_column
from telemed.timeutil import utcnow


class TaskKind(StrEnum):
    BRING_TO_CLINIC = "bring_to_clinic"
    ESCORT = "escort"
    WITNESS = "witness"


class TaskState(StrEnum):
    PENDING = "pending"
    BROUGHT = "brought"
    REFUSED = "refused"
    UNAVAILABLE = "unavailable"
    CANCELLED = "cancelled"


class SecurityLevel(StrEnum):
    """How the detainee is guarded outside the cell block: one officer, two, or two with restraints."""

    STANDARD = "standard"
    ENHANCED = "enhanced"
    HIGH = "high"


class CustodyTask(SQLModel, table=True):
    __tablename__ = "custody_task"
    id: str = Field(primary_key=True, max_length=64)  # also the FHIR Task id
    facility_id: str = Field(foreign_key="organization.id", max_length=64, index=True)
    patient_id: str = Field(max_length=64, index=True)
    block: str = Field(default="", max_length=32)
    kind: str = Field(max_length=32)  # TaskKind
    due: datetime = Field(sa_column=ts_column(index=True))
    place: str = Field(max_length=200)
    source: str = Field(max_length=200, index=True)
    security_level: str | None = Field(default=None, max_length=16)  # SecurityLevel
    note: str = Field(default="", max_length=500)
    state: str = Field(default=TaskState.PENDING, max_length=16, index=True)
    done_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    done_by: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    pushed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class CustodyPost(SQLModel, table=True):
    """The block an officer covers this shift; no row (or an empty block): the whole facility."""

    __tablename__ = "custody_post"
    user_id: int = Field(primary_key=True, foreign_key="app_user.id")
    block: str = Field(default="", max_length=32)


class Urgency(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class ReferralStep(StrEnum):
    REQUESTED = "requested"
    DEPARTED = "departed"
    ARRIVED = "arrived"
    RETURNED = "returned"
    CANCELLED = "cancelled"


class Referral(SQLModel, table=True):
    """An outside-hospital referral (出所就医): the ServiceRequest, its escort task, and each step's time."""

    __tablename__ = "custody_referral"
    id: str = Field(primary_key=True, max_length=64)  # also the ServiceRequest id
    facility_id: str = Field(foreign_key="organization.id", max_length=64, index=True)
    patient_id: str = Field(max_length=64, index=True)
    urgency: str = Field(max_length=16)  # Urgency
    hospital: str = Field(max_length=200)
    department: str = Field(max_length=200)
    security_level: str = Field(max_length=16)
    leave_at: datetime = Field(sa_column=ts_column())
    task_id: str = Field(max_length=64)
    requested_by: int = Field(foreign_key="app_user.id")
    decided_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(index=True))
    step: str = Field(default=ReferralStep.REQUESTED, max_length=16, index=True)
    departed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    arrived_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    returned_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    summary_id: str | None = Field(default=None, max_length=64)  # DocumentReference brought back
    encounter_id: str | None = Field(default=None, max_length=64)
