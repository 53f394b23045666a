"""foundation and record store

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 21:14:52.036931
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import telemed.timeutil


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_entry',
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('ts', telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('patient_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('resource', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('ip', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('request_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('break_glass', sa.Boolean(), nullable=False),
    sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entry_patient_ts', ['patient_id', 'ts'], unique=False)

    op.create_table('consult_share',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consult_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('resource_type', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('resource_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('produced', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('consult_id', 'resource_type', 'resource_id')
    )
    with op.batch_alter_table('consult_share', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consult_share_consult_id'), ['consult_id'], unique=False)

    op.create_table('fhir_history',
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('last_updated', telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('type', 'id', 'version')
    )
    with op.batch_alter_table('fhir_history', schema=None) as batch_op:
        batch_op.create_index('ix_fhir_history_type_updated', ['type', 'last_updated'], unique=False)

    op.create_table('fhir_resource',
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('last_updated', telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('patient_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('type', 'id')
    )
    with op.batch_alter_table('fhir_resource', schema=None) as batch_op:
        batch_op.create_index('ix_fhir_resource_patient_type', ['patient_id', 'type'], unique=False)
        batch_op.create_index('ix_fhir_resource_type_updated', ['type', 'last_updated'], unique=False)

    op.create_table('organization',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('name_zh', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('org_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('specialty', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('on_duty', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', telemed.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_failed_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_app_user_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_app_user_username'), ['username'], unique=True)

    op.create_table('detainee',
    sa.Column('patient_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('facility_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('booking_number', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('national_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('sex', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('birth_date', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('cell', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('admission_date', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('updated_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['facility_id'], ['organization.id'], ),
    sa.PrimaryKeyConstraint('patient_id')
    )
    with op.batch_alter_table('detainee', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_detainee_booking_number'), ['booking_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_detainee_facility_id'), ['facility_id'], unique=False)

    op.create_table('auth_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('csrf_token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('auth_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_token_token_hash'), ['token_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_auth_token_user_id'), ['user_id'], unique=False)

    op.create_table('break_glass',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('created_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reviewed_by', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['reviewed_by'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('break_glass', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_break_glass_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_break_glass_user_id'), ['user_id'], unique=False)

    op.create_table('consult_access',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consult_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('patient_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('specialist_id', sa.Integer(), nullable=False),
    sa.Column('accepted_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['specialist_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('consult_id', 'specialist_id')
    )
    with op.batch_alter_table('consult_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consult_access_consult_id'), ['consult_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consult_access_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consult_access_specialist_id'), ['specialist_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('consult_access', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consult_access_specialist_id'))
        batch_op.drop_index(batch_op.f('ix_consult_access_patient_id'))
        batch_op.drop_index(batch_op.f('ix_consult_access_consult_id'))

    op.drop_table('consult_access')
    with op.batch_alter_table('break_glass', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_break_glass_user_id'))
        batch_op.drop_index(batch_op.f('ix_break_glass_patient_id'))

    op.drop_table('break_glass')
    with op.batch_alter_table('auth_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_token_user_id'))
        batch_op.drop_index(batch_op.f('ix_auth_token_token_hash'))

    op.drop_table('auth_token')
    with op.batch_alter_table('detainee', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_detainee_facility_id'))
        batch_op.drop_index(batch_op.f('ix_detainee_booking_number'))

    op.drop_table('detainee')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_user_username'))
        batch_op.drop_index(batch_op.f('ix_app_user_org_id'))

    op.drop_table('app_user')
    op.drop_table('organization')
    with op.batch_alter_table('fhir_resource', schema=None) as batch_op:
        batch_op.drop_index('ix_fhir_resource_type_updated')
        batch_op.drop_index('ix_fhir_resource_patient_type')

    op.drop_table('fhir_resource')
    with op.batch_alter_table('fhir_history', schema=None) as batch_op:
        batch_op.drop_index('ix_fhir_history_type_updated')

    op.drop_table('fhir_history')
    with op.batch_alter_table('consult_share', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consult_share_consult_id'))

    op.drop_table('consult_share')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entry_patient_ts')

    op.drop_table('audit_entry')
