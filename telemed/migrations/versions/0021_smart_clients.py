"""SMART Backend Services: registered clients, seen assertion ids, issued tokens

Revision ID: 0021
Revises: 0020
"""
import sqlalchemy as sa
from alembic import op

import telemed.timeutil

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "smart_client",
        sa.Column("client_id", sa.String(length=64), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("org_id", sa.String(length=64), sa.ForeignKey("organization.id"), nullable=False),
        sa.Column("jwks_url", sa.String(length=500), nullable=False),
        sa.Column("jwks", sa.String(length=20_000), nullable=False),
        sa.Column("scopes", sa.String(length=2000), nullable=False),
        sa.Column("created_at", telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", telemed.timeutil.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_smart_client_org_id", "smart_client", ["org_id"])
    op.create_table(
        "smart_assertion",
        sa.Column("client_id", sa.String(length=64), primary_key=True),
        sa.Column("jti", sa.String(length=255), primary_key=True),
        sa.Column("expires_at", telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_smart_assertion_expires_at", "smart_assertion", ["expires_at"])
    op.create_table(
        "smart_token",
        sa.Column("token_hash", sa.String(length=64), primary_key=True),
        sa.Column("client_id", sa.String(length=64), sa.ForeignKey("smart_client.client_id"), nullable=False),
        sa.Column("scopes", sa.String(length=2000), nullable=False),
        sa.Column("expires_at", telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_smart_token_client_id", "smart_token", ["client_id"])


def downgrade() -> None:
    op.drop_table("smart_token")
    op.drop_table("smart_assertion")
    op.drop_table("smart_client")
