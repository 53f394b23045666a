"""Bulk Data export (FHIR Bulk Data Access 2.0.0): a kick-off answers 202 with a status URL,
a worker thread writes one NDJSON file per type, streaming the stored bytes row by row (memory
stays flat, whatever the size), within what the caller may read by the same Gate as a search.
A Group export holds the Patient compartments of the Group's members the caller may read.

Jobs are rows of ``fhir_export_job`` (see ``Exports``), their files in ``data_dir/bulk/<job>/``; a
job belongs to the principal who started it, and only it may poll, download or cancel (to
anyone else the job does not exist)."""

from __future__ import annotations

import secrets
import shutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import ColumnElement, false, update
from sqlmodel import Session, select

from ehr.access import CATALOG_TYPES, READ, Gate
from ehr.errors import FhirError, Issue
from ehr.groups import GROUP, members_of
from ehr.interactions import read
from ehr.models import FhirExportJob, FhirResource
from ehr.search import bad
from ehr.validation import SUPPORTED_TYPES
from telemed.db import Database
from telemed.owner import OWNER, dead_here
from telemed.policy import Decision
from telemed.timeutil import utcnow

R = FhirResource.__table__
OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
# Kick-off parameters of the IG this server does not implement: refused, or skipped when lenient.
NOT_IMPLEMENTED = ("_elements", "patient", "includeAssociatedData", "_typeFilter", "_until", "organizeOutputBy",
                   "allowPartialManifests")
EXPORTABLE = tuple(t for t in SUPPORTED_TYPES if t != "AuditEvent")  # the audit trail has its own export
COMPARTMENT = tuple(t for t in EXPORTABLE if t not in CATALOG_TYPES and t != GROUP)  # a detainee's record
ROWS_PER_FETCH = 1000
LEASE = timedelta(minutes=5)  # renewed every ROWS_PER_FETCH rows: far longer than any fetch
STOPPED = "the server stopped while this export ran: start it again"
SYSTEM, PATIENT, GROUP_LEVEL = "system", "patient", "group"


@dataclass(frozen=True)
class ExportRequest:
    level: str  # system | patient | group
    types: tuple[str, ...]
    since: datetime | None
    url: str  # the kick-off request, as the manifest repeats it
    members: tuple[str, ...] = ()  # group level: the detainees whose compartments it holds


