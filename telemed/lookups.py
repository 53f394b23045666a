"""Hot single-row lookups: statements compiled once, run by a child process that serves them in
batches.

For the hottest reads SQLAlchemy's per-execution work (building the statement, its cache key,
a pooled connection, the result object) takes ~300 us where SQLite's primary-key lookup takes
~10 us: here a lookup is one driver call. It runs in a child process, not a thread: a thread
took the GIL from the event loop several times per lookup (each driver call gives it up and
takes it back), and the loop spent as long waiting for it as the lookup itself took. The loop
writes the lookups of one iteration to the child in one frame and reads the answers as they
come; reads are idempotent, so the lookups a dying child leaves unanswered go to the next one.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import pickle
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Engine, Select

from telemed.children import child_engine, retire, spawn

log = logging.getLogger(__name__)
_LENGTH = struct.Struct("<I")  # each frame: its length, then a pickled list


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...] | None  # parameter order for a positional driver; None: by name
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column, its result processor)

    def args(self, params: dict[str, Any]) -> tuple | dict[str, Any]:
        return tuple(params[n] for n in self.names) if self.names is not None else params

    def row(self, raw: tuple | None) -> tuple | None:
        if raw is None or not self.converters:
            return raw
        values = list(raw)
        for column, convert in self.converters:
            if values[column] is not None:
                values[column] = convert(values[column])
        return tuple(values)


class Prepared:
    """A Core SELECT compiled once per dialect; its columns come back as their SQLAlchemy types
    (datetimes, bools), not as the driver's raw values."""

    def __init__(self, statement: Select) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            processors = [c.type.dialect_impl(dialect).result_processor(dialect, None)
                          for c in self.statement.selected_columns]
            converters = tuple((n, p) for n, p in enumerate(processors) if p is not None)
            names = tuple(compiled.positiontup or ()) if dialect.positional else None
            found = self._by_dialect[dialect.name] = _Compiled(compiled.string, names, converters)
        return found


@dataclass
class _Job:
    future: asyncio.Future
    compiled: _Compiled
    request: tuple[int, str, tuple | dict[str, Any]]  # (id, SQL, arguments) as the child takes it
    sent_to: int = 0  # how many children were given it: a job that kills two is not sent a third time


