"""pushed notifications kept per recipient until dismissed

Revision ID: 0024
Revises: 0023
"""
import sqlalchemy as sa
from alembic import op

import telemed.timeutil

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("toast", sa.JSON(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dismissed_at", telemed.timeutil.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_notification_key", "notification", ["key"])
    op.create_index("ix_notification_user_id", "notification", ["user_id"])


def downgrade() -> None:
    op.drop_table("notification")