def parse_kickoff(level: str, query: Mapping[str, str], url: str, *, since: datetime | None,
                  lenient: bool) -> ExportRequest:
    """``since``: ``_since`` as the API read it (an instant with its zone)."""
    types: tuple[str, ...] = EXPORTABLE if level == SYSTEM else COMPARTMENT
    for name, value in query.items():
        if name == "_outputFormat":
            if value not in OUTPUT_FORMATS:
                raise bad(f"_outputFormat={value}: this server writes {OUTPUT_FORMATS[0]}", name)
        elif name == "_type":
            asked = tuple(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
            unknown = [t for t in asked if t not in types]
            if unknown or not asked:
                raise bad(f"_type: {', '.join(unknown) or 'empty'} cannot be exported at this level", name)
            types = asked
        elif name == "_since":
            continue
        elif not (lenient and name in NOT_IMPLEMENTED):
            raise bad(f"{name} is not a $export parameter this server supports", name)
    return ExportRequest(level, types, since, url)


def readable_members(session: Session, gate: Gate, group_id: str) -> tuple[str, ...]:
    """The members of the caller's Group that the caller may read. Another facility's Group is
    404, as a read; a member outside the caller's access is left out, the omission audited and
    not told (the caller learns nothing of a detainee it may not see)."""
    group = orjson.loads(read(session, gate, GROUP, group_id).content)
    kept = []
    for pid in dict.fromkeys(members_of(group)):
        decision = gate.decide(session, READ, "Patient", pid, pid)
        if decision.allowed and not decision.break_glass:  # an export is no emergency read
            kept.append(pid)
        else:
            gate.note("fhir.export", Decision(False, f"left out of {GROUP}/{group_id}'s export: {decision.reason}"),
                      pid, f"Patient/{pid}")
    return tuple(kept)


@dataclass
class Job:
    id: str
    owner: str  # the principal's username
    folder: Path
    request: ExportRequest
    transaction_time: str
    state: str = "running"  # running | done | failed
    progress: str = ""
    outputs: list[tuple[str, str, int]] = field(default_factory=list)  # (type, file name, count)
    error: str = ""
    expires_at: datetime | None = None
    patients: set[str] = field(default_factory=set)  # whose data the files hold, for the audit trail
    cancelled: threading.Event = field(default_factory=threading.Event)


def _request_text(request: ExportRequest) -> str:
    return orjson.dumps({"level": request.level, "types": request.types, "url": request.url, "members": request.members,
                         "since": request.since.isoformat() if request.since else None}).decode()


def _request_of(text: str) -> ExportRequest:
    data = orjson.loads(text)
    since = datetime.fromisoformat(data["since"]) if data["since"] else None
    return ExportRequest(data["level"], tuple(data["types"]), since, data["url"], tuple(data["members"]))


def _stopped(row: FhirExportJob, now: datetime) -> bool:
    """A running job whose runner is gone: a dead process of this host, or a lease run out."""
    return dead_here(row.runner) or row.lease_until is None or row.lease_until < now


class Exports:
    """The export jobs, in the database (any process answers for any job; a restart forgets
    none), their files under ``folder``. One running job per principal (a second gets 429). A
    job whose runner died is failed with an OperationOutcome, not resumed: its files may be
    half written, and a new kick-off is one request. Finished files are deleted ``ttl`` after
    the job ended; the status URL is 404 from then on."""

    def __init__(self, db: Database, folder: Path, ttl: timedelta) -> None:
        self.db = db
        self.folder = folder
        self.ttl = ttl
        self.here: dict[str, Job] = {}  # the jobs this process runs

    def start(self, session: Session, owner: str, request: ExportRequest, transaction_time: str) -> Job:
        now = utcnow()
        self.sweep(session, now)
        running = session.exec(select(FhirExportJob).where(FhirExportJob.owner == owner, FhirExportJob.state == "running"))
        if any(not self._failed_if_stopped(session, row, now) for row in running):
            raise FhirError(429, Issue("throttled", "an export of yours is still running: wait for it or cancel it"))
        job = Job(secrets.token_urlsafe(16), owner, Path(), request, transaction_time)
        job.folder = self.folder / job.id
        job.folder.mkdir(parents=True)
        session.add(FhirExportJob(id=job.id, owner=owner, request=_request_text(request), transaction_time=transaction_time,
                                  state="running", runner=OWNER, lease_until=now + LEASE))
        self.here[job.id] = job
        return job

    def owned(self, session: Session, job_id: str, owner: str) -> Job | None:
        """The caller's job, or None (nothing is raised here: the expiry's deletion must commit)."""
        row = session.get(FhirExportJob, job_id)
        now = utcnow()
        if row is not None and row.expires_at is not None and row.expires_at <= now:
            self._delete(session, row)
            return None
        if row is None or row.owner != owner:
            return None
        if row.state == "running":
            self._failed_if_stopped(session, row, now)
        return Job(row.id, row.owner, self.folder / row.id, _request_of(row.request), row.transaction_time, row.state,
                   row.progress, [tuple(o) for o in orjson.loads(row.outputs)], row.error, row.expires_at)

    def _failed_if_stopped(self, session: Session, row: FhirExportJob, now: datetime) -> bool:
        if not _stopped(row, now):
            return False
        row.state, row.error, row.expires_at, row.outputs = "failed", STOPPED, now + self.ttl, "[]"
        session.add(row)
        shutil.rmtree(self.folder / row.id, ignore_errors=True)
        return True

    def remove(self, session: Session, job: Job) -> None:
        """DELETE on the status URL: the job and its files; a runner elsewhere stops at its next renewal."""
        local = self.here.get(job.id)
        if local is not None:
            local.cancelled.set()
        row = session.get(FhirExportJob, job.id)
        if row is not None:
            self._delete(session, row)

    def _delete(self, session: Session, row: FhirExportJob) -> None:
        session.delete(row)
        shutil.rmtree(self.folder / row.id, ignore_errors=True)

    def sweep(self, session: Session, now: datetime) -> None:
        """Delete the jobs whose time is up, with their files."""
        for row in session.exec(select(FhirExportJob).where(FhirExportJob.expires_at <= now)):
            self._delete(session, row)

    # -- the runner's side, from its worker thread ---------------------------------------------

    def renew(self, job: Job) -> bool:
        """Record progress and renew the lease; False when the job is gone (cancelled), which
        stops the runner."""
        def write(session: Session) -> int:
            return session.execute(update(FhirExportJob).where(
                FhirExportJob.id == job.id, FhirExportJob.runner == OWNER, FhirExportJob.state == "running")
                .values(progress=job.progress[:100], lease_until=utcnow() + LEASE)).rowcount
        if job.cancelled.is_set() or self.db.call(write) != 1:
            job.cancelled.set()
        return not job.cancelled.is_set()

    def finish(self, job: Job, state: str, error: str = "") -> None:
        """The job's end, written only while it is still this runner's (not cancelled meanwhile)."""
        self.here.pop(job.id, None)

        def write(session: Session) -> int:
            return session.execute(update(FhirExportJob).where(
                FhirExportJob.id == job.id, FhirExportJob.runner == OWNER, FhirExportJob.state == "running")
                .values(state=state, error=error[:500], outputs=orjson.dumps(job.outputs).decode(), progress="",
                        expires_at=utcnow() + self.ttl)).rowcount
        if self.db.call(write) != 1:
            shutil.rmtree(job.folder, ignore_errors=True)


def _condition(session: Session, gate: Gate, request: ExportRequest, rtype: str) -> list[ColumnElement]:
    conditions = [R.c.type == rtype, R.c.deleted == false()]
    restrict = gate.restriction(session, rtype)
    if restrict is not None:
        conditions.append(restrict)
    if request.level == PATIENT and rtype != "Patient":
        conditions.append(R.c.patient_id.is_not(None))  # the Patient compartment
    if request.level == GROUP_LEVEL:
        conditions.append(R.c.patient_id.in_(request.members))  # a Patient's own row has its id there too
    if request.since is not None:
        conditions.append(R.c.last_updated > request.since)
    return conditions


def run_export(session: Session, gate: Gate, job: Job, renew: Callable[[Job], bool]) -> None:
    """Write each type's file, row by row as the database yields them; ``renew`` records the
    progress and says whether to go on."""
    for n, rtype in enumerate(job.request.types):
        job.progress = f"{rtype}: type {n + 1} of {len(job.request.types)}"
        if not renew(job):  # cancelled: its folder may be gone already
            return
        rows = session.execute(select(R.c.patient_id, R.c.content).where(*_condition(session, gate, job.request, rtype))
                               .order_by(R.c.id).execution_options(yield_per=ROWS_PER_FETCH))
        name, count = f"{rtype}.ndjson", 0
        with open(job.folder / name, "wb") as out:
            for patient_id, content in rows:
                out.write(content)
                out.write(b"\n")
                count += 1
                if patient_id:
                    job.patients.add(patient_id)
                if count % ROWS_PER_FETCH == 0 and not renew(job):
                    return
        rows.close()
        if count:
            job.outputs.append((rtype, name, count))
        else:
            (job.folder / name).unlink()


def manifest(job: Job, base: str) -> dict:
    return {
        "transactionTime": job.transaction_time,
        "request": job.request.url,
        "requiresAccessToken": True,
        "output": [{"type": rtype, "url": f"{base}/$export-file/{job.id}/{name}", "count": count}
                   for rtype, name, count in job.outputs],
        "error": [],
    }