class LookupProcess:
    """The parent's side: ``submit`` from the event loop; one child per event loop, started by
    ``start`` (the app calls it at start-up) or else by the first lookup. Nothing here blocks: the pipes are non-blocking and what one will not take
    waits for the loop to say it can."""

    def __init__(self, url: str, dialect: Dialect) -> None:
        self.url = url
        self.dialect = dialect
        self._loop: asyncio.AbstractEventLoop | None = None
        self._child: subprocess.Popen | None = None
        self._jobs: dict[int, _Job] = {}  # sent or about to be, not yet answered
        self._outbox: list[_Job] = []
        self._unsent = b""
        self._received = bytearray()
        self._ids = itertools.count()

    @property
    def pid(self) -> int | None:
        """The child's process id, once a lookup has started it."""
        return self._child.pid if self._child is not None else None

    def start(self) -> None:
        """Start this event loop's child now, not on the first lookup (whose request would wait
        the ~0.3 s the child takes to import)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._child is None:
            self._start(loop)

    def submit(self, prepared: Prepared, params: dict[str, Any]) -> asyncio.Future:
        self.start()
        loop = self._loop
        compiled = prepared.compiled(self.dialect)
        job_id = next(self._ids)
        job = self._jobs[job_id] = _Job(loop.create_future(), compiled, (job_id, compiled.sql, compiled.args(params)))
        if not self._outbox:  # one frame for all the lookups of this loop iteration
            loop.call_soon(self._send)
        self._outbox.append(job)
        return job.future

    def close(self) -> None:
        self._stop(ConnectionError("the database is closed"))

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._stop(ConnectionError("the event loop changed"))
        self._loop = loop
        self._child = spawn(__name__, self.url)
        for pipe in (self._child.stdin, self._child.stdout):
            os.set_blocking(pipe.fileno(), False)
        loop.add_reader(self._child.stdout.fileno(), self._readable)

    def _stop(self, reason: Exception) -> None:
        """End the child (it exits at the end of its input) and fail what it was given."""
        child, self._child = self._child, None
        if child is not None:
            if not self._loop.is_closed():
                self._loop.remove_reader(child.stdout.fileno())
                self._loop.remove_writer(child.stdin.fileno())
            retire(child)
        jobs, self._jobs, self._outbox = list(self._jobs.values()), {}, []
        self._unsent, self._received = b"", bytearray()
        for job in jobs:
            _settle(job.future, False, reason)

    def _send(self, jobs: list[_Job] | None = None) -> None:
        jobs, self._outbox = (self._outbox, []) if jobs is None else (jobs, self._outbox)
        jobs = [job for job in jobs if not job.future.done()]  # a cancelled request's lookup is not run
        if not jobs or self._child is None:
            return
        for job in jobs:
            job.sent_to += 1
        frame = pickle.dumps([job.request for job in jobs], protocol=pickle.HIGHEST_PROTOCOL)
        self._write(_LENGTH.pack(len(frame)) + frame)

    def _write(self, data: bytes) -> None:
        if not self._unsent:
            try:
                data = data[os.write(self._child.stdin.fileno(), data):]
            except BlockingIOError:
                pass
            except BrokenPipeError:
                return  # the reader sees the child's end and starts another
            if data:
                self._loop.add_writer(self._child.stdin.fileno(), self._drain)
        self._unsent += data

    def _drain(self) -> None:
        try:
            written = os.write(self._child.stdin.fileno(), self._unsent)
        except BlockingIOError:
            return
        except BrokenPipeError:
            written = len(self._unsent)
        self._unsent = self._unsent[written:]
        if not self._unsent:
            self._loop.remove_writer(self._child.stdin.fileno())

    def _readable(self) -> None:
        try:
            chunk = os.read(self._child.stdout.fileno(), 1 << 20)
        except BlockingIOError:
            return
        if not chunk:
            self._restart()
            return
        self._received += chunk
        while len(self._received) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._received)
            end = _LENGTH.size + size
            if len(self._received) < end:
                break
            outcomes = pickle.loads(self._received[_LENGTH.size:end])
            del self._received[:end]
            for job_id, ok, value in outcomes:
                job = self._jobs.pop(job_id, None)
                if job is not None:
                    _settle(job.future, ok, job.compiled.row(value) if ok else value)

    def _restart(self) -> None:
        """The child died: a new one takes the lookups it left, except any it was already the
        second child to be given (that lookup may be what kills them). With none left, the next
        lookup starts one: a child that cannot start is not restarted in a loop."""
        log.error("lookup process exited with %s", self._child.poll())
        jobs = [job for job in self._jobs.values() if not job.future.done()]
        self._jobs, self._outbox = {}, []  # not failed by _stop: they go to the next child
        self._stop(ConnectionError("the lookup process exited"))
        retry = [job for job in jobs if job.sent_to < 2]
        for job in jobs:
            if job.sent_to >= 2:
                _settle(job.future, False, ConnectionError("the lookup process exited twice on this lookup"))
        if retry:
            self._start(self._loop)
            self._jobs = {job.request[0]: job for job in retry}
            self._send(retry)


def _settle(future: asyncio.Future, ok: bool, value: Any) -> None:
    if future.done() or future.get_loop().is_closed():  # a closed loop has no one waiting
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


# -- the child -------------------------------------------------------------------------------

def _connect(engine: Engine):
    """A driver connection in autocommit, so that no read transaction outlives a lookup (an
    open one would hold back SQLite's WAL checkpoints)."""
    proxied = engine.raw_connection()
    connection = proxied.dbapi_connection
    connection.rollback()
    if engine.dialect.name == "sqlite":
        connection.isolation_level = None
    else:
        connection.autocommit = True
    return proxied


def _run(connection, request: tuple[int, str, Any]) -> tuple[int, bool, Any]:
    job_id, sql, args = request
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(sql, args)
            return job_id, True, cursor.fetchone()
        finally:
            cursor.close()
    except Exception as exc:  # noqa: BLE001 - handed to the awaiting request
        return job_id, False, exc


def _frame(outcomes: list[tuple[int, bool, Any]]) -> bytes:
    try:
        frame = pickle.dumps(outcomes, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - a driver error that will not pickle goes as its message
        outcomes = [(i, ok, v if ok else ConnectionError(f"{type(v).__name__}: {v}")) for i, ok, v in outcomes]
        frame = pickle.dumps(outcomes, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(frame)) + frame


def main() -> None:
    """Frames of lookups on stdin, a frame of outcomes on stdout for each; exits at stdin's end."""
    engine = child_engine()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    proxied = None
    while len(head := stdin.read(_LENGTH.size)) == _LENGTH.size:
        requests = pickle.loads(stdin.read(_LENGTH.unpack(head)[0]))
        try:
            proxied = proxied or _connect(engine)
        except Exception as exc:  # noqa: BLE001 - the database is down: say so, retry next time
            outcomes = [(request[0], False, exc) for request in requests]
        else:
            outcomes = [_run(proxied.dbapi_connection, request) for request in requests]
            if not all(ok for _, ok, _ in outcomes):
                proxied.invalidate()  # it may be broken (a restarted server): the next lookup reconnects
                proxied = None
        stdout.write(_frame(outcomes))
        stdout.flush()
    engine.dispose()


if __name__ == "__main__":
    main()
