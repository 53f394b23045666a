"""Tables of the labs capability: narrow rows beside the FHIR resources, for fast delta checks,
trends, de-duplication and bulk import; plus critical alerts and messages held for review."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from telemed.models import ts_column
from telemed.timeutil import utcnow


class LabOrder(SQLModel, table=True):
    """One order (a FHIR ServiceRequest with the same id) for panels and/or single tests."""

    __tablename__ = "lab_order"
    id: str = Field(primary_key=True, max_length=64)
    patient_id: str = Field(max_length=64, index=True)
    facility_id: str = Field(max_length=64, index=True)
    tests: str = Field(max_length=2000)  # LOINC codes, comma separated
    note: str = Field(default="", max_length=500)
    status: str = Field(default="active", max_length=16)  # active | completed
    # Ordered tests cancelled by a person: JSON {loinc: reason}
    cancelled: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    ordered_by: int = Field(foreign_key="app_user.id")
    ordered_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())


class LabResult(SQLModel, table=True):
    """One reported value (a FHIR Observation with id ``observation_id``)."""

    __tablename__ = "lab_result"
    __table_args__ = (Index("ix_lab_result_patient_loinc_at", "patient_id", "loinc", "effective_at"),)
    id: int | None = Field(default=None, primary_key=True)
    patient_id: str = Field(max_length=64)
    facility_id: str = Field(max_length=64)
    loinc: str = Field(max_length=16)
    value_num: float | None = None
    value_code: str = Field(default="", max_length=32)  # qualitative value, e.g. "neg", "2+"
    value_text: str = Field(default="", max_length=64)  # as written when not a plain number: "<0.5", "1-5", "1:128"
    comparator: str = Field(default="", max_length=2)  # < <= > >= of a censored value_num
    unit: str = Field(default="", max_length=32)
    flag: str = Field(max_length=4)  # HL7 0078 / v3 interpretation; IND undecidable; "" none
    status: str = Field(default="final", max_length=16)  # FHIR Observation.status
    conditions: str = Field(default="", max_length=64)  # specimen conditions, comma separated (labs.specimen)
    specimen_id: str | None = Field(default=None, max_length=64)  # accession or specimen id, when sent
    delta_flag: bool = False
    effective_at: datetime = Field(sa_column=ts_column())
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    source: str = Field(max_length=16)  # manual | import | hl7
    import_key: str = Field(max_length=64, unique=True)  # the result's identity: detainee, test, specimen
    observation_id: str = Field(max_length=64)
    report_id: str = Field(max_length=64)
    order_id: str | None = Field(default=None, max_length=64)


class LabAlert(SQLModel, table=True):
    """A critical result, open until a doctor acknowledges it."""

    __tablename__ = "lab_alert"
    id: int | None = Field(default=None, primary_key=True)
    result_id: int = Field(foreign_key="lab_result.id", index=True)
    patient_id: str = Field(max_length=64)
    facility_id: str = Field(max_length=64, index=True)
    loinc: str = Field(max_length=16)
    value: str = Field(max_length=64)
    flag: str = Field(max_length=4)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    pushed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True, index=True))
    acknowledged_by: int | None = Field(default=None, foreign_key="app_user.id")
    acknowledged_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))  # corrected away
    closed_note: str = Field(default="", max_length=500)


class HeldMessage(SQLModel, table=True):
    """An analyzer message (or part of one) that could not be filed: kept for a person to review."""

    __tablename__ = "lab_held_message"
    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(index=True))
    channel: str = Field(max_length=16)  # hl7 | import
    facility_id: str = Field(max_length=64, index=True)  # where the analyzer or upload is
    sender: str = Field(default="", max_length=200)
    reason: str = Field(max_length=2000)
    content: str = Field(sa_column=Column(Text, nullable=False))
    resolved_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    resolved_by: int | None = Field(default=None, foreign_key="app_user.id")
    analyzer_id: int | None = None  # the registered analyzer that sent it (its code map applies)


class Analyzer(SQLModel, table=True):
    """An analyzer (or laboratory system) allowed to send results over MLLP: who it says it is
    (MSH-3, MSH-4), where it may connect from, optionally its TLS client certificate, and the
    facility whose detainees it files for."""

    __tablename__ = "lab_analyzer"
    __table_args__ = (UniqueConstraint("sending_application", "sending_facility", name="uq_lab_analyzer_msh"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    facility_id: str = Field(max_length=64, index=True)
    sending_application: str = Field(max_length=180)  # MSH-3, first component
    sending_facility: str = Field(default="", max_length=180)  # MSH-4, first component; "" = sent empty
    addresses: str = Field(max_length=2000)  # allowed source networks (CIDR), comma separated
    cert_subject: str = Field(default="", max_length=500)  # RFC 4514, as cryptography writes it
    cert_fingerprint: str = Field(default="", max_length=64)  # SHA-256 of the DER certificate, hex
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())


class AnalyzerCode(SQLModel, table=True):
    """One entry of an analyzer's test-code map: its own code (OBX-3) -> a catalogue test, and
    the unit it reports that test in when that is not in the message."""

    __tablename__ = "lab_analyzer_code"
    __table_args__ = (UniqueConstraint("analyzer_id", "code", name="uq_lab_analyzer_code"),)
    id: int | None = Field(default=None, primary_key=True)
    analyzer_id: int = Field(foreign_key="lab_analyzer.id", index=True)
    code: str = Field(max_length=64)
    loinc: str = Field(max_length=16)
    unit: str = Field(default="", max_length=32)
