import sqlite3

from ehr import store
from telemed.db import SQLITE_CHECKPOINT_BYTES, SQLITE_PAGE_BYTES, make_engine
from telemed.models import Detainee
from tests.conftest import both_databases
from tests.ehr_support import observation


@both_databases
def test_patient_write_keeps_detainee_index(context, world):
    def check(session):
        detainee = session.get(Detainee, "fac-a-p1")
        assert detainee.facility_id == "fac-a"
        assert detainee.booking_number == "fac-a-1"
        stored = store.read(session, "Patient", "fac-a-p1")
        assert stored.version == 1 and stored.resource["meta"]["versionId"] == "1"

    context.db.call(check)


@both_databases
def test_every_version_reads_back_after_bulk_create_update_delete_and_recreate(context, world):
    """The current version's history row holds no copy of the content; each change must first
    give it its own, or an older version would read back as the newer one."""
    first = observation("fac-a-p1", value=61)
    rid = context.db.call(lambda s: store.create_many(s, [first])[0].id)
    context.db.call(lambda s: store.update(s, observation("fac-a-p1", value=62), rid))
    context.db.call(lambda s: store.delete(s, "Observation", rid))
    context.db.call(lambda s: store.update(s, observation("fac-a-p1", value=64), rid))

    def check(session):
        values = [store.vread(session, "Observation", rid, v).resource["valueQuantity"]["value"] for v in (1, 2, 4)]
        assert values == [61, 62, 64]
        history = store.history(session, "Observation", rid)
        assert [(s.version, s.deleted) for s in history] == [(4, False), (3, True), (2, False), (1, False)]
        assert [s.resource["meta"]["versionId"] for s in history if not s.deleted] == ["4", "2", "1"]
        assert {s.patient_id for s in history} == {"fac-a-p1"}

    context.db.call(check)


def test_new_sqlite_database_takes_large_pages_and_an_old_one_keeps_its_own(tmp_path):
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as raw:  # a database made before the page size was set
        raw.execute("PRAGMA page_size=4096")
        raw.execute("CREATE TABLE t (x)")
        raw.execute("INSERT INTO t VALUES (1)")
    for path, page_bytes in ((tmp_path / "new.db", SQLITE_PAGE_BYTES), (old, 4096)):
        with make_engine(f"sqlite:///{path}").connect() as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x)")
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == page_bytes
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == SQLITE_CHECKPOINT_BYTES // page_bytes
    with sqlite3.connect(old) as raw:
        assert raw.execute("SELECT x FROM t").fetchall() == [(1,)]
