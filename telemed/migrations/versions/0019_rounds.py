"""rounds: patient photos, queued rounds entries, controlled medicine counts

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

import telemed.timeutil

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TS = telemed.timeutil.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "patient_photo",
        sa.Column("patient_id", sa.String(length=64), primary_key=True),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("sha1", sa.String(length=40), nullable=False),
        sa.Column("taken_by", sa.String(length=200), nullable=False),
        sa.Column("taken_at", TS, nullable=False),
    )
    op.create_table(
        "rounds_entry",
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("taken_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("written", sa.Integer(), nullable=False),
    )
    op.create_index("ix_rounds_entry_user_id", "rounds_entry", ["user_id"])
    op.create_index("ix_rounds_entry_patient_id", "rounds_entry", ["patient_id"])
    op.create_table(
        "controlled_count",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("facility_id", sa.String(length=64), sa.ForeignKey("organization.id"), nullable=False),
        sa.Column("medicine", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("facility_id", "medicine"),
    )


def downgrade() -> None:
    op.drop_table("controlled_count")
    op.drop_index("ix_rounds_entry_patient_id", "rounds_entry")
    op.drop_index("ix_rounds_entry_user_id", "rounds_entry")
    op.drop_table("rounds_entry")
    op.drop_table("patient_photo")
