"""custody officers' tasks, their posts, and outside-hospital referrals

Revision ID: 0017
Revises: 0016
The FHIR Task and ServiceRequest are the records; these tables index them for the officers'
and doctors' work lists and the monthly figures (custody.models).
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import telemed.timeutil

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

S = sqlmodel.sql.sqltypes.AutoString


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, telemed.timeutil.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "custody_task",
        sa.Column("id", S(length=64), nullable=False),
        sa.Column("facility_id", S(length=64), nullable=False),
        sa.Column("patient_id", S(length=64), nullable=False),
        sa.Column("block", S(length=32), nullable=False),
        sa.Column("kind", S(length=32), nullable=False),
        _when("due"),
        sa.Column("place", S(length=200), nullable=False),
        sa.Column("source", S(length=200), nullable=False),
        sa.Column("security_level", S(length=16), nullable=True),
        sa.Column("note", S(length=500), nullable=False),
        sa.Column("state", S(length=16), nullable=False),
        _when("done_at", True),
        sa.Column("done_by", sa.Integer(), nullable=True),
        _when("created_at"),
        _when("pushed_at", True),
        sa.ForeignKeyConstraint(["facility_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["done_by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("facility_id", "patient_id", "due", "source", "state"):
        op.create_index(op.f(f"ix_custody_task_{column}"), "custody_task", [column], unique=False)
    op.create_table(
        "custody_post",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("block", S(length=32), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "custody_referral",
        sa.Column("id", S(length=64), nullable=False),
        sa.Column("facility_id", S(length=64), nullable=False),
        sa.Column("patient_id", S(length=64), nullable=False),
        sa.Column("urgency", S(length=16), nullable=False),
        sa.Column("hospital", S(length=200), nullable=False),
        sa.Column("department", S(length=200), nullable=False),
        sa.Column("security_level", S(length=16), nullable=False),
        _when("leave_at"),
        sa.Column("task_id", S(length=64), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        _when("decided_at"),
        sa.Column("step", S(length=16), nullable=False),
        _when("departed_at", True),
        _when("arrived_at", True),
        _when("returned_at", True),
        sa.Column("summary_id", S(length=64), nullable=True),
        sa.Column("encounter_id", S(length=64), nullable=True),
        sa.ForeignKeyConstraint(["facility_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["requested_by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("facility_id", "patient_id", "decided_at", "step"):
        op.create_index(op.f(f"ix_custody_referral_{column}"), "custody_referral", [column], unique=False)


def downgrade() -> None:
    for column in ("facility_id", "patient_id", "decided_at", "step"):
        op.drop_index(op.f(f"ix_custody_referral_{column}"), table_name="custody_referral")
    op.drop_table("custody_referral")
    op.drop_table("custody_post")
    for column in ("facility_id", "patient_id", "due", "source", "state"):
        op.drop_index(op.f(f"ix_custody_task_{column}"), table_name="custody_task")
    op.drop_table("custody_task")
