"""one index on fhir_token for both forms of a token search

Revision ID: 0009
Revises: 0008
``code`` and ``system|code`` searches each had their own index, (h_code, patient_id, res_id)
and (h_full, patient_id, res_id): every token row, three per Observation, took an insert into
both. One index (h_code, patient_id, h_full, res_id) serves both, since a ``system|code``
search knows its code's hash too.
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_fhir_token_hash", "fhir_token", ["h_code", "patient_id", "h_full", "res_id"], unique=False)
    op.drop_index("ix_fhir_token_full", table_name="fhir_token")
    op.drop_index("ix_fhir_token_code", table_name="fhir_token")


def downgrade() -> None:
    op.create_index("ix_fhir_token_full", "fhir_token", ["h_full", "patient_id", "res_id"], unique=False)
    op.create_index("ix_fhir_token_code", "fhir_token", ["h_code", "patient_id", "res_id"], unique=False)
    op.drop_index("ix_fhir_token_hash", table_name="fhir_token")
