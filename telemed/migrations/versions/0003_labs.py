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
    op.create_table('lab_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('facility_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('loinc', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('value_num', sa.Float(), nullable=True),
    sa.Column('value_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('flag', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('delta_flag', sa.Boolean(), nullable=False),
    sa.Column('effective_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('import_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('observation_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('report_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('import_key')
    )
    op.create_index(op.f('ix_lab_result_facility_id'), 'lab_result', ['facility_id'], unique=False)
    op.create_index('ix_lab_result_patient_loinc_at', 'lab_result', ['patient_id', 'loinc', 'effective_at'], unique=False)
    op.create_table('lab_alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('result_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('facility_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('loinc', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('flag', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('created_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('pushed_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.Integer(), nullable=True),
    sa.Column('acknowledged_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['acknowledged_by'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['result_id'], ['lab_result.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_lab_alert_facility_id'), 'lab_alert', ['facility_id'], unique=False)
    op.create_index(op.f('ix_lab_alert_pushed_at'), 'lab_alert', ['pushed_at'], unique=False)
    op.create_index(op.f('ix_lab_alert_result_id'), 'lab_alert', ['result_id'], unique=False)
    op.create_table('lab_held_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('facility_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('sender', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('resolved_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['resolved_by'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_lab_held_message_facility_id'), 'lab_held_message', ['facility_id'], unique=False)
    op.create_index(op.f('ix_lab_held_message_received_at'), 'lab_held_message', ['received_at'], unique=False)
    op.create_table('lab_order',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('patient_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('facility_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('tests', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('ordered_by', sa.Integer(), nullable=False),
    sa.Column('ordered_at', telemed.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ordered_by'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_lab_order_facility_id'), 'lab_order', ['facility_id'], unique=False)
    op.create_index(op.f('ix_lab_order_patient_id'), 'lab_order', ['patient_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_lab_order_patient_id'), table_name='lab_order')
    op.drop_index(op.f('ix_lab_order_facility_id'), table_name='lab_order')
    op.drop_table('lab_order')
    op.drop_index(op.f('ix_lab_held_message_received_at'), table_name='lab_held_message')
    op.drop_index(op.f('ix_lab_held_message_facility_id'), table_name='lab_held_message')
    op.drop_table('lab_held_message')
    op.drop_index(op.f('ix_lab_alert_result_id'), table_name='lab_alert')
    op.drop_index(op.f('ix_lab_alert_pushed_at'), table_name='lab_alert')
    op.drop_index(op.f('ix_lab_alert_facility_id'), table_name='lab_alert')
    op.drop_table('lab_alert')
    op.drop_index('ix_lab_result_patient_loinc_at', table_name='lab_result')
    op.drop_index(op.f('ix_lab_result_facility_id'), table_name='lab_result')
    op.drop_table('lab_result')
