"""Hot single-row lookups: statements compiled once, run on one thread that serves them in
batches.

For the hottest reads SQLAlchemy's per-execution work (building the statement, its cache key,
a pooled connection, the result object) takes ~300 us where SQLite's primary-key lookup takes
~10 us, and handing each lookup to a pool thread costs a thread wake-up and an event-loop
wake-up. Here a lookup is one driver call, and under load the lookups queued while the thread
was busy share one wake-up of each.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Engine, Select


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


_Job = tuple[asyncio.Future, Prepared, dict[str, Any]]


class LookupThread:
    """One thread with its own driver connection, in autocommit so that no read transaction
    outlives a lookup (an open one would hold back SQLite's WAL checkpoints)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._jobs: deque[_Job] = deque()
        self._wake = threading.Event()
        self._idle = False
        self._kick_loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="db-lookup", daemon=True)
        self._thread.start()

    def submit(self, prepared: Prepared, params: dict[str, Any]) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.append((future, prepared, params))
        if self._kick_loop is not loop:  # one wake-up for all the lookups of this loop iteration
            self._kick_loop = loop
            loop.call_soon(self._kick)
        return future

    def _kick(self) -> None:
        self._kick_loop = None
        if self._idle:  # a busy thread finds the jobs itself
            self._wake.set()

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        proxied = None
        try:
            while not self._closing:
                self._idle = True
                if not self._jobs:  # checked after saying so: a job queued meanwhile is found here,
                    self._wake.wait()  # or its kick finds this thread idle and wakes it
                self._idle = False
                self._wake.clear()
                while self._jobs:
                    jobs = [self._jobs.popleft() for _ in range(len(self._jobs))]
                    try:
                        proxied = proxied or self._connect()
                    except Exception as exc:  # noqa: BLE001 - the database is down: say so, retry next time
                        _hand_back([(future, False, exc) for future, _, _ in jobs])
                        continue
                    if not self._serve(proxied.dbapi_connection, jobs):
                        proxied.invalidate()  # it may be broken (a restarted server): the next lookup reconnects
                        proxied = None
        finally:
            if proxied is not None:
                proxied.invalidate()  # its autocommit setting must not go back into the pool

    def _connect(self):
        proxied = self.engine.raw_connection()
        connection = proxied.dbapi_connection
        connection.rollback()
        if self.engine.dialect.name == "sqlite":
            connection.isolation_level = None
        else:
            connection.autocommit = True
        return proxied

    def _serve(self, connection, jobs: list[_Job]) -> bool:
        """Run ``jobs`` and hand their outcomes back; False when one of them failed."""
        outcomes = []
        for future, prepared, params in jobs:
            try:
                compiled = prepared.compiled(self.engine.dialect)
                cursor = connection.cursor()
                try:
                    cursor.execute(compiled.sql, compiled.args(params))
                    outcomes.append((future, True, compiled.row(cursor.fetchone())))
                finally:
                    cursor.close()
            except Exception as exc:  # noqa: BLE001 - handed to the awaiting request
                outcomes.append((future, False, exc))
        _hand_back(outcomes)
        return all(ok for _, ok, _ in outcomes)


def _hand_back(outcomes: list[tuple[asyncio.Future, bool, Any]]) -> None:
    """Deliver each outcome on its future's event loop, one wake-up per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, bool, Any]]] = defaultdict(list)
    for outcome in outcomes:
        by_loop[outcome[0].get_loop()].append(outcome)
    for loop, results in by_loop.items():
        try:
            loop.call_soon_threadsafe(_deliver, results)
        except RuntimeError:  # that loop has closed: no one is waiting any more
            pass


def _deliver(results: list[tuple[asyncio.Future, bool, Any]]) -> None:
    for future, ok, value in results:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
