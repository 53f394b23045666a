"""Storage tables: the current version of each resource, and every version."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary
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
