"""lab catalogue, orders, results and alerts

Revision ID: 0003
Revises: 0002
Tables of the `labs` package; only that package's models belong here.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import telemed.timeutil

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
