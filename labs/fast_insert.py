"""Many-row INSERTs without per-row SQLAlchemy parameter processing.

On SQLite the rows go straight to ``sqlite3.executemany`` after each column's bind processor
(timestamps to text, and so on), which is several times cheaper per row than a Core
executemany; other databases take the ordinary Core path.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from sqlalchemy import Table, insert
from sqlmodel import Session

from telemed.db import bind_processor, insert_sql

CACHE_KIB = 256 * 1024


def prepared_insert(session: Session, table: Table, rows: list[dict]) -> Callable[[], None]:
    """The INSERT of ``rows`` with their values converted now, to run when called: a bulk write
    converts its rows before its first INSERT takes SQLite's write lock, which another importing
    process may be waiting for."""
    if not rows:
        return lambda: None
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        return lambda: session.execute(insert(table), rows)
    # Bulk imports want more page cache than the 64 MB every connection gets (telemed.db): the
    # growing index B-trees then stay in memory for the whole import.
    connection.exec_driver_sql(f"PRAGMA cache_size=-{CACHE_KIB}")
    names = list(rows[0])
    processors = [bind_processor(table.c[name], dialect) for name in names]
    # Once per distinct value: a batch's timestamps repeat (a sample's results share one).
    converters = [(i, cache(p)) for i, p in enumerate(processors) if p is not None]
    values = []
    for row in rows:
        record = [row[name] for name in names]
        for i, convert in converters:
            if record[i] is not None:
                record[i] = convert(record[i])
        values.append(tuple(record))
    sql = insert_sql(connection, table.name, tuple(names))
    return lambda: connection.exec_driver_sql(sql, values)
