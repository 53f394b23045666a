"""Append-only audit trail: a chain of entries, each sealed with a keyed MAC.

Design. Entry ``n`` holds its event's fields, ``prev_hash`` (entry ``n-1``'s seal), the id of
the key that sealed it, a short tag per field, and ``hash``: HMAC-SHA256 under that key over
all of these. So:
- a changed field breaks its entry's MAC, and its tag names the field;
- a deleted entry leaves a gap in ``seq``, or (renumbered) breaks the next entry's link;
- a chain recomputed by someone without the key has MACs that do not verify;
- a truncated tail or an emptied table leaves nothing wrong in the database itself, so the
  writer also writes signed checkpoints of the chain's head outside it (``Checkpoints``), at
  most ``CHECKPOINT_SECONDS`` apart, and ``verify`` holds the database to them.
Entries written before migration 0016 have no key id; they verify with the old unkeyed rule
(``legacy_hash``) and only as the chain's prefix: the first keyed entry's MAC covers their tip.

Writing. Entries are queued; a writer (``AuditLog``, in the server a child process:
``telemed.audit_process``) appends whatever is queued in one transaction as soon as the last
commit is done (group commit), and reports how far it has committed, so that a request can wait
for its own entry before answering. The chain is extended inside a transaction that re-reads the
tip, and ``seq`` is the primary key, so two writers (the server and a CLI import, say) can never
fork it: the loser's insert fails and it retries on the new tip.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import hmac
import itertools
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import orjson
from sqlalchemy import ColumnElement, Connection, Engine, event, func, insert, union_all
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, select

from telemed.audit_keys import Keyring
from telemed.db import bind_processor, insert_sql
from telemed.models import AuditEntry, AuditPatient
from telemed.timeutil import fhir_instant, utcnow

log = logging.getLogger(__name__)
SYSLOG_PRIORITY = 10 * 8 + 5  # facility authpriv (10), severity notice (5): RFC 5424 section 6.2.1
GENESIS = "0" * 64
_ENTRY = AuditEntry.__table__
_PATIENT = AuditPatient.__table__
# Entries reach ``audit_patient`` in blocks of this many: a query by detainee scans at most this
# many recent entries by their own patient_id.
PATIENT_INDEX_EVERY = 10_000
AUDIT_LOCK = 0x7E1E_A0D1  # the PostgreSQL advisory lock id of the chain's tip
# A checkpoint of the chain's head at most this often: what a truncation can remove unseen.
CHECKPOINT_SECONDS = 1.0
TAG_HEX = 4  # per field: enough to name the changed one; the entry's MAC is what proves it


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
ROW_COLUMNS = (*EVENT_FIELDS, "seq", "prev_hash", "key_id", "field_tags", "hash")
_TS = EVENT_FIELDS.index("ts")
# Each text field's column length: a longer value (a name a caller made up) is cut to fit, not
# refused by the database, which would fail the whole group and every request waiting for it.
# (All the text columns have a length.)
_LENGTHS = tuple(getattr(_ENTRY.c[name].type, "length", None) for name in EVENT_FIELDS)
# Rows per INSERT: a bound under every driver's limit on parameters (SQLite's is 32,766).
INSERT_ROWS = 1000
# The chain's tip, as plain SQL: every batch reads it, and a Core select's cache-key lookup and
# result set-up cost the writer more than SQLite's query.
TIP_SQL = f"SELECT seq, hash FROM {_ENTRY.name} ORDER BY seq DESC LIMIT 1"


class Head(NamedTuple):
    seq: int
    hash: str


def _canonical(values: Iterable) -> list:
    return [fhir_instant(v) if isinstance(v, datetime) else v for v in values]


def legacy_hash(seq: int, prev_hash: str, event: dict) -> str:
    """The unkeyed rule of the entries written before migration 0016."""
    body = {k: event[k] for k in EVENT_FIELDS}
    body["ts"] = fhir_instant(body["ts"]) if isinstance(body["ts"], datetime) else body["ts"]
    payload = orjson.dumps({"seq": seq, "prev": prev_hash, "event": body}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


def field_tags(key: bytes, values: list) -> str:
    return sealer(key).tags(values)


def seal(key: bytes, seq: int, prev_hash: str, kid: str, tags: str, values: list) -> str:
    """The entry's MAC: over its position, its link, its key id, its tags and every field."""
    return sealer(key).seal(seq, prev_hash, kid, tags, values)


