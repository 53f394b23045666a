"""lab results as analyzers send them: value as written, status, specimen, conditions;
alerts closed by a correction; ordered tests cancelled with a reason

Revision ID: 0014
Revises: 0010
A result's import_key becomes its identity (detainee, test, specimen or collection time)
instead of its value, so that a correction finds the result it corrects: existing rows are
re-keyed. Rows that already share an identity (two values at one time) keep distinct keys.
"""
import sqlalchemy as sa
from alembic import op

from labs.results import identity_key
from telemed.timeutil import UTCDateTime

revision = "0014"
down_revision = "0010"
branch_labels = None
depends_on = None
BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table("lab_result") as batch:
        batch.add_column(sa.Column("value_text", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("comparator", sa.String(2), nullable=False, server_default=""))
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="final"))
        batch.add_column(sa.Column("conditions", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("specimen_id", sa.String(64), nullable=True))
        batch.alter_column("flag", type_=sa.String(4), existing_nullable=False)
    with op.batch_alter_table("lab_alert") as batch:
        batch.add_column(sa.Column("closed_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("closed_note", sa.String(500), nullable=False, server_default=""))
        batch.alter_column("flag", type_=sa.String(4), existing_nullable=False)
    with op.batch_alter_table("lab_order") as batch:
        batch.add_column(sa.Column("cancelled", sa.Text(), nullable=False, server_default="{}"))
    _rekey()


def _rekey() -> None:
    rows = sa.table("lab_result", sa.column("id", sa.Integer), sa.column("patient_id", sa.String),
                    sa.column("loinc", sa.String), sa.column("effective_at", UTCDateTime()),
                    sa.column("import_key", sa.String))
    bind = op.get_bind()
    seen: set[str] = set()
    changes = []
    for rid, patient, loinc, at in bind.execute(sa.select(rows.c.id, rows.c.patient_id, rows.c.loinc,
                                                          rows.c.effective_at).order_by(rows.c.id)):
        key = identity_key(patient, loinc, None, at)
        if key in seen:
            key = identity_key(patient, loinc, f"legacy-{rid}", at)
        seen.add(key)
        changes.append({"rid": rid, "key": key})
    update = rows.update().where(rows.c.id == sa.bindparam("rid")).values(import_key=sa.bindparam("key"))
    for start in range(0, len(changes), BATCH):
        bind.execute(update, changes[start:start + BATCH])


def downgrade() -> None:
    with op.batch_alter_table("lab_order") as batch:
        batch.drop_column("cancelled")
    with op.batch_alter_table("lab_alert") as batch:
        batch.drop_column("closed_note")
        batch.drop_column("closed_at")
        batch.alter_column("flag", type_=sa.String(2), existing_nullable=False)
    with op.batch_alter_table("lab_result") as batch:
        for name in ("specimen_id", "conditions", "status", "comparator", "value_text"):
            batch.drop_column(name)
        batch.alter_column("flag", type_=sa.String(2), existing_nullable=False)
