"""token search depth: every token value also writes its system row (``system|`` and
``:missing``) and its texts as string rows (``:text``); existing resources are reindexed

Revision ID: 0025
Revises: 0024
"""
import orjson
import sqlalchemy as sa
from alembic import op
from sqlmodel import Session

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

BATCH = 2000


def upgrade() -> None:
    """Rewrite the index rows of every current resource with this version's indexer, a batch
    of resources per query, keyset by (type, id); the tables themselves do not change."""
    from ehr import index

    session = Session(bind=op.get_bind())
    resources = sa.table("fhir_resource", sa.column("type"), sa.column("id"), sa.column("patient_id"),
                         sa.column("content"), sa.column("deleted"))
    after = ("", "")
    while True:
        rows = session.execute(sa.select(resources.c.type, resources.c.id, resources.c.patient_id, resources.c.content)
                               .where(resources.c.deleted == sa.false(),
                                      sa.tuple_(resources.c.type, resources.c.id) > sa.tuple_(*after))
                               .order_by(resources.c.type, resources.c.id).limit(BATCH)).all()
        for rtype, rid, patient_id, content in rows:
            index.reindex(session, rtype, rid, orjson.loads(content), patient_id=patient_id)
        if len(rows) < BATCH:
            break
        after = (rows[-1][0], rows[-1][1])
    session.flush()


def downgrade() -> None:
    """The extra rows are harmless to the older code, which never asks for them."""
