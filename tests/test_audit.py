import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent
from sqlalchemy import inspect, text
from sqlmodel import select

from telemed.audit import PATIENT_INDEX_EVERY, AuditEvent, AuditLog, append, to_fhir, verify
from telemed.db import make_engine
from telemed.schema import upgrade
from telemed.models import AuditEntry, AuditPatient
from tests.conftest import both_databases
from tests.ehr_support import fhir


def record_some(log: AuditLog, n: int, **fields) -> None:
    for i in range(n):
        log.record(AuditEvent(action="fhir.read", outcome="allowed", username="doc-a", role="facility_doctor",
                              patient_id=f"p{i % 3}", resource=f"Observation/o{i}", ip="127.0.0.1", **fields))
    log.flush()


@both_databases
def test_chain_verifies_and_detects_change_and_removal(context):
    record_some(context.audit, 50)
    checked, problems = context.db.call(verify)
    assert (checked, problems) == (50, [])

    with context.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET outcome = 'denied' WHERE seq = 7"))
    _, problems = context.db.call(verify)
    assert [(p.seq, p.problem) for p in problems] == [(7, "field outcome changed after it was written")]

    with context.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET outcome = 'allowed' WHERE seq = 7"))
        conn.execute(text("DELETE FROM audit_entry WHERE seq = 20"))
    _, problems = context.db.call(verify)
    assert {p.seq for p in problems} == {21}
    assert any("missing" in p.problem for p in problems)


@both_databases
def test_two_writers_never_fork_the_chain(context):
    """The server and a CLI import append at the same time: one chain, no gaps."""
    other = AuditLog(context.db.engine, batch=7)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda log: record_some(log, 120), [context.audit, other]))
    other.close()
    checked, problems = context.db.call(verify)
    assert (checked, problems) == (240, [])


def test_entries_export_as_valid_fhir_audit_events(context):
    record_some(context.audit, 2, break_glass=True, reason="transferred last night")
    entries = context.db.call(lambda s: s.exec(select(AuditEntry).order_by(AuditEntry.seq)).all())
    event = to_fhir(entries[0])
    FhirAuditEvent.model_validate(event)
    assert event["entity"][0]["what"]["reference"] == "Patient/p0"
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    assert event["action"] == "R"


def test_cli_verify_exit_codes(context, settings):
    record_some(context.audit, 5)
    env = {"TELEMED_DATABASE_URL": settings.database_url, "TELEMED_DATA_DIR": str(settings.data_dir),
           "PATH": "/usr/bin:/bin"}
    run = lambda: subprocess.run([sys.executable, "-m", "telemed.cli", "audit", "verify"],  # noqa: E731
                                 capture_output=True, text=True, env=env)
    ok = run()
    assert ok.returncode == 0 and "5 audit entries checked, 0 problem(s)" in ok.stdout
    with context.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET username = 'someone-else' WHERE seq = 3"))
    bad = run()
    assert bad.returncode == 1 and "entry 3: field username changed" in bad.stdout


@both_databases
async def test_queries_by_detainee_find_entries_on_both_sides_of_the_index_block(client, context, world, login):
    """Entries up to each multiple of PATIENT_INDEX_EVERY are found through audit_patient, later
    ones by their own patient_id: a query by detainee finds both, and nobody else's."""
    named = {3: "fac-a-p1", 5: "fac-a-p2", PATIENT_INDEX_EVERY - 1: "fac-a-p1", PATIENT_INDEX_EVERY: "fac-b-p1",
             PATIENT_INDEX_EVERY + 1: "fac-a-p1", PATIENT_INDEX_EVERY + 40: "fac-a-p1"}
    events = [AuditEvent(action="fhir.read", outcome="allowed", username="doc-a", patient_id=named.get(seq),
                         resource=f"Observation/o{seq}") for seq in range(1, PATIENT_INDEX_EVERY + 51)]
    for start in range(0, len(events), 3000):  # the last write crosses the block's end midway
        with context.db.engine.begin() as conn:
            append(conn, events[start:start + 3000])

    indexed = context.db.call(lambda s: {(r.patient_id, r.seq) for r in s.exec(select(AuditPatient))})
    assert indexed == {(p, seq) for seq, p in named.items() if seq <= PATIENT_INDEX_EVERY}

    officer = await login("officer-a")
    status, bundle, _ = await fhir(client, "GET", "/fhir/AuditEvent?patient=fac-a-p1&_count=100", officer)
    assert status == 200
    assert [e["resource"]["id"] for e in bundle["entry"]] == [
        f"audit-{seq}" for seq in sorted((s for s, p in named.items() if p == "fac-a-p1"), reverse=True)]
    status, bundle, _ = await fhir(client, "GET", "/fhir/AuditEvent?patient=fac-a-p2,fac-b-p1", officer)
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["audit-5"]  # fac-b-p1 is another facility's
    response = await client.get("/api/audit?patient=fac-a-p1", headers=officer)
    seqs = [int(e["resource"]["id"].removeprefix("audit-")) for e in (await response.json())["entry"]]
    assert seqs == sorted((s for s, p in named.items() if p == "fac-a-p1"), reverse=True)
    assert context.db.call(verify)[1] == []


@both_databases
def test_the_upgrade_files_the_existing_trail_up_to_its_last_full_block(db_url):
    upgrade(db_url, "0006")
    engine = make_engine(db_url)
    last = PATIENT_INDEX_EVERY + 7
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_entry (seq, ts, username, role, action, patient_id, resource, outcome, "
                          "reason, ip, request_id, break_glass, prev_hash, hash) VALUES (:seq, :ts, '', '', "
                          "'fhir.read', :patient, '', 'allowed', '', '', '', false, '', '')"),
                     [{"seq": seq, "ts": "2026-11-24 00:00:00", "patient": f"p{seq % 3}" if seq % 5 else None}
                      for seq in range(1, last + 1)])
    upgrade(db_url)
    with engine.connect() as conn:
        filed = set(conn.execute(text("SELECT patient_id, seq FROM audit_patient")).all())
        indexes = {ix["name"] for ix in inspect(conn).get_indexes("audit_entry")}
    engine.dispose()
    assert filed == {(f"p{seq % 3}", seq) for seq in range(1, PATIENT_INDEX_EVERY + 1) if seq % 5}
    assert "ix_audit_entry_patient_ts" not in indexes