# Fields whose value is new in nearly every entry: their tags are not worth remembering.
_UNIQUE = frozenset(EVENT_FIELDS.index(name) for name in ("ts", "resource", "request_id"))
_TAG_CACHE = 50_000


class Sealer:
    """The MACs under one key, for a writer that seals thousands of entries a second: the key's
    HMAC state is set up once and copied per message (``hmac.digest`` sets it up on every call),
    and the tag of a value that recurs (a user, a role, an action, a detainee) is computed once.
    Same MACs as ``hmac.digest`` with the key: the verifier recomputes them so."""

    def __init__(self, key: bytes) -> None:
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)
        self._tags: dict[tuple, str] = {}

    def mac(self, message: bytes) -> hmac.HMAC:
        keyed = self._keyed.copy()
        keyed.update(message)
        return keyed

    def tag(self, n: int, value) -> str:
        return self.mac(orjson.dumps([EVENT_FIELDS[n], value])).hexdigest()[:TAG_HEX]

    def tags(self, values: list) -> str:
        known, found = self._tags, []
        if len(known) > _TAG_CACHE:
            known.clear()
        for n, value in enumerate(values):
            if n in _UNIQUE:
                found.append(self.tag(n, value))
                continue
            cached = (n, type(value), value)  # the type too: True and 1 are equal keys, not equal JSON
            tag = known.get(cached)
            if tag is None:
                tag = known[cached] = self.tag(n, value)
            found.append(tag)
        return "".join(found)

    def seal(self, seq: int, prev_hash: str, kid: str, tags: str, values: list) -> str:
        return self.mac(orjson.dumps([seq, prev_hash, kid, tags, values])).hexdigest()


_sealers: dict[bytes, Sealer] = {}


def sealer(key: bytes) -> Sealer:
    """The one ``Sealer`` of ``key`` in this process."""
    found = _sealers.get(key)
    if found is None:
        found = _sealers[key] = Sealer(key)
    return found


class Checkpoints:
    """Signed heads of the chain, one JSON line each, appended to a file outside the database
    (and, optionally, sent to syslog) for operators to ship to write-once storage."""

    def __init__(self, path: Path | None, *, syslog: str | None = None) -> None:
        self.path = path
        self.syslog = syslog  # the local syslog socket (a UNIX datagram path), or None
        self._last = 0.0

    def line(self, keys: Keyring, head: Head) -> bytes:
        at = fhir_instant(utcnow())
        mac = hmac.new(keys.current, f"checkpoint|{head.seq}|{head.hash}|{at}".encode(), hashlib.sha256)
        return orjson.dumps({"seq": head.seq, "hash": head.hash, "at": at, "kid": keys.current_id,
                             "mac": mac.hexdigest()})

    def write(self, keys: Keyring, head: Head, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.path is None or head.seq == 0 or (not force and now - self._last < CHECKPOINT_SECONDS):
            return
        self._last = now
        line = self.line(keys, head)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            os.write(fd, line + b"\n")  # one write of one line: appends from two writers never interleave
            os.fsync(fd)
        finally:
            os.close(fd)
        if self.syslog:
            self._to_syslog(line)

    def _to_syslog(self, line: bytes) -> None:
        """One datagram as the C library's syslog() sends it (priority authpriv.notice, tag, pid);
        the file keeps the line when syslog is down, and the writer carries on."""
        message = b"<%d>telemed-audit[%d]: %s" % (SYSLOG_PRIORITY, os.getpid(), line)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message, self.syslog)
        except OSError as exc:
            log.warning("audit checkpoint not sent to syslog", extra={"socket": self.syslog, "error": str(exc)})

    @staticmethod
    def read(path: Path) -> Iterator[tuple[int, dict | None]]:
        """(line number, checkpoint) for each line; None for a line that is not one."""
        if not path.exists():
            return
        with path.open("rb") as lines:
            for number, raw in enumerate(lines, start=1):
                try:
                    point = orjson.loads(raw)
                    yield number, point if isinstance(point, dict) else None
                except orjson.JSONDecodeError:
                    yield number, None


