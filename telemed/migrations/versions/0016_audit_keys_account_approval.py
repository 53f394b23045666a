"""audit entries sealed with a keyed MAC; clinical accounts wait for approval

Revision ID: 0016
Revises: 0010
Failed logins no longer lock an account (telemed.throttle). Entries written before this
revision keep an empty key id and verify with the old unkeyed rule,
as the chain's prefix only (telemed.audit). Accounts that exist now were in use: they count as
approved when they were created.
"""
import sqlalchemy as sa
from alembic import op

import telemed.timeutil

revision = "0016"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_entry") as batch:
        batch.add_column(sa.Column("key_id", sa.String(length=16), nullable=False, server_default=""))
        batch.add_column(sa.Column("field_tags", sa.String(length=64), nullable=False, server_default=""))
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("approved_at", telemed.timeutil.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("approved_by", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_app_user_approved_by", "app_user", ["approved_by"], ["id"])
        # Failed logins are braked per address now (telemed.throttle), never by locking the account.
        for column in ("failed_logins", "locked_until", "last_failed_at"):
            batch.drop_column(column)
    op.execute("UPDATE app_user SET approved_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.drop_constraint("fk_app_user_approved_by", type_="foreignkey")
        batch.drop_column("approved_by")
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until", telemed.timeutil.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_failed_at", telemed.timeutil.UTCDateTime(timezone=True), nullable=True))
        batch.drop_column("approved_at")
    with op.batch_alter_table("audit_entry") as batch:
        batch.drop_column("field_tags")
        batch.drop_column("key_id")
