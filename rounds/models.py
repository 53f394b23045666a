"""Tables of the rounds capability. Clinical facts (doses, notes, vitals, flags) live in the FHIR
store; these rows hold what FHIR has no good place for: the photo's bytes (Patient.photo points at
them, so a Patient read stays small), each queued entry's idempotency key, and the count of each
controlled medicine on hand."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from telemed.models import ts_column
from telemed.timeutil import utcnow


class PatientPhoto(SQLModel, table=True):
    __tablename__ = "patient_photo"
    patient_id: str = Field(primary_key=True, max_length=64)
    content_type: str = Field(max_length=32)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sha1: str = Field(max_length=40)
    taken_by: str = Field(default="", max_length=200)
    taken_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())


class RoundsEntry(SQLModel, table=True):
    """One entry sent from a rounds page, by the key the browser made when it was taken: a resent
    entry (the answer was lost in a network drop) is answered from here and written once. A dose
recorded at the pill line keeps its first answer (``answer``, JSON) to give it again."""

    __tablename__ = "rounds_entry"
    key: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    patient_id: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=16)
    taken_at: datetime = Field(sa_column=ts_column())
    received_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    written: int = 0
    answer: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON, for a dose


class ControlledCount(SQLModel, table=True):
    """Units of one controlled medicine on hand in a facility; each dose given takes one."""

    __tablename__ = "controlled_count"
    __table_args__ = (UniqueConstraint("facility_id", "medicine"),)
    id: int | None = Field(default=None, primary_key=True)
    facility_id: str = Field(foreign_key="organization.id", max_length=64)
    medicine: str = Field(max_length=200)
    count: int = 0
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
