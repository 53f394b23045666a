"""Tables of the reports capability: exam campaigns, one exam row per detainee in a campaign,
report batch jobs and their per-detainee progress.

The clinical content of an exam lives in the FHIR store; these narrow rows hold only what
completion counts, batch resumption and the cohort summary need.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from telemed.models import ts_column
from telemed.timeutil import utcnow


class CampaignStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ExamStatus(StrEnum):
    PENDING = "pending"
    EXAMINED = "examined"
    REFUSED = "refused"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


ACTIVE_JOB_STATES = (JobStatus.QUEUED, JobStatus.RUNNING)


class ExamCampaign(SQLModel, table=True):
    __tablename__ = "exam_campaign"
    id: str = Field(primary_key=True, max_length=16)
    facility_id: str = Field(foreign_key="organization.id", max_length=64, index=True)
    name: str = Field(max_length=200)
    period_start: str = Field(max_length=10)
    period_end: str = Field(max_length=10)
    cohort_date: str = Field(default="", max_length=10)  # "" when the cohort is a chosen list
    status: str = Field(default=CampaignStatus.OPEN, max_length=16)
    created_by: int = Field(foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    closed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class Exam(SQLModel, table=True):
    """One detainee in one campaign; its FHIR Encounter is ``exam-<id>``."""

    __tablename__ = "exam"
    __table_args__ = (UniqueConstraint("campaign_id", "patient_id"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(foreign_key="exam_campaign.id", max_length=16, index=True)
    patient_id: str = Field(max_length=64, index=True)
    status: str = Field(default=ExamStatus.PENDING, max_length=16)
    sections: str = Field(default="", max_length=400)  # comma-separated sections entered so far
    examiner_id: int | None = Field(default=None, foreign_key="app_user.id")
    reviewer_id: int | None = Field(default=None, foreign_key="app_user.id")
    examined_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    reviewed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    refusal_reason: str = Field(default="", max_length=1000)


class ReportJob(SQLModel, table=True):
    __tablename__ = "report_job"
    id: str = Field(primary_key=True, max_length=16)
    campaign_id: str = Field(foreign_key="exam_campaign.id", max_length=16, index=True)
    lang: str = Field(default="zh-CN", max_length=8)
    status: str = Field(default=JobStatus.QUEUED, max_length=16, index=True)
    total: int = 0
    done: int = 0
    out_dir: str = Field(max_length=1000)
    error: str = Field(default="", max_length=2000)
    created_by: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    finished_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    # Which process renders it, until when (reports.batch): two processes never render one batch.
    lease_owner: str = Field(default="", max_length=120)
    lease_until: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class ReportItem(SQLModel, table=True):
    """One detainee's report in a job; ``findings`` (JSON) feeds the cohort summary."""

    __tablename__ = "report_item"
    __table_args__ = (UniqueConstraint("job_id", "patient_id"),)
    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="report_job.id", max_length=16, index=True)
    patient_id: str = Field(max_length=64)
    exam_id: int = Field(foreign_key="exam.id")
    done: bool = Field(default=False)
    pages: int = 0
    file_name: str = Field(default="", max_length=200)
    findings: str = Field(default="")
