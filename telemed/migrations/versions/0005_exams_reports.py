"""exam campaigns and report batches

Revision ID: 0005
Revises: 0004
Tables of the `reports` package; only that package's models belong here.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import telemed.timeutil

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, telemed.timeutil.UTCDateTime(), nullable=nullable)


def _text(name: str, length: int | None, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=nullable)


def _user(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Integer(), sa.ForeignKey("app_user.id"), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "exam_campaign",
        _text("id", 16),
        _text("facility_id", 64),
        _text("name", 200),
        _text("period_start", 10),
        _text("period_end", 10),
        _text("cohort_date", 10),
        _text("status", 16),
        _user("created_by", nullable=False),
        _ts("created_at", nullable=False),
        _ts("closed_at"),
        sa.ForeignKeyConstraint(["facility_id"], ["organization.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_exam_campaign_facility_id", "exam_campaign", ["facility_id"])
    op.create_table(
        "exam",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("campaign_id", 16),
        _text("patient_id", 64),
        _text("status", 16),
        _text("sections", 400),
        _user("examiner_id"),
        _user("reviewer_id"),
        _ts("examined_at"),
        _ts("reviewed_at"),
        _text("refusal_reason", 1000),
        sa.ForeignKeyConstraint(["campaign_id"], ["exam_campaign.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "patient_id"),
    )
    op.create_index("ix_exam_campaign_id", "exam", ["campaign_id"])
    op.create_index("ix_exam_patient_id", "exam", ["patient_id"])
    op.create_table(
        "report_job",
        _text("id", 16),
        _text("campaign_id", 16),
        _text("lang", 8),
        _text("status", 16),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        _text("out_dir", 1000),
        _text("error", 2000),
        _user("created_by"),
        _ts("created_at", nullable=False),
        _ts("finished_at"),
        sa.ForeignKeyConstraint(["campaign_id"], ["exam_campaign.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_report_job_campaign_id", "report_job", ["campaign_id"])
    op.create_index("ix_report_job_status", "report_job", ["status"])
    op.create_table(
        "report_item",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("job_id", 16),
        _text("patient_id", 64),
        sa.Column("exam_id", sa.Integer(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        _text("file_name", 200),
        _text("findings", None),
        sa.ForeignKeyConstraint(["job_id"], ["report_job.id"]),
        sa.ForeignKeyConstraint(["exam_id"], ["exam.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "patient_id"),
    )
    op.create_index("ix_report_item_job_id", "report_item", ["job_id"])


def downgrade() -> None:
    for table in ("report_item", "report_job", "exam", "exam_campaign"):
        op.drop_table(table)
