"""audit entries reach their detainee index in blocks, not one by one

Revision ID: 0007
Revises: 0006
The (patient_id, ts) index on audit_entry took a random B-tree insert for every audited read.
``audit_patient`` holds (patient_id, seq) for the entries up to the last multiple of 10,000
(telemed.audit.PATIENT_INDEX_EVERY), filed in bulk by the writer that reaches each multiple.
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

EVERY = 10_000  # telemed.audit.PATIENT_INDEX_EVERY when this revision was written


def upgrade() -> None:
    op.create_table(
        "audit_patient",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("patient_id", "seq"),
        sqlite_with_rowid=False,
    )
    op.execute(f"INSERT INTO audit_patient (patient_id, seq) SELECT patient_id, seq FROM audit_entry "
               f"WHERE patient_id IS NOT NULL AND seq <= (SELECT COALESCE(MAX(seq), 0) / {EVERY} * {EVERY} "
               f"FROM audit_entry)")
    op.drop_index("ix_audit_entry_patient_ts", table_name="audit_entry")


def downgrade() -> None:
    op.create_index("ix_audit_entry_patient_ts", "audit_entry", ["patient_id", "ts"])
    op.drop_table("audit_patient")
