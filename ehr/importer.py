"""Import FHIR R4 data (Bundles as JSON, or NDJSON, e.g. Synthea output) into the store.

Each resource is checked on its own: a bad one is counted with its reason and skipped, the good
ones are written in batches (one transaction each). ``urn:uuid:`` references inside a Bundle
are resolved to the resources' own ids. Synthea patients have no custody facility; ``facility``
places every such Patient in that facility.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import orjson
from sqlalchemy import select
from sqlmodel import Session

from ehr import store
from ehr.bundle import rewrite_references
from ehr.custody import custody_extension, custody_of
from ehr.errors import FhirError
from ehr.interactions import patient_required, writable
from ehr.models import FhirResource
from ehr.validation import validate
from telemed.audit import AuditEvent, append
from telemed.db import Database

MAX_ID = 64


@dataclass
class Summary:
    created: int = 0
    updated: int = 0
    rejected: Counter = field(default_factory=Counter)  # reason -> count
    examples: dict[str, str] = field(default_factory=dict)  # reason -> first place it happened

    def reject(self, reason: str, where: str) -> None:
        self.rejected[reason] += 1
        self.examples.setdefault(reason, where)


def read_resources(path: Path) -> Iterator[tuple[str, dict | None, str]]:
    """(where, resource or None when unreadable, problem) for each resource in a file."""
    if path.suffix == ".ndjson":
        with path.open("rb") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    yield from _parsed(f"{path.name}:{number}", line)
        return
    yield from _parsed(path.name, path.read_bytes())


def _parsed(where: str, raw: bytes) -> Iterator[tuple[str, dict | None, str]]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        yield where, None, f"malformed JSON: {exc}"
        return
    if not isinstance(data, dict):
        yield where, None, "not a JSON object"
    elif data.get("resourceType") == "Bundle":
        yield from _bundle_entries(where, data)
    else:
        yield where, data, ""


def _bundle_entries(where: str, bundle: dict) -> Iterator[tuple[str, dict | None, str]]:
    entries = [e for e in bundle.get("entry", []) if isinstance(e, dict)]
    mapping = {}
    for e in entries:
        resource = e.get("resource") or {}
        if str(e.get("fullUrl", "")).startswith("urn:uuid:") and resource.get("resourceType"):
            resource.setdefault("id", e["fullUrl"].removeprefix("urn:uuid:"))
            mapping[e["fullUrl"]] = f"{resource['resourceType']}/{resource['id']}"
    for n, e in enumerate(entries):
        resource = e.get("resource")
        if isinstance(resource, dict):
            yield f"{where} entry {n}", rewrite_references(resource, mapping), ""
        else:
            yield f"{where} entry {n}", None, "entry without a resource"


def count_resources(path: Path) -> int:
    if path.suffix == ".ndjson":
        with path.open("rb") as lines:
            return sum(1 for line in lines if line.strip())
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        return 1
    return len(data.get("entry", [])) if isinstance(data, dict) and data.get("resourceType") == "Bundle" else 1


def place(patient: dict, facility: str | None, today: date) -> None:
    """Give a Patient without custody data the import's facility."""
    if facility and not custody_of(patient).get("facility"):
        patient.setdefault("extension", []).append(custody_extension(facility, "", today.isoformat()))
        patient["managingOrganization"] = {"reference": f"Organization/{facility}"}


def check(resource: dict) -> str:
    """Validate one resource for import; returns its type or raises FhirError."""
    rtype = validate(resource)
    writable(rtype)
    if rtype != "Patient":
        patient_required(resource)
    return rtype


class Importer:
    def __init__(self, db: Database, *, facility: str | None = None, batch: int = 500,
                 today: date | None = None, progress: Callable[[int], None] = lambda n: None) -> None:
        self.db = db
        self.facility = facility
        self.batch = batch
        self.today = today or date.today()
        self.progress = progress
        self.summary = Summary()
        self._pending: list[tuple[str, dict]] = []

    def run(self, paths: list[Path]) -> Summary:
        for path in paths:
            # Patients first: other resources' access is decided through their detainee.
            items = sorted(read_resources(path), key=lambda item: (item[1] or {}).get("resourceType") != "Patient")
            for where, resource, problem in items:
                self._take(where, resource, problem)
                self.progress(1)
            self._flush()
        return self.summary

    def _take(self, where: str, resource: dict | None, problem: str) -> None:
        if resource is None:
            self.summary.reject(problem, where)
            return
        rid = str(resource.get("id") or store.new_id())
        if len(rid) > MAX_ID:
            self.summary.reject(f"id longer than {MAX_ID} characters", where)
            return
        resource["id"] = rid
        if resource.get("resourceType") == "Patient":
            place(resource, self.facility, self.today)
        try:
            check(resource)
        except FhirError as error:
            self.summary.reject(_reason(error), where)
            return
        self._pending.append((where, resource))
        if len(self._pending) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        try:
            self.db.call(self._write, pending)
        except FhirError:  # one bad resource in the batch (e.g. an unknown facility): go one by one
            for item in pending:
                try:
                    self.db.call(self._write, [item])
                except FhirError as error:
                    self.summary.reject(_reason(error), item[0])

    def _write(self, session: Session, pending: list[tuple[str, dict]]) -> None:
        ids = {(r["resourceType"], r["id"]) for _, r in pending}
        table = FhirResource.__table__
        existing = {tuple(row) for row in session.execute(
            select(table.c.type, table.c.id).where(table.c.id.in_([rid for _, rid in ids]))).all()} & ids
        fresh: dict[tuple[str, str], dict] = {}
        later: list[dict] = []
        for _, resource in pending:
            key = (resource["resourceType"], resource["id"])
            if key in existing or key in fresh:
                later.append(resource)
            else:
                fresh[key] = resource
        written = store.create_many(session, list(fresh.values()), ids=[k[1] for k in fresh], validated=True)
        for resource in later:
            store.update(session, resource, resource["id"], validated=True)
        patients = Counter(s.patient_id for s in written if s.patient_id)
        append(session, [AuditEvent(action="ehr.import", outcome="allowed", username="cli", patient_id=pid,
                                    resource=f"{n} resources") for pid, n in sorted(patients.items())])
        self.summary.created += len(written)
        self.summary.updated += len(later)


def _reason(error: FhirError) -> str:
    issue = error.issues[0]
    if not issue.expression or issue.diagnostics.startswith(issue.expression[0]):
        return issue.diagnostics
    return f"{issue.expression[0]}: {issue.diagnostics}"
