"""Append-only, hash-chained audit trail.

Entries are queued; one writer thread (``AuditLog``) appends them in batches every few
milliseconds, so that auditing every read puts neither a database commit nor a thread wake-up
on each request. The server runs that writer in a child process (``telemed.audit_process``).
The chain is extended inside a transaction that re-reads the tip, and ``seq`` is the primary
key, so two writers (the server and a CLI import, say) can never fork it: the loser's insert
fails and it retries on the new tip.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime

import orjson
from sqlalchemy import ColumnElement, Connection, Engine, func, insert, union_all
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, select

from telemed.db import bind_processor, insert_sql
from telemed.models import AuditEntry, AuditPatient
from telemed.timeutil import fhir_instant, utcnow

log = logging.getLogger(__name__)
GENESIS = "0" * 64
_ENTRY = AuditEntry.__table__
_PATIENT = AuditPatient.__table__
# Entries reach ``audit_patient`` in blocks of this many: a query by detainee scans at most this
# many recent entries by their own patient_id.
PATIENT_INDEX_EVERY = 10_000


@dataclass(slots=True)  # not frozen: every request builds one, and a frozen init is slow
class AuditEvent:
    action: str
    outcome: str  # allowed | denied | error
    user_id: int | None = None
    username: str = ""
    role: str = ""
    patient_id: str | None = None
    resource: str = ""
    reason: str = ""
    ip: str = ""
    request_id: str = ""
    break_glass: bool = False
    ts: datetime = field(default_factory=utcnow)


EVENT_FIELDS = tuple(f.name for f in fields(AuditEvent))
ROW_COLUMNS = (*EVENT_FIELDS, "seq", "prev_hash", "hash")
_TS = EVENT_FIELDS.index("ts")
_NOT_HASHED = frozenset({"seq", "hash", "prev_hash"})
# Rows per INSERT: a bound under every driver's limit on parameters (SQLite's is 32,766).
INSERT_ROWS = 1000


def entry_hash(seq: int, prev_hash: str, event: dict) -> str:
    body = {k: v for k, v in event.items() if k not in _NOT_HASHED}
    body["ts"] = fhir_instant(body["ts"]) if isinstance(body["ts"], datetime) else body["ts"]
    payload = orjson.dumps({"seq": seq, "prev": prev_hash, "event": body}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


def append(conn: Session | Connection, events: Iterable[AuditEvent]) -> int:
    """Extend the chain with ``events`` in the caller's transaction; returns the last seq.

    Multi-row INSERTs of plain values: the ORM unit of work cost more than the rows themselves,
    and a driver executemany lets go of the GIL once per row, each time waiting to get it back
    from the event loop."""
    connection = conn.connection() if isinstance(conn, Session) else conn
    tip = connection.execute(select(_ENTRY.c.seq, _ENTRY.c.hash).order_by(_ENTRY.c.seq.desc()).limit(1)).first()
    seq, prev = (tip.seq, tip.hash) if tip else (0, GENESIS)
    before = seq
    stamp = bind_processor(_ENTRY.c.ts, connection.dialect)
    rows: list[list] = []
    for event in events:
        seq += 1
        values = [getattr(event, name) for name in EVENT_FIELDS]
        digest = entry_hash(seq, prev, dict(zip(EVENT_FIELDS, values)))
        if stamp:
            values[_TS] = stamp(values[_TS])
        values += (seq, prev, digest)
        rows.append(values)
        prev = digest
    for start in range(0, len(rows), INSERT_ROWS):
        chunk = rows[start:start + INSERT_ROWS]
        connection.exec_driver_sql(insert_sql(connection, _ENTRY.name, ROW_COLUMNS, rows=len(chunk)),
                                   tuple(value for row in chunk for value in row))
    _index_patients(connection, indexed_through(before), indexed_through(seq))
    return seq


def indexed_through(last_seq: int) -> int:
    """With the chain at ``last_seq``, the entries up to this one are in ``audit_patient``."""
    return last_seq - last_seq % PATIENT_INDEX_EVERY


def _index_patients(connection: Connection, low: int, high: int) -> None:
    """File the entries ``low < seq <= high`` that name a detainee in ``audit_patient``, in the
    transaction that took the chain past ``high``: so the rule above holds for every reader."""
    if high > low:
        entries = (select(_ENTRY.c.patient_id, _ENTRY.c.seq)
                   .where(_ENTRY.c.seq > low, _ENTRY.c.seq <= high, _ENTRY.c.patient_id.is_not(None)))
        connection.execute(insert(_PATIENT).from_select(["patient_id", "seq"], entries))


def about_patients(session: Session, patients: list[str]) -> ColumnElement[bool]:
    """The condition "the entry names one of ``patients``"."""
    last = session.execute(select(func.max(_ENTRY.c.seq))).scalar() or 0
    recent = _ENTRY.alias("recent")  # not the outer query's audit_entry: that would correlate
    seqs = union_all(
        select(_PATIENT.c.seq).where(_PATIENT.c.patient_id.in_(patients)),
        select(recent.c.seq).where(recent.c.seq > indexed_through(last), recent.c.patient_id.in_(patients)))
    # One IN over a union, not an OR of two conditions: SQLite scanned the whole trail for the OR.
    return AuditEntry.seq.in_(seqs)


class AuditLog:
    """The writer: ``record`` only appends to a queue (no lock, no wake-up); the writer thread
    wakes every ``interval`` seconds, or sooner when a batch is full or someone flushes."""

    def __init__(self, engine: Engine, *, batch: int = 500, interval: float = 0.05) -> None:
        self.engine = engine
        self.batch = batch
        self.interval = interval
        self._events: deque[AuditEvent] = deque()
        self._wake = threading.Event()
        self._written = threading.Condition()
        self._in_flight = 0
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def record(self, event: AuditEvent) -> None:
        self._events.append(event)
        if len(self._events) >= self.batch:
            self._wake.set()

    def flush(self, timeout: float = 10.0) -> None:
        """Block until every recorded event is in the database."""
        self._wake.set()
        with self._written:
            self._written.wait_for(lambda: not self._events and not self._in_flight, timeout=timeout)

    def close(self) -> None:
        self.flush()
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._closing:
            self._wake.wait(self.interval)
            self._wake.clear()
            # Only what is queued now: draining until empty chased each write's arrivals with
            # another, and under load wrote batches of one or two, a commit each.
            waiting = len(self._events)
            while waiting > 0:
                with self._written:
                    count = min(self.batch, waiting)
                    waiting -= count
                    events = [self._events.popleft() for _ in range(count)]
                    self._in_flight = count
                self._write(events)
                with self._written:
                    self._in_flight = 0
                    self._written.notify_all()

    def _write(self, events: list[AuditEvent]) -> None:
        for attempt in range(20):
            try:
                with self.engine.begin() as conn:
                    append(conn, events)
                return
            except (IntegrityError, OperationalError):
                log.warning("audit append retry %d", attempt + 1)
        log.error("audit append failed for %d events", len(events))


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    problem: str


def verify(session: Session, chunk: int = 5000) -> tuple[int, list[ChainProblem]]:
    """Recompute the chain; returns (entries checked, problems)."""
    problems: list[ChainProblem] = []
    prev, expected_seq, checked, last = GENESIS, 1, 0, 0
    while True:
        rows = session.exec(select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(chunk)).all()
        if not rows:
            return checked, problems
        for row in rows:
            checked += 1
            if row.seq != expected_seq:
                problems.append(ChainProblem(row.seq, f"entries {expected_seq}..{row.seq - 1} are missing"))
            if row.prev_hash != prev:
                problems.append(ChainProblem(row.seq, "does not link to the entry before it"))
            data = row.model_dump(exclude={"seq", "hash", "prev_hash"})
            if entry_hash(row.seq, row.prev_hash, data) != row.hash:
                problems.append(ChainProblem(row.seq, "content changed after it was written"))
            prev, expected_seq, last = row.hash, row.seq + 1, row.seq


AUDIT_ACTIONS = {  # our action prefix -> FHIR AuditEvent.action code
    "read": "R", "search": "E", "create": "C", "update": "U", "delete": "D", "execute": "E",
}


def to_fhir(entry: AuditEntry) -> dict:
    """An ``AuditEntry`` as a FHIR R4 AuditEvent resource."""
    verb = entry.action.split(".")[-1]
    outcome = {"allowed": "0", "denied": "4", "error": "8"}.get(entry.outcome, "8")
    event: dict = {
        "resourceType": "AuditEvent",
        "id": f"audit-{entry.seq}",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": "urn:telemed:audit-action", "code": entry.action}],
        "action": AUDIT_ACTIONS.get(verb, "E"),
        "recorded": fhir_instant(entry.ts),
        "outcome": outcome,
        "agent": [{
            "who": {"identifier": {"system": "urn:telemed:user", "value": entry.username or "anonymous"}},
            "requestor": True,
            "network": {"address": entry.ip or "unknown", "type": "2"},
        }],
        "source": {"observer": {"display": "telemed"}},
        "extension": [
            {"url": "urn:telemed:audit-hash", "valueString": entry.hash},
            {"url": "urn:telemed:audit-prev-hash", "valueString": entry.prev_hash},
        ],
    }
    if entry.role:
        event["agent"][0]["role"] = [{"text": entry.role}]
    if entry.reason:
        event["outcomeDesc"] = entry.reason
    if entry.break_glass:
        event["purposeOfEvent"] = [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT", "display": "Emergency Treatment"}]}]
    entities = []
    if entry.patient_id:
        entities.append({"what": {"reference": f"Patient/{entry.patient_id}"}, "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"}})
    if entry.resource and entry.resource != f"Patient/{entry.patient_id}":
        entities.append({"what": {"reference": entry.resource}})
    if entities:
        event["entity"] = entities
    return event
