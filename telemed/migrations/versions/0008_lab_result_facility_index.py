"""drop lab_result's facility index, which no query reads

Revision ID: 0008
Revises: 0007
Every lab result paid an insert into it; results are read by detainee (trends, delta checks)
and by import key, never by facility.
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_lab_result_facility_id", table_name="lab_result")


def downgrade() -> None:
    op.create_index("ix_lab_result_facility_id", "lab_result", ["facility_id"], unique=False)
