"""state several server processes share: the login brake's failures and report batch leases

Revision ID: 0020
Revises: 0019
The login brake was in each process's memory: a restart forgot it, and each process of a
cluster braked on its own. A report batch gains a lease, so that only one process renders it.
"""
import sqlalchemy as sa
from alembic import op

import telemed.timeutil

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "username", "address"),
    )
    with op.batch_alter_table("report_job") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=120), nullable=False, server_default=""))
        batch.add_column(sa.Column("lease_until", telemed.timeutil.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("report_job") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
    op.drop_table("login_failure")
