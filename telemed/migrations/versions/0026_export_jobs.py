"""bulk export jobs in the database: the status URL survives a restart and answers from any process

Revision ID: 0026
Revises: 0025
"""
import sqlalchemy as sa
from alembic import op

import telemed.timeutil

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fhir_export_job",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("transaction_time", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("progress", sa.String(length=100), nullable=False),
        sa.Column("outputs", sa.Text(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.Column("runner", sa.String(length=120), nullable=False),
        sa.Column("lease_until", telemed.timeutil.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", telemed.timeutil.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_fhir_export_job_owner", "fhir_export_job", ["owner", "state"])


def downgrade() -> None:
    op.drop_index("ix_fhir_export_job_owner", table_name="fhir_export_job")
    op.drop_table("fhir_export_job")
