"""Bulk Data export (FHIR Bulk Data Access 2.0.0): a kick-off answers 202 with a status URL,
a worker thread writes one NDJSON file per type, streaming the stored bytes row by row (memory
stays flat, whatever the size), within what the caller may read by the same Gate as a search.
A Group export holds the Patient compartments of the Group's members the caller may read.

Jobs live in ``data_dir/bulk/<job>/``; a job belongs to the principal who started it, and only
it may poll, download or cancel (to anyone else the job does not exist)."""

from __future__ import annotations

import secrets
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import orjson
from sqlalchemy import ColumnElement, false, select
from sqlmodel import Session

from ehr.access import CATALOG_TYPES, READ, Gate
from ehr.errors import FhirError, Issue
from ehr.groups import GROUP, members_of
from ehr.interactions import read
from ehr.models import FhirResource
from ehr.search import bad
from ehr.validation import SUPPORTED_TYPES
from telemed.policy import Decision

R = FhirResource.__table__
OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
# Kick-off parameters of the IG this server does not implement: refused, or skipped when lenient.
NOT_IMPLEMENTED = ("_elements", "patient", "includeAssociatedData", "_typeFilter", "_until", "organizeOutputBy",
                   "allowPartialManifests")
EXPORTABLE = tuple(t for t in SUPPORTED_TYPES if t != "AuditEvent")  # the audit trail has its own export
COMPARTMENT = tuple(t for t in EXPORTABLE if t not in CATALOG_TYPES and t != GROUP)  # a detainee's record
ROWS_PER_FETCH = 1000
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
    state: str = "running"  # running | done | failed | cancelled
    progress: str = ""
    outputs: list[tuple[str, str, int]] = field(default_factory=list)  # (type, file name, count)
    error: str = ""
    patients: set[str] = field(default_factory=set)  # whose data the files hold, for the audit trail
    cancelled: threading.Event = field(default_factory=threading.Event)


class Exports:
    """The jobs of this process; one running job per principal (a second gets 429)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.jobs: dict[str, Job] = {}

    def start(self, owner: str, request: ExportRequest, transaction_time: str) -> Job:
        if any(j.owner == owner and j.state == "running" for j in self.jobs.values()):
            raise FhirError(429, Issue("throttled", "an export of yours is still running: wait for it or cancel it"))
        job_id = secrets.token_urlsafe(16)
        folder = self.folder / job_id
        folder.mkdir(parents=True)
        job = Job(job_id, owner, folder, request, transaction_time)
        self.jobs[job_id] = job
        return job

    def owned(self, job_id: str, owner: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None or job.owner != owner:
            raise FhirError(404, Issue("not-found", f"no export job {job_id}"))
        return job

    def remove(self, job: Job) -> None:
        job.cancelled.set()
        self.jobs.pop(job.id, None)
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


def run_export(session: Session, gate: Gate, job: Job) -> None:
    """Write each type's file, row by row as the database yields them."""
    for n, rtype in enumerate(job.request.types):
        if job.cancelled.is_set():  # its folder may be gone already
            return
        job.progress = f"{rtype}: type {n + 1} of {len(job.request.types)}"
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
                if count % ROWS_PER_FETCH == 0 and job.cancelled.is_set():
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
