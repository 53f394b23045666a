"""The lookup process: prepared single-row reads, their column types, a dropped connection and a
killed child."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import datetime

import psycopg
import pytest
from sqlalchemy import bindparam, select, text

from ehr import store
from telemed.db import Database
from telemed.lookups import Prepared
from telemed.models import Detainee
from tests.conftest import both_databases
from tests.processes import wait_dead

BY_ID = Prepared(select(Detainee.patient_id, Detainee.facility_id, Detainee.updated_at)
                 .where(Detainee.patient_id == bindparam("id")))


@both_databases
async def test_a_lookup_reads_one_row_with_its_column_types(context, world):
    assert await context.db.lookup(BY_ID, id="nobody") is None
    patient_id, facility_id, updated_at = await context.db.lookup(BY_ID, id="fac-a-p1")
    assert (patient_id, facility_id) == ("fac-a-p1", "fac-a")
    assert isinstance(updated_at, datetime) and updated_at.tzinfo is not None
    row = await context.db.lookup(store.READ_WITH_FACILITY, type="Patient", id="fac-b-p1")
    stored, facility = store.with_facility(row)
    assert facility == "fac-b" and stored.deleted is False and stored.resource["id"] == "fac-b-p1"


@pytest.mark.parametrize("db_kind", ["postgresql"])
async def test_lookups_reconnect_after_the_server_drops_the_connection(context, world):
    assert (await context.db.lookup(BY_ID, id="fac-a-p1"))[0] == "fac-a-p1"
    with context.db.engine.connect() as conn:  # what a server restart does to every other session
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    with pytest.raises(psycopg.OperationalError):  # the driver's own error: lookups bypass SQLAlchemy
        await context.db.lookup(BY_ID, id="fac-a-p1")
    assert (await context.db.lookup(BY_ID, id="fac-a-p1"))[0] == "fac-a-p1"


async def test_lookups_fail_clearly_while_the_database_is_unreachable():
    db = Database("postgresql://nobody@127.0.0.1:9/none")
    try:
        for _ in range(2):  # and the process lives on for the next one
            with pytest.raises(psycopg.OperationalError, match="Connection refused"):
                await db.lookup(BY_ID, id="x")
    finally:
        db.close()


async def test_a_killed_lookup_process_is_replaced_and_its_lookups_sent_again(context, world):
    assert (await context.db.lookup(BY_ID, id="fac-a-p1"))[0] == "fac-a-p1"
    first = context.db.lookups.pid
    os.kill(first, signal.SIGKILL)
    wait_dead(first)
    # Sent to the dead child (the pipe refuses them), then to its successor.
    rows = await asyncio.gather(*(context.db.lookup(BY_ID, id=f"fac-a-p{n}") for n in (1, 2, 3)))
    assert [row[0] for row in rows] == ["fac-a-p1", "fac-a-p2", "fac-a-p3"]
    assert context.db.lookups.pid not in (None, first)


async def test_the_server_starts_its_lookup_process_before_the_first_read(aiohttp_client, settings):
    from telemed.app import create_app
    from telemed.context import context_of

    client = await aiohttp_client(create_app(settings))
    assert context_of(client.app).db.lookups.pid is not None
