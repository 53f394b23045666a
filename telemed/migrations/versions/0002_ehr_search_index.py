"""EHR search-parameter index tables

Revision ID: 0002
Revises: 0001
Tables of the `ehr` package; only that package's models belong here.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("fhir_token", "fhir_string", "fhir_date", "fhir_quantity", "fhir_reference")


def upgrade() -> None:
    op.create_table(
        'fhir_token',
        sa.Column('res_type', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('res_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('h_full', sa.BigInteger(), nullable=False),
        sa.Column('h_code', sa.BigInteger(), nullable=False),
        sa.Column('patient_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.PrimaryKeyConstraint('res_type', 'res_id', 'h_full'),
    )
    op.create_index('ix_fhir_token_full', 'fhir_token', ['h_full', 'patient_id', 'res_id'], unique=False)
    op.create_index('ix_fhir_token_code', 'fhir_token', ['h_code', 'patient_id', 'res_id'], unique=False)
    op.create_table(
        'fhir_string',
        sa.Column('res_type', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('res_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('param', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('norm', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('exact', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint('res_type', 'res_id', 'param', 'norm', 'exact'),
    )
    op.create_index('ix_fhir_string_value', 'fhir_string', ['res_type', 'param', 'norm', 'res_id'], unique=False)
    op.create_table(
        'fhir_date',
        sa.Column('res_type', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('res_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('param', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('low', sa.BigInteger(), nullable=False),
        sa.Column('high', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('res_type', 'res_id', 'param', 'low', 'high'),
    )
    op.create_index('ix_fhir_date_value', 'fhir_date', ['res_type', 'param', 'low', 'res_id'], unique=False)
    op.create_table(
        'fhir_quantity',
        sa.Column('res_type', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('res_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('param', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.Column('system', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint('res_type', 'res_id', 'param', 'value', 'system', 'code'),
    )
    op.create_index('ix_fhir_quantity_value', 'fhir_quantity', ['res_type', 'param', 'value', 'res_id'], unique=False)
    op.create_table(
        'fhir_reference',
        sa.Column('res_type', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('res_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('param', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('target_type', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('target_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint('res_type', 'res_id', 'param', 'target_type', 'target_id'),
    )
    op.create_index('ix_fhir_reference_target', 'fhir_reference', ['target_type', 'target_id', 'res_type', 'param', 'res_id'], unique=False)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
