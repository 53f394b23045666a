"""video consults

Revision ID: 0004
Revises: 0003
Tables of the `webrtc` package; only that package's models belong here.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import telemed.timeutil

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, telemed.timeutil.UTCDateTime(), nullable=nullable)


def _text(name: str, length: int, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "consult",
        _text("id", 64),
        _text("patient_id", 64),
        _text("facility_id", 64),
        _text("hospital_id", 64),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        _text("specialty", 64),
        _text("question", 4000),
        _text("urgency", 16),
        _text("status", 16),
        _ts("requested_at", nullable=False),
        _ts("decision_due", nullable=False),
        _ts("decided_at"),
        _text("decision_reason", 2000),
        sa.Column("specialist_id", sa.Integer(), nullable=True),
        _ts("proposed_start"),
        _ts("scheduled_start"),
        _text("appointment_id", 64, nullable=True),
        _text("consult_consent_id", 64, nullable=True),
        _text("recording_consent_id", 64, nullable=True),
        sa.Column("officer_present", sa.Boolean(), nullable=True),
        _text("security_note", 2000),
        _ts("call_started_at"),
        _ts("call_ended_at"),
        _ts("sign_due"),
        sa.Column("draft", sa.JSON(), nullable=False),
        _ts("signed_at"),
        _text("note_id", 64, nullable=True),
        _text("outcome", 32, nullable=True),
        _text("recording_id", 64, nullable=True),
        sa.ForeignKeyConstraint(["facility_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["hospital_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["requester_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["specialist_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("patient_id", "facility_id", "hospital_id", "requester_id", "status", "specialist_id"):
        op.create_index(f"ix_consult_{column}", "consult", [column])
    op.create_table(
        "consult_invite",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("consult_id", 64),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _text("kind", 16),
        sa.Column("invited_by", sa.Integer(), nullable=False),
        _ts("invited_at", nullable=False),
        sa.ForeignKeyConstraint(["consult_id"], ["consult.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["invited_by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consult_invite_consult_id", "consult_invite", ["consult_id"])
    op.create_index("ix_consult_invite_user_id", "consult_invite", ["user_id"])
    op.create_table(
        "consult_call_stat",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("consult_id", 64),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _ts("at", nullable=False),
        sa.Column("rtt_ms", sa.Float(), nullable=True),
        sa.Column("bitrate_kbps", sa.Float(), nullable=True),
        sa.Column("frame_rate", sa.Float(), nullable=True),
        sa.Column("packets_lost", sa.Integer(), nullable=True),
        sa.Column("packets_received", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["consult_id"], ["consult.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consult_call_stat_consult_id", "consult_call_stat", ["consult_id"])


def downgrade() -> None:
    op.drop_table("consult_call_stat")
    op.drop_table("consult_invite")
    op.drop_table("consult")
