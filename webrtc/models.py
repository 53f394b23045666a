"""Tables of the webrtc capability: the consult workflow row, invitations and call statistics.

The clinical content lives in the FHIR store (ServiceRequest, Appointment, Consent,
DocumentReference, Condition, MedicationRequest); these rows hold the workflow state and
deadlines that the work lists query, plus the ids of those resources.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from telemed.models import ts_column
from telemed.timeutil import utcnow


class Urgency(StrEnum):
    EMERGENCY = "emergency"
    URGENT = "urgent"
    ROUTINE = "routine"


class ConsultStatus(StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"  # time proposed, not yet confirmed by the facility
    DECLINED = "declined"
    SCHEDULED = "scheduled"  # facility confirmed the time (Appointment)
    HELD = "held"  # the call took place; note not yet signed
    SIGNED = "signed"


class Outcome(StrEnum):
    TREAT_ON_SITE = "treat-on-site"
    FOLLOW_UP = "follow-up-consult"
    TRANSFER = "transfer-to-hospital"


class Consult(SQLModel, table=True):
    __tablename__ = "consult"
    id: str = Field(primary_key=True, max_length=64)  # also the ServiceRequest id
    patient_id: str = Field(max_length=64, index=True)
    facility_id: str = Field(foreign_key="organization.id", max_length=64, index=True)
    hospital_id: str = Field(foreign_key="organization.id", max_length=64, index=True)
    requester_id: int = Field(foreign_key="app_user.id", index=True)
    specialty: str = Field(max_length=64)
    question: str = Field(max_length=4000)
    urgency: str = Field(max_length=16)  # Urgency
    status: str = Field(default=ConsultStatus.REQUESTED, max_length=16, index=True)
    requested_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    decision_due: datetime = Field(sa_column=ts_column())
    decided_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    decision_reason: str = Field(default="", max_length=2000)
    specialist_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    proposed_start: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    scheduled_start: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    appointment_id: str | None = Field(default=None, max_length=64)
    consult_consent_id: str | None = Field(default=None, max_length=64)
    recording_consent_id: str | None = Field(default=None, max_length=64)
    officer_present: bool | None = None
    security_note: str = Field(default="", max_length=2000)
    call_started_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    call_ended_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    sign_due: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    draft: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    signed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    note_id: str | None = Field(default=None, max_length=64)
    outcome: str | None = Field(default=None, max_length=32)  # Outcome
    recording_id: str | None = Field(default=None, max_length=64)


class InviteKind(StrEnum):
    SPECIALIST = "specialist"
    INTERPRETER = "interpreter"


class ConsultInvite(SQLModel, table=True):
    """A third participant: a second specialist or an interpreter."""

    __tablename__ = "consult_invite"
    id: int | None = Field(default=None, primary_key=True)
    consult_id: str = Field(foreign_key="consult.id", max_length=64, index=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    kind: str = Field(max_length=16)  # InviteKind
    invited_by: int = Field(foreign_key="app_user.id")
    invited_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())


class ConsultCallStat(SQLModel, table=True):
    """One sample of one participant's media path, taken by the server during the call."""

    __tablename__ = "consult_call_stat"
    id: int | None = Field(default=None, primary_key=True)
    consult_id: str = Field(foreign_key="consult.id", max_length=64, index=True)
    user_id: int = Field(foreign_key="app_user.id")
    at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    rtt_ms: float | None = None
    bitrate_kbps: float | None = None
    frame_rate: float | None = None
    packets_lost: int | None = None
    packets_received: int | None = None
