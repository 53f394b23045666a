"""registered analyzers and their test-code maps

Revision ID: 0015
Revises: 0014
The MLLP listener files only for registered analyzers (MSH-3/MSH-4 identity, source networks,
optionally a TLS client certificate); each has a map from its own test codes to the catalogue.
A held message remembers its analyzer, so that mapping one of its codes can re-file it.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import telemed.timeutil

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lab_analyzer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("facility_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("sending_application", sqlmodel.sql.sqltypes.AutoString(length=180), nullable=False),
        sa.Column("sending_facility", sqlmodel.sql.sqltypes.AutoString(length=180), nullable=False),
        sa.Column("addresses", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("cert_subject", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("cert_fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("sending_application", "sending_facility", name="uq_lab_analyzer_msh"),
    )
    op.create_index(op.f("ix_lab_analyzer_facility_id"), "lab_analyzer", ["facility_id"], unique=False)
    op.create_table(
        "lab_analyzer_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("analyzer_id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("loinc", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.ForeignKeyConstraint(["analyzer_id"], ["lab_analyzer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("analyzer_id", "code", name="uq_lab_analyzer_code"),
    )
    op.create_index(op.f("ix_lab_analyzer_code_analyzer_id"), "lab_analyzer_code", ["analyzer_id"], unique=False)
    op.add_column("lab_held_message", sa.Column("analyzer_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lab_held_message") as batch_op:
        batch_op.drop_column("analyzer_id")
    op.drop_index(op.f("ix_lab_analyzer_code_analyzer_id"), table_name="lab_analyzer_code")
    op.drop_table("lab_analyzer_code")
    op.drop_index(op.f("ix_lab_analyzer_facility_id"), table_name="lab_analyzer")
    op.drop_table("lab_analyzer")
