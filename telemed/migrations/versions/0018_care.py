"""care: intake screening and sick call

Revision ID: 0018
Revises: 0016
Each arrival of a detainee (admission or transfer in) with its screening and assessment; each
sick-call request with its triage and visit clocks; the follow-ups screening answers raise; a facility's own deadlines.
"""
import sqlalchemy as sa
from alembic import op

import telemed.timeutil

revision = "0018"
down_revision = "0016"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, telemed.timeutil.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "care_rules",
        sa.Column("facility_id", sa.String(length=64), sa.ForeignKey("organization.id"), primary_key=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in (
            "screening_hours", "assessment_days", "triage_hours", "visit_hours", "visit_hours_off_days",
            "urgent_triage_hours", "urgent_visit_hours")),
        _ts("updated_at"),
    )
    op.create_table(
        "care_intake",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("facility_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        _ts("admitted_at"),
        _ts("screened_at", True),
        sa.Column("screened_by", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=True),
        sa.Column("response_id", sa.String(length=64), nullable=True),
        _ts("assessed_at", True),
        sa.Column("assessed_by", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=True),
    )
    for column in ("patient_id", "facility_id", "admitted_at"):
        op.create_index(f"ix_care_intake_{column}", "care_intake", [column])
    op.create_table(
        "care_sick_call",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("facility_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        _ts("received_at"),
        sa.Column("entered_by", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=False),
        _ts("triage_due"),
        _ts("visit_due"),
        _ts("triaged_at", True),
        _ts("visit_at", True),
        sa.Column("place", sa.String(length=100), nullable=False),
        _ts("seen_at", True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        _ts("closed_at", True),
    )
    for column in ("patient_id", "facility_id", "received_at", "entered_by"):
        op.create_index(f"ix_care_sick_call_{column}", "care_sick_call", [column])
    op.create_table(
        "care_follow_up",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("intake_id", sa.Integer(), sa.ForeignKey("care_intake.id"), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("facility_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=32), nullable=False),
        _ts("due"),
        _ts("done_at", True),
        sa.Column("done_by", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=True),
    )
    for column in ("intake_id", "patient_id", "facility_id", "due"):
        op.create_index(f"ix_care_follow_up_{column}", "care_follow_up", [column])


def downgrade() -> None:
    op.drop_table("care_follow_up")
    op.drop_table("care_sick_call")
    op.drop_table("care_intake")
    op.drop_table("care_rules")
