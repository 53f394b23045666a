"""Storage tables: the current version of each resource, and every version."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel

from telemed.models import ts_column


class FhirResource(SQLModel, table=True):
    __tablename__ = "fhir_resource"
    __table_args__ = (
        Index("ix_fhir_resource_patient_type", "patient_id", "type"),
        Index("ix_fhir_resource_type_updated", "type", "last_updated"),
    )
    type: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=64)
    version: int
    last_updated: datetime = Field(sa_column=ts_column())
    deleted: bool = False
    patient_id: str | None = Field(default=None, max_length=64)
    # The resource exactly as served (meta included), so reads never go through pydantic.
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class FhirHistory(SQLModel, table=True):
    __tablename__ = "fhir_history"
    __table_args__ = (Index("ix_fhir_history_type_updated", "type", "last_updated"),)
    type: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=64)
    version: int = Field(primary_key=True)
    last_updated: datetime = Field(sa_column=ts_column())
    method: str = Field(max_length=8)  # POST | PUT | DELETE
    deleted: bool = False
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


# Search-parameter index: narrow tables, one per value kind, each row naming its resource by
# (res_type, res_id). Every column is in the primary key, so a resource's duplicate values
# collapse and the key itself serves the per-resource delete on rewrite.


class FhirToken(SQLModel, table=True):
    """Token values, as two 64-bit hashes: of (type, param, system, code) and of (type, param, code),
    with the resource's patient, so that "this patient's results for this code" is one index range.
    One index serves both forms: a ``system|code`` search knows its code's hash too, and finds
    the system's hash inside the code's range."""

    __tablename__ = "fhir_token"
    __table_args__ = (Index("ix_fhir_token_hash", "h_code", "patient_id", "h_full", "res_id"),)
    res_type: str = Field(primary_key=True, max_length=64)
    res_id: str = Field(primary_key=True, max_length=64)
    h_full: int = Field(primary_key=True, sa_type=BigInteger)
    h_code: int = Field(sa_type=BigInteger)
    patient_id: str | None = Field(default=None, max_length=64)


class FhirString(SQLModel, table=True):
    """String values, normalised (lower case, accents removed) for the default starts-with match."""

    __tablename__ = "fhir_string"
    __table_args__ = (Index("ix_fhir_string_value", "res_type", "param", "norm", "res_id"),)
    res_type: str = Field(primary_key=True, max_length=64)
    res_id: str = Field(primary_key=True, max_length=64)
    param: str = Field(primary_key=True, max_length=64)
    norm: str = Field(primary_key=True, max_length=200)
    exact: str = Field(primary_key=True, max_length=200)


class FhirDate(SQLModel, table=True):
    """Dates as the range they cover, in milliseconds since the epoch (UTC), matched by overlap."""

    __tablename__ = "fhir_date"
    __table_args__ = (Index("ix_fhir_date_value", "res_type", "param", "low", "res_id"),)
    res_type: str = Field(primary_key=True, max_length=64)
    res_id: str = Field(primary_key=True, max_length=64)
    param: str = Field(primary_key=True, max_length=64)
    low: int = Field(primary_key=True, sa_type=BigInteger)
    high: int = Field(primary_key=True, sa_type=BigInteger)


class FhirQuantity(SQLModel, table=True):
    """Quantities, probed by primary key: a value index took a random page per row written
    and served searches worse than the other criteria's indexes (migration 0010)."""

    __tablename__ = "fhir_quantity"
    res_type: str = Field(primary_key=True, max_length=64)
    res_id: str = Field(primary_key=True, max_length=64)
    param: str = Field(primary_key=True, max_length=64)
    value: float = Field(primary_key=True)
    system: str = Field(primary_key=True, max_length=200)
    code: str = Field(primary_key=True, max_length=64)


class FhirReference(SQLModel, table=True):
    """Reference links, indexed both ways: forward by the key (``_include``), backward by the
    target index (``_revinclude`` and reference search)."""

    __tablename__ = "fhir_reference"
    __table_args__ = (Index("ix_fhir_reference_target", "target_type", "target_id", "res_type", "param", "res_id"),)
    res_type: str = Field(primary_key=True, max_length=64)
    res_id: str = Field(primary_key=True, max_length=64)
    param: str = Field(primary_key=True, max_length=64)
    target_type: str = Field(primary_key=True, max_length=64)
    target_id: str = Field(primary_key=True, max_length=64)


class FhirExportJob(SQLModel, table=True):
    """A Bulk Data export, kept in the database so that its status URL answers from any server
    process and after a restart. ``runner`` holds it while it runs (renewing ``lease_until``);
    a job whose runner died is failed, not resumed (ehr/bulk.py)."""

    __tablename__ = "fhir_export_job"
    __table_args__ = (Index("ix_fhir_export_job_owner", "owner", "state"),)
    id: str = Field(primary_key=True, max_length=32)
    owner: str = Field(max_length=200)  # the principal's username
    request: str = Field(sa_column=Column(Text, nullable=False))  # the ExportRequest, as JSON
    transaction_time: str = Field(max_length=40)
    state: str = Field(max_length=12)  # running | done | failed
    progress: str = Field(default="", max_length=100)
    outputs: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # [[type, file, count], ...]
    error: str = Field(default="", max_length=500)
    runner: str = Field(default="", max_length=120)
    lease_until: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    expires_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
