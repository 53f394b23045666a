"""Database engine and the thread pool that keeps database work off the event loop."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import select as selectors
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Column, Connection, Dialect, Engine, create_engine, event, text
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session

from telemed.lookups import LookupProcess, Prepared

T = TypeVar("T")


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


# Short read-only lookups are bound by the GIL, not by SQLite: more threads only queue on it (at
# 32 concurrent reads, 2 threads served ~30% more than 8).
READ_THREADS = 2
# Connections beyond the worker threads: the read pool, the audit writer and
# a CLI helper. An overflow connection is closed on return, so a pool one short
# of the threads reconnected (and lost its page cache) on every request under load.
SPARE_CONNECTIONS = READ_THREADS + 4
SQLITE_PAGE_BYTES = 16384
SQLITE_CACHE_KIB = 65536
SQLITE_CHECKPOINT_BYTES = 40 << 20  # checkpoint (and fsync) every ~40 MB of WAL, not every 4 MB
SQLITE_MMAP_BYTES = 1 << 30


def make_engine(url: str, *, pool_size: int = 8) -> Engine:
    url = normalise_url(url)
    pool_size += SPARE_CONNECTIONS
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=4,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_size=pool_size, max_overflow=4)
    event.listen(engine, "checkout", _drop_closed)
    return engine


def _drop_closed(dbapi_connection, _record, _proxy) -> None:
    """A pooled connection that PostgreSQL closed (a restart, ``pg_terminate_backend``, an idle
    timeout) is replaced at checkout. An idle connection has nothing to read unless the server
    has had its last word (an error, then the end of the stream), so looking at its socket tells
    without a round trip; the rare healthy one with something to read is replaced too.
    ``pool_pre_ping`` sent a query and waited for its answer on every checkout: under load, a
    sixth of the server's time."""
    try:
        closed = bool(selectors.select([dbapi_connection.pgconn.socket], [], [], 0)[0])
    except psycopg.Error:  # libpq has closed it already
        closed = True
    if closed:
        raise DisconnectionError("the server closed this pooled connection")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # A bulk write (a lab import, a Bundle) dirties index pages all over each B-tree, and each
    # page goes to the WAL in its own write: with 16 KB pages, not SQLite's 4 KB, a 20,000-result
    # import took 30 % less time. Only a new database takes it (before WAL mode is set);
    # an existing one keeps its page size.
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_BYTES}")
    # WAL lets readers run beside the single writer; NORMAL sync is durable across a
    # process kill (only an OS crash can lose the last commits), which is what WAL is for.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # The FHIR search index is keyed by hashes, so writes touch pages all over each index: with
    # the default 2 MB page cache a large store re-reads them for every Bundle, and the default
    # checkpoint interval writes the same hot pages back again and again. A memory map lets
    # reads skip copying pages each time another connection's commit empties this one's cache.
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    page_bytes = cursor.execute("PRAGMA page_size").fetchone()[0]
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_BYTES // page_bytes}")
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.close()


def insert_sql(connection: Connection, table: str, columns: tuple[str, ...], *, rows: int = 1) -> str:
    """An INSERT of ``rows`` rows in the driver's parameter style, for its own executemany (or,
    with several rows, one execute): bulk writes skip SQLAlchemy's per-row parameter processing,
    which cost as much as the inserts themselves."""
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    group = f"({', '.join([mark] * len(columns))})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([group] * rows)}"


def bind_processor(column: Column, dialect: Dialect) -> Callable[[Any], Any] | None:
    """How a value goes to the driver for ``column`` (a datetime as SQLite's text, say), or None
    when it goes as it is. Through ``dialect_impl``: a TypeDecorator's own bind_processor skips
    the dialect's conversion (and left timestamps to sqlite3's deprecated adapter)."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def bound(column: Column, value: Any, dialect: Dialect) -> Any:
    """``value`` as the driver takes it for ``column``."""
    convert = bind_processor(column, dialect)
    return convert(value) if convert else value


def lock_for_writing(session: Session) -> None:
    """On SQLite, take the write lock as ``session``'s transaction begins. The driver begins a
    transaction just before its first write, but a SAVEPOINT begins one at once, and a
    transaction that reads before it writes fails with "database is locked" when another
    connection commits in between (SQLite will not wait: the wait could not save its snapshot).
    PostgreSQL needs nothing."""
    connection = session.connection()
    if connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine plus a bounded thread pool; ``await db.run(fn, ...)`` calls ``fn(session, ...)``
    in a worker thread and commits when it returns."""

    def __init__(self, url: str, *, threads: int = 8) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, pool_size=threads)
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="db")
        self.read_executor = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="db-read")
        self.lookups = LookupProcess(self.url, self.engine.dialect)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        with self.session() as session:
            return fn(session, *args, **kwargs)

    async def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        return await self._submit(self.executor, self.call, fn, *args, **kwargs)

    def call_read(self, fn: Callable[..., T], *args, **kwargs) -> T:
        with Session(self.engine, autoflush=False) as session:
            try:
                return fn(session, *args, **kwargs)
            finally:
                session.rollback()

    async def read(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Like ``run`` for a short lookup that writes nothing (one resource, say): on the small
        read pool, and its transaction is ended without a commit."""
        return await self._submit(self.read_executor, self.call_read, fn, *args, **kwargs)

    @staticmethod
    def _submit(executor: ThreadPoolExecutor, runner: Callable[..., T], fn: Callable[..., T], *args, **kwargs):
        # The caller's context variables go with the work into the thread.
        call = functools.partial(contextvars.copy_context().run, runner, fn, *args, **kwargs)
        return asyncio.get_running_loop().run_in_executor(executor, call)

    async def lookup(self, prepared: Prepared, **params: Any) -> tuple | None:
        """The first row of ``prepared`` (or None), from the lookup process."""
        return await self.lookups.submit(prepared, params)

    async def run_plain(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run a blocking callable that manages its own sessions."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            return False

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.read_executor.shutdown(wait=True)
        self.lookups.close()
        self.engine.dispose()
