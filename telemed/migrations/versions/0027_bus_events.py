"""bus events: the messages between server processes, kept so that a reconnecting listener catches up

Revision ID: 0027
Revises: 0026
A NOTIFY sent while a process's listening connection was down was lost: a push missed, a
revoked token honoured elsewhere until the token cache forgot it. Each message is now a row
under a sequence number; the NOTIFY only wakes the listeners, which read the rows they have not
seen. Rows are pruned after an hour.
"""
import sqlalchemy as sa
from alembic import op

import telemed.timeutil

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bus_event",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=120), nullable=False),
        sa.Column("topic", sa.String(length=60), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("sent_at", telemed.timeutil.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index(op.f("ix_bus_event_sent_at"), "bus_event", ["sent_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_bus_event_sent_at"), table_name="bus_event")
    op.drop_table("bus_event")
