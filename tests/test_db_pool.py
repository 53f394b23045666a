"""Pooled PostgreSQL connections that the server closed are replaced at checkout, without a
round trip per checkout: no request fails after a database restart."""

from __future__ import annotations

import time

import psycopg
from sqlalchemy import text

from telemed.db import make_engine


def test_connections_the_server_closed_are_replaced_at_checkout(pg_server):
    url = pg_server.create_database()
    engine = make_engine(url, pool_size=2)
    try:
        with engine.connect() as first, engine.connect() as second:  # two pooled connections
            pids = {first.execute(text("SELECT pg_backend_pid()")).scalar(),
                    second.execute(text("SELECT pg_backend_pid()")).scalar()}
        with psycopg.connect(url, autocommit=True) as admin:  # not from the pool
            admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (list(pids),))
            deadline = time.monotonic() + 20
            while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (list(pids),)).fetchone()[0]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        for _ in range(3):  # each checkout gets a live connection: no error reaches the caller
            with engine.connect() as conn:
                assert conn.execute(text("SELECT pg_backend_pid()")).scalar() not in pids
    finally:
        engine.dispose()
        pg_server.drop_database(url)
