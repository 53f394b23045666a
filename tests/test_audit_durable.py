"""No answer before its audit entry is committed: a server killed with SIGKILL under load has
the entry of every request it answered; and its child processes die with it."""

from __future__ import annotations

import asyncio
import os
import signal

import aiohttp
from sqlmodel import select

from telemed.audit import verify
from telemed.models import AuditEntry
from tests.conftest import PASSWORD, both_databases
from tests.processes import wait_dead
from tests.served import children_of, serve

CLIENTS = 16


async def _load(base: str, answered: set[str], stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/api/auth/token", json={"username": "doc-a", "password": PASSWORD}) as r:
            headers = {"Authorization": f"Bearer {(await r.json())['access_token']}"}

        async def client(n: int) -> None:
            count = 0
            while not stop.is_set():
                request_id = f"c{n}-{count}"
                count += 1
                try:
                    async with session.get(f"{base}/api/detainees?limit=3",
                                           headers={**headers, "X-Request-ID": request_id}) as response:
                        await response.read()
                        if response.status == 200:
                            answered.add(request_id)
                except aiohttp.ClientError:
                    return  # the server is gone
        await asyncio.gather(*(client(n) for n in range(CLIENTS)))


@both_databases
async def test_a_killed_server_loses_no_entry_of_an_answered_request(settings, context, world):
    server, base = serve(settings)
    children = children_of(server.pid)
    assert len(children) >= 2  # the audit writer and the lookup process
    answered: set[str] = set()
    stop = asyncio.Event()
    load = asyncio.create_task(_load(base, answered, stop))
    while len(answered) < 300:
        await asyncio.sleep(0.05)
    server.send_signal(signal.SIGKILL)  # while the clients are still sending
    server.wait()
    stop.set()
    await load

    for child in children:  # the children die with the server
        wait_dead(child)
    trail = context.db.call(lambda s: set(s.exec(select(AuditEntry.request_id).where(
        AuditEntry.action == "detainee.search", AuditEntry.patient_id.is_not(None))).all()))
    assert answered <= trail, f"{len(answered - trail)} answered requests have no entry"
    checked, problems = context.db.call(verify)
    assert checked >= 4 * len(answered) and problems == []


@both_databases
async def test_each_answer_waits_for_its_own_entry(client, context, world, login):
    """Through the in-process writer too: when the answer arrives, its entries are committed."""
    headers = await login("doc-a")
    for n in range(20):
        response = await client.get("/api/detainees", headers={**headers, "X-Request-ID": f"w{n}"})
        assert response.status == 200
        shown = {row["patient_id"] for row in await response.json()}
        logged = context.db.call(lambda s: set(s.exec(select(AuditEntry.patient_id).where(
            AuditEntry.request_id == f"w{n}", AuditEntry.patient_id.is_not(None))).all()))
        assert logged == shown and shown


def test_a_killed_parent_takes_its_worker_pools_with_it(tmp_path):
    """The validation workers and the report workers end when the process that started them is
    killed: nothing else would stop them, since their queues stay open in each other."""
    import subprocess
    import sys

    script = (
        "import os, sys, time\n"
        "from ehr.validation import Validator\n"
        "from reports.batch import open_pool\n"
        "from telemed.config import Settings\n"
        "validator = Validator(workers=2)\n"
        "[v.result() for v in validator.submit(sorted, [[3, 1]] * 64)]\n"
        f"pool = open_pool(Settings(database_url='sqlite:///{tmp_path}/x.db', report_nice=0), workers=2)\n"
        "pool.submit(os.getpid).result()\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout.readline().strip() == "ready"
    workers = [pid for pid in children_of(parent.pid)]
    assert len(workers) >= 4
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    for pid in workers:
        wait_dead(pid)
