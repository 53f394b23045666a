"""drop the value index of fhir_quantity

Revision ID: 0010
Revises: 0009
Every Observation's value landed on a random page of (res_type, param, value, res_id): on a
store of 1,000,000 Observations, a Bundle of 250 dirtied some 280 of its pages, 60 % of all
the pages the Bundle wrote (each copied to the WAL, then checkpointed). Searches gained little
from it: with a code or a patient, the search drives from their index and probes the value by
the primary key, and the planner took the value index where it was slower (code plus value:
887 ms with it, 300 ms without; a broad value range: 2.5 s against 0.24 s). Only a search on a
rare value alone (gt200) goes from 35 ms to about 100 ms, a scan of the table.
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_fhir_quantity_value", table_name="fhir_quantity")


def downgrade() -> None:
    op.create_index("ix_fhir_quantity_value", "fhir_quantity", ["res_type", "param", "value", "res_id"], unique=False)
