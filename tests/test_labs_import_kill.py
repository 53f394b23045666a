"""`kill -9` of `telemed labs import`: its workers die with it and file nothing more, and what
was filed is whole (each batch with its FHIR resources and its audit entries) or absent."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select, text

from ehr.models import FhirResource
from labs.models import LabResult
from telemed.models import AuditEntry
from tests.conftest import both_databases, make_patient
from tests.processes import wait_dead

DETAINEES, PER_DETAINEE = 240, 125  # 30,000 results: worker processes, and a dozen shares
TESTS = (("2823-3", "4.1", "mmol/L"), ("2951-2", "140", "mmol/L"), ("718-7", "140", "g/L"),
         ("6690-2", "6.2", "10*9/L"), ("2345-7", "5.1", "mmol/L"))


def export(path: Path) -> Path:
    lines = ["booking_number,loinc,value,unit,collected_at"]
    for n in range(DETAINEES):
        for k in range(PER_DETAINEE):
            loinc, value, unit = TESTS[k % len(TESTS)]
            lines.append(f"K{n},{loinc},{value},{unit},2026-01-{1 + k // len(TESTS):02d} 08:00")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except FileNotFoundError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def counts(context) -> tuple[int, int, int]:
    """(results, Observations, results the audit entries say were filed)."""
    def read(session):
        results = session.execute(select(func.count()).select_from(LabResult)).scalar()
        observations = session.execute(select(func.count()).select_from(FhirResource)
                                       .where(FhirResource.type == "Observation")).scalar()
        reasons = session.execute(select(AuditEntry.reason).where(AuditEntry.action == "labs.import")).scalars()
        return results, observations, sum(int(re.match(r"(\d+) result", r).group(1)) for r in reasons)
    return context.db.call(read)


def settled(context) -> None:
    """Until PostgreSQL has finished what the killed processes had sent: a COMMIT on its way when
    they died still completes, in the server, after they are gone (on SQLite a commit happens in
    the process that makes it). Counted before that, it looked like a batch filed after the kill."""
    if not context.settings.database_url.startswith("postgres"):
        return
    working = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND pid <> pg_backend_pid() AND state <> 'idle'")
    deadline = time.monotonic() + 30
    while context.db.call(lambda s: s.execute(working).scalar()):
        assert time.monotonic() < deadline, "a killed process's session is still at work"
        time.sleep(0.05)


@both_databases
def test_kill_9_of_an_import_stops_its_workers_and_leaves_whole_batches(context, world, tmp_path):
    context.db.call(lambda s: [make_patient(s, "fac-a", f"K{n}") for n in range(DETAINEES)])
    env = {**os.environ, "TELEMED_DATABASE_URL": context.settings.database_url,
           "TELEMED_DATA_DIR": str(context.settings.data_dir), "TELEMED_SECRET_KEY": context.settings.secret_key}
    importing = subprocess.Popen([sys.executable, "-m", "telemed.cli", "labs", "import", str(export(tmp_path / "big.csv")),
                                  "--facility", "fac-a"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while counts(context)[0] == 0:  # until the first batch is in
        assert importing.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    workers = children_of(importing.pid)
    assert workers, "the import runs worker processes"
    importing.send_signal(signal.SIGKILL)
    importing.wait()
    settled(context)
    at_kill = counts(context)
    for pid in workers:
        wait_dead(pid, timeout=30)  # gone, or a zombie that nothing reaps here (PID 1 of a container may not)
    after = counts(context)
    assert after == at_kill, "nothing is filed after the kill"
    results, observations, audited = after
    assert 0 < results < DETAINEES * PER_DETAINEE
    assert observations == results and audited == results  # whole batches, each audited
