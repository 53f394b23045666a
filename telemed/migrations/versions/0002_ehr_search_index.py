"""EHR search-parameter index tables

Revision ID: 0002
Revises: 0001
Tables of the `ehr` package; only that package's models belong here.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import telemed.timeutil

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
