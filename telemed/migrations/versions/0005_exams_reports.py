"""exam campaigns and report batches

Revision ID: 0005
Revises: 0004
Tables of the `reports` package; only that package's models belong here.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import telemed.timeutil

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