@dataclass
class Signer:
    """What a writer needs: the keyring and where the checkpoints go."""

    keys: Keyring
    checkpoints: Checkpoints

    @classmethod
    def from_settings(cls, settings) -> "Signer":
        from telemed.audit_keys import load_keyring

        return cls(load_keyring(settings.audit_key_path, settings.audit_key),
                   Checkpoints(settings.audit_checkpoint_path,
                               syslog=settings.audit_syslog_socket if settings.audit_syslog else None))

    def to_env(self) -> str:
        path = str(self.checkpoints.path or "")
        return orjson.dumps([self.keys.to_env(), path, self.checkpoints.syslog]).decode()

    @classmethod
    def from_env(cls, value: str) -> "Signer":
        keys, path, syslog = orjson.loads(value)
        return cls(Keyring.from_env(keys), Checkpoints(Path(path) if path else None, syslog=syslog))


_installed: Signer | None = None


def install(signer: Signer) -> None:
    """The signer of this process's writers that are given none (a CLI import, say)."""
    global _installed
    _installed = signer


def installed() -> Signer:
    global _installed
    if _installed is None:
        from telemed.config import load_settings

        _installed = Signer.from_settings(load_settings())
    return _installed


def append(conn: Session | Connection, events: Iterable[AuditEvent], signer: Signer | None = None) -> Head:
    """Extend the chain with ``events`` in the caller's transaction; returns the new head.

    Multi-row INSERTs of plain values: the ORM unit of work cost more than the rows themselves,
    and a driver executemany lets go of the GIL once per row, each time waiting to get it back
    from the event loop."""
    keys = (signer or installed()).keys
    macs, kid = sealer(keys.current), keys.current_id
    connection = conn.connection() if isinstance(conn, Session) else conn
    if connection.dialect.name == "postgresql":
        # Several server processes append to one chain: they take turns (until commit) rather
        # than all read the same tip and all but one retry.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({AUDIT_LOCK})")
    tip = connection.exec_driver_sql(TIP_SQL).first()
    seq, prev = (tip[0], tip[1]) if tip else (0, GENESIS)
    before = seq
    stamp = bind_processor(_ENTRY.c.ts, connection.dialect)
    rows: list[list] = []
    for pending in events:
        seq += 1
        values = [_fit(value, length) for value, length in zip([getattr(pending, name) for name in EVENT_FIELDS], _LENGTHS)]
        canonical = _canonical(values)
        tags = macs.tags(canonical)
        digest = macs.seal(seq, prev, kid, tags, canonical)
        if stamp:
            values[_TS] = stamp(values[_TS])
        values += (seq, prev, kid, tags, digest)
        rows.append(values)
        prev = digest
    for start in range(0, len(rows), INSERT_ROWS):
        chunk = rows[start:start + INSERT_ROWS]
        connection.exec_driver_sql(insert_sql(connection, _ENTRY.name, ROW_COLUMNS, rows=len(chunk)),
                                   tuple(value for row in chunk for value in row))
    _index_patients(connection, indexed_through(before), indexed_through(seq))
    head = Head(seq, prev)
    if isinstance(conn, Session):
        _checkpoint_on_commit(conn, signer or installed(), head)
    return head


def _checkpoint_on_commit(session: Session, signer: Signer, head: Head) -> None:
    """A writer beside the server's (an import, an analyzer's filing) checkpoints the head it
    committed, so that a truncation of its own entries is found too. The session's last head
    wins: a retried append replaces the one its savepoint rolled back."""
    if not session.info.get("audit_listening"):
        event.listen(session, "after_commit", _write_checkpoint)
        event.listen(session, "after_rollback", lambda s: s.info.pop("audit_head", None))
        session.info["audit_listening"] = True
    session.info["audit_head"] = (signer, head)


def _write_checkpoint(session: Session) -> None:
    found = session.info.pop("audit_head", None)
    if found is not None:
        signer, head = found
        signer.checkpoints.write(signer.keys, head, force=True)


def _fit(value, length: int | None):
    """Text as its column takes it: cut to length, NUL (which PostgreSQL refuses) replaced."""
    if length and isinstance(value, str):
        return value[:length].replace("\x00", "\ufffd")
    return value


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


def write_batch(target: Engine | Connection, events: list[AuditEvent], signer: Signer) -> Head | None:
    """Append ``events`` in one transaction, retrying on a concurrent writer; None if it failed.
    ``target``: an engine (a pooled connection for each batch), or the connection a writer keeps
    for all its batches (the writer process: a pool checkout and return cost it ~20 us a batch;
    a connection lost with its server reconnects on the next attempt)."""
    for attempt in range(20):
        try:
            if isinstance(target, Connection):
                with target.begin():
                    return append(target, events, signer)
            with target.begin() as conn:
                return append(conn, events, signer)
        except (IntegrityError, OperationalError):
            log.warning("audit append retry %d", attempt + 1)
    log.error("audit append failed for %d events", len(events))
    return None


class Commits:
    """Tickets for recorded events, and whoever waits for them to be committed: threads
    (``wait``) and coroutines (``durable``). A writer commits in ticket order and calls
    ``advance`` with the last ticket of each commit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._tickets = itertools.count(1)
        self.issued = 0
        self.committed = 0
        self.failed: list[tuple[int, int]] = []  # (first, last) tickets of each commit that failed
        self._waiters: list[tuple[int, int, asyncio.Future]] = []
        self._order = itertools.count()

    def issue(self) -> int:
        """The caller holds ``lock`` while it queues the event under this ticket."""
        self.issued = next(self._tickets)
        return self.issued

    @property
    def lock(self) -> threading.Lock:
        return self._lock

    def advance(self, through: int, ok: bool = True) -> None:
        with self._lock:
            if not ok and through > self.committed:  # only this commit's tickets failed, not earlier ones
                self.failed.append((self.committed + 1, through))
            self.committed = max(self.committed, through)
            ready = []
            while self._waiters and self._waiters[0][0] <= through:
                ready.append(heapq.heappop(self._waiters)[2])
            self._changed.notify_all()
        loops: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
        for future in ready:
            loops.setdefault(future.get_loop(), []).append(future)
        for loop, futures in loops.items():  # one wake-up of each loop, not one per request
            loop.call_soon_threadsafe(_settle, futures, ok)

    def wait(self, ticket: int | None = None, timeout: float = 10.0) -> bool:
        with self._lock:
            wanted = self.issued if ticket is None else ticket
            return self._changed.wait_for(lambda: self.committed >= wanted, timeout=timeout)

    def _failed(self, ticket: int) -> bool:
        return any(first <= ticket <= last for first, last in self.failed)

    async def durable(self, ticket: int, timeout: float = 10.0) -> bool:
        """True once the entry with ``ticket`` is committed; False if its write failed or timed out."""
        with self._lock:
            if self.committed >= ticket:
                return not self._failed(ticket)
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            heapq.heappush(self._waiters, (ticket, next(self._order), future))
        # A timer that settles it as failed: every audited request waits here, and asyncio.wait_for
        # (two more futures and their callbacks) cost twice as much.
        expiry = loop.call_later(timeout, _settle, [future], False)
        try:
            return await future
        finally:
            expiry.cancel()


def _settle(futures: list[asyncio.Future], ok: bool) -> None:
    for future in futures:
        if not future.done():
            future.set_result(ok)


class AuditLog:
    """The writer in a thread: ``record`` queues an event and returns its ticket; the thread
    commits everything queued as soon as its last commit is done."""

    def __init__(self, engine: Engine, signer: Signer | None = None, *, batch: int = 2000) -> None:
        self.engine = engine
        self.signer = signer or installed()
        self.batch = batch
        self.commits = Commits()
        self._events: deque[tuple[int, AuditEvent]] = deque()
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def record(self, event: AuditEvent) -> int:
        with self.commits.lock:
            ticket = self.commits.issue()
            self._events.append((ticket, event))
        self._wake.set()
        return ticket

    async def durable(self, ticket: int) -> bool:
        return await self.commits.durable(ticket)

    def flush(self, timeout: float = 10.0) -> None:
        """Block until every recorded event is in the database."""
        self._wake.set()
        self.commits.wait(timeout=timeout)

    def close(self) -> None:
        self.flush()
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        head = None
        while not self._closing:
            self._wake.wait(1.0)
            self._wake.clear()
            while self._events:
                count = min(self.batch, len(self._events))
                taken = [self._events.popleft() for _ in range(count)]
                written = write_batch(self.engine, [event for _, event in taken], self.signer)
                head = written or head
                if written:
                    self.signer.checkpoints.write(self.signer.keys, written)
                self.commits.advance(taken[-1][0], ok=written is not None)
        if head:
            self.signer.checkpoints.write(self.signer.keys, head, force=True)


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    problem: str


def verify(session: Session, signer: Signer | None = None, checkpoints: Path | None = None,
           chunk: int = 5000) -> tuple[int, list[ChainProblem]]:
    """Recompute the chain and hold it to the checkpoints; returns (entries checked, problems).
    ``checkpoints`` is the file to hold it to (by default the writer's own)."""
    signer = signer or installed()
    path = checkpoints or signer.checkpoints.path
    points, problems = _read_checkpoints(path, signer.keys) if path else ({}, [])
    prev, expected_seq, checked, last, keyed = GENESIS, 1, 0, 0, False
    while True:
        rows = session.exec(select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(chunk)).all()
        if not rows:
            break
        for row in rows:
            checked += 1
            if row.seq != expected_seq:
                problems.append(ChainProblem(row.seq, f"entries {expected_seq}..{row.seq - 1} are missing (deleted)"))
            if row.prev_hash != prev:
                problems.append(ChainProblem(row.seq, "does not link to the entry before it"))
            problem = _entry_problem(row, signer.keys, keyed)
            if problem:
                problems.append(ChainProblem(row.seq, problem))
            point = points.get(row.seq)
            if point and point["hash"] != row.hash:
                problems.append(ChainProblem(row.seq, f"differs from the checkpoint of {point['at']}: the chain was rewritten"))
            keyed = keyed or bool(row.key_id)
            prev, expected_seq, last = row.hash, row.seq + 1, row.seq
    problems.extend(_tail_problems(points, last))
    if path and not points and keyed:
        problems.append(ChainProblem(0, f"no checkpoints in {path}: a truncated tail cannot be detected"))
    return checked, problems


def _entry_problem(row: AuditEntry, keys: Keyring, after_keyed: bool) -> str | None:
    values = _canonical(getattr(row, name) for name in EVENT_FIELDS)
    if not row.key_id:
        if after_keyed:
            return "has no key id after keyed entries: the chain was recomputed without the audit key"
        if legacy_hash(row.seq, row.prev_hash, dict(zip(EVENT_FIELDS, values))) != row.hash:
            return "content changed after it was written (an unkeyed entry from before migration 0016)"
        return None
    key = keys.keys.get(row.key_id)
    if key is None:
        return f"sealed with key {row.key_id}, which is not in the keyring: forged, or the key was lost"
    if seal(key, row.seq, row.prev_hash, row.key_id, row.field_tags, values) == row.hash:
        return None
    tags = field_tags(key, values)
    changed = [name for n, name in enumerate(EVENT_FIELDS)
               if tags[n * TAG_HEX:(n + 1) * TAG_HEX] != row.field_tags[n * TAG_HEX:(n + 1) * TAG_HEX]]
    if changed and len(changed) <= len(EVENT_FIELDS) // 2 and len(row.field_tags) == len(tags):
        return f"field {', '.join(changed)} changed after it was written"
    return "its MAC does not match: rewritten, or the chain was recomputed without the audit key"


def _read_checkpoints(path: Path, keys: Keyring) -> tuple[dict[int, dict], list[ChainProblem]]:
    points: dict[int, dict] = {}
    problems: list[ChainProblem] = []
    for number, point in Checkpoints.read(path):
        if not _signed(point, keys):
            problems.append(ChainProblem(0, f"checkpoint line {number} of {path} is not signed with an audit key"))
            continue
        points[point["seq"]] = point
    return points, problems


def _signed(point: dict | None, keys: Keyring) -> bool:
    try:
        key = keys.keys[point["kid"]]
        message = f"checkpoint|{int(point['seq'])}|{point['hash']}|{point['at']}".encode()
        return hmac.compare_digest(hmac.new(key, message, hashlib.sha256).hexdigest(), point["mac"])
    except (KeyError, TypeError, ValueError):
        return False


def _tail_problems(points: dict[int, dict], last: int) -> list[ChainProblem]:
    if not points or max(points) <= last:
        return []
    top = points[max(points)]
    if last == 0:
        return [ChainProblem(0, f"the trail is empty, but the checkpoint of {top['at']} names entry {top['seq']}: "
                                "the table was emptied")]
    return [ChainProblem(last + 1, f"entries {last + 1}..{top['seq']} are gone: the checkpoint of {top['at']} "
                                   f"names entry {top['seq']}; the tail was truncated")]

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
            {"url": "urn:telemed:audit-key-id", "valueString": entry.key_id},
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
