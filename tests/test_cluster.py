"""Two ``telemed serve`` processes on one PostgreSQL behind nginx with TLS and coturn, started by
deploy/debian.py from Debian's packages (the shape compose.yaml ships): a push, a revocation, a
consult and a report batch each cross from one process to the other."""

from __future__ import annotations

import asyncio
import re
import shutil
import ssl
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
import psycopg
import pytest
from aioice.stun import TransactionFailed
from aioice.turn import create_turn_endpoint
from aiortc import RTCPeerConnection
from sqlmodel import select

from deploy import debian
from reports.batch import create_job
from reports.models import ReportItem, ReportJob
from reports.synthetic import seed_campaign
from telemed.config import Settings
from telemed.db import Database
from tests.conftest import PASSWORD, _migrate_and_seed
from tests.consults_support import scheduled
from tests.labs_support import POTASSIUM
from webrtc import turn
from webrtc.client import Participant
from webrtc.media import ice_configuration

pytestmark = pytest.mark.skipif(not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists())
                                or not shutil.which("turnserver"),
                                reason="needs Debian's nginx and coturn (scripts/system-deps.sh test)")
PATIENTS = 4


@pytest.fixture(scope="module")
def cluster(pg_server, tmp_path_factory):
    """The database migrated and seeded, a report batch queued before any process starts (both
    resume it at startup: only one may render it), then the two processes, nginx and coturn.
    Each process trusts a checked token for an hour: only the bus can tell it of a revocation."""
    url = pg_server.create_database()
    _migrate_and_seed(url)
    directory = tmp_path_factory.mktemp("cluster")
    db = Database(url, threads=1)
    try:
        settings = Settings(database_url=url, data_dir=directory / "data")
        campaign = seed_campaign(db, "fac-a", PATIENTS, seed=3, refused=0.0, pending=0.0)
        job = db.call(create_job, campaign, "en", settings.data_dir).id
    finally:
        db.close()
    started = debian.start(url, directory, apps=2, extra_env={"TELEMED_TOKEN_CACHE_SECONDS": "3600",
                                                               "TELEMED_REPORT_WORKERS": "1"})
    started.job = job
    yield started
    started.stop()
    pg_server.drop_database(url)


@pytest.fixture
def tls(cluster) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cluster.certificate))


async def _login(base: str, username: str, tls: ssl.SSLContext | None = None) -> dict[str, str]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/api/auth/token", json={"username": username, "password": PASSWORD},
                                ssl=tls if tls else True) as answer:
            assert answer.status == 200, await answer.text()
            return {"Authorization": f"Bearer {(await answer.json())['access_token']}"}


async def test_a_critical_result_filed_on_one_process_is_pushed_from_the_other(cluster):
    first, second = cluster.app_url(0), cluster.app_url(1)
    doc = await _login(first, "doc-a")
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{second}/ws/events", headers=await _login(second, "doc-a"))
        other_facility = await session.ws_connect(f"{second}/ws/events", headers=await _login(second, "doc-b"))
        filed = await session.post(f"{first}/api/labs/results", headers=doc, json={
            "patient_id": "fac-a-p1", "effective_at": "2026-03-01T08:00:00Z",
            "results": [{"loinc": POTASSIUM, "value": "6.9"}]})
        assert filed.status in (200, 201), await filed.text()
        message = await ws.receive_json(timeout=20)
        assert message["type"] == "lab.critical" and "6.9 mmol/L" in message["toast"]["en"]
        with pytest.raises(asyncio.TimeoutError):  # the audience travels with the message
            await other_facility.receive_json(timeout=2)
        await ws.close()
        await other_facility.close()


async def test_pushes_sent_while_a_process_reconnected_its_listener_reach_the_browser_once(cluster):
    """The listening connection of the second process is ended (pg_terminate_backend) while
    critical results are filed through the first: once it is back, the browser connected to the
    second gets each alert, and none twice."""
    first, second = cluster.app_url(0), cluster.app_url(1)
    doc = await _login(first, "doc-a")
    listener = f"telemed bus {cluster.processes[1].pid}:%"
    values = iter(f"{6.5 + n / 10:.1f}" for n in range(1, 20))  # critical over 6.2 (labs/data/catalog.csv)
    filed: list[str] = []
    pushes = "SELECT count(*) FROM bus_event WHERE payload LIKE '%lab.critical%'"  # not the batch's progress
    with psycopg.connect(cluster.env["TELEMED_DATABASE_URL"], autocommit=True) as admin:
        def away() -> bool:
            return not admin.execute("SELECT 1 FROM pg_stat_activity WHERE application_name LIKE %s",
                                     (listener,)).fetchone()

        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"{second}/ws/events", headers=await _login(second, "doc-a"))

            async def file() -> str:
                """File a critical result through the first process; the origin of the push it sent."""
                filed.append(value := next(values))
                sent = admin.execute(pushes).fetchone()[0]
                answer = await session.post(f"{first}/api/labs/results", headers=doc, json={
                    "patient_id": "fac-a-p2", "effective_at": f"2026-03-02T08:{len(filed):02d}:00Z",
                    "results": [{"loinc": POTASSIUM, "value": value}]})
                assert answer.status in (200, 201), await answer.text()
                deadline = time.monotonic() + 20
                while admin.execute(pushes).fetchone()[0] == sent:
                    assert time.monotonic() < deadline, "the push was not sent"
                    await asyncio.sleep(0.02)
                return admin.execute("SELECT origin FROM bus_event WHERE payload LIKE '%lab.critical%' "
                                     "ORDER BY seq DESC LIMIT 1").fetchone()[0]

            await file()
            missed = 0
            for _round in range(5):  # the listener is back within a second: until one lands in that second
                assert not away()
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE %s",
                              (listener,))
                origin = await file()
                # Sent by another process, and the second one still not listening.
                missed += away() and f":{cluster.processes[1].pid}:" not in origin
                if missed:
                    break
                while away():
                    await asyncio.sleep(0.05)
            assert missed, "no push was sent while the listener was away"
            await file()
            pushed = []
            while len(pushed) < len(filed):
                message = await ws.receive_json(timeout=30)
                if message["type"] == "lab.critical":
                    pushed.append(message["alert"]["value"].partition(" ")[0])
            assert sorted(pushed) == sorted(filed)
            with pytest.raises(asyncio.TimeoutError):
                while (await ws.receive_json(timeout=3))["type"] != "lab.critical":
                    pass
            await ws.close()


async def test_a_token_revoked_on_one_process_is_refused_by_the_other(cluster):
    first, second = cluster.app_url(0), cluster.app_url(1)
    token = await _login(first, "doc-b")
    async with aiohttp.ClientSession() as session:
        assert (await session.get(f"{second}/api/me", headers=token)).status == 200  # now in its cache
        assert (await session.delete(f"{first}/api/auth/token", headers=token)).status == 204
        deadline = time.monotonic() + 20  # the cache would keep it for an hour; only the bus ends it
        while (status := (await session.get(f"{second}/api/me", headers=token)).status) == 200:
            assert time.monotonic() < deadline, "the other process still honours the revoked token"
            await asyncio.sleep(0.1)
        assert status == 401


async def test_a_consult_whose_participants_came_through_different_processes_goes_live(cluster, tls):
    """The doctor signs in on one process, the specialist on the other; nginx sends both room
    sockets to the process the consult's id hashes to, where the call goes live and media flows."""
    logins = {"doc-a": cluster.app_url(0), "spec-1": cluster.app_url(1)}

    async def login(username: str) -> dict[str, str]:
        return await _login(logins.get(username, cluster.url), username, tls if username not in logins else None)

    async with aiohttp.ClientSession(base_url=cluster.url, connector=aiohttp.TCPConnector(ssl=tls)) as proxied:
        consult = await scheduled(proxied, login)
    doc = Participant(cluster.url, await login("doc-a"), consult["id"], ssl=tls)
    spec = Participant(cluster.url, await login("spec-1"), consult["id"], ssl=tls)
    try:
        await doc.connect()
        await spec.connect()
        await asyncio.gather(doc.wait_live(90), spec.wait_live(90))
        await asyncio.gather(doc.call(90), spec.call(90))
        await asyncio.gather(doc.wait_frames(10, timeout=90), spec.wait_frames(10, timeout=90))
        rooms = [await _gauge(cluster.app_url(i), "telemed_consult_rooms") for i in (0, 1)]
        assert sorted(rooms) == [0.0, 1.0]  # one room, on one process
        async with aiohttp.ClientSession() as session:  # scraped per process, never through the proxy
            assert (await session.get(f"{cluster.url}/metrics", ssl=tls)).status == 404
    finally:
        await doc.close()
        await spec.close()


async def test_coturn_relays_with_the_turn_credential_the_app_hands_out_until_it_expires(cluster, tls):
    doc = await _login(cluster.app_url(0), "doc-a")
    async with aiohttp.ClientSession(base_url=cluster.url, connector=aiohttp.TCPConnector(ssl=tls)) as proxied:
        consult = await scheduled(proxied, lambda username: _login(cluster.url, username, tls))
    participant = Participant(cluster.url, doc, consult["id"], ssl=tls)
    await participant.connect()
    try:
        welcome = await asyncio.wait_for(participant.messages.get(), 90)
        while welcome["type"] != "welcome":
            welcome = await asyncio.wait_for(participant.messages.get(), 90)
    finally:
        await participant.close()
    (given,) = welcome["ice_servers"]
    expiry, _, user = given["username"].partition(":")
    assert user == "doc-a" and 0 < int(expiry) - time.time() <= Settings().turn_ttl_seconds
    # coturn relays with the credential the app handed out, and refuses one that has expired.
    relay, _ = await create_turn_endpoint(asyncio.DatagramProtocol, ("127.0.0.1", cluster.turn_port),
                                          given["username"], given["credential"])
    assert relay.get_extra_info("sockname")[1] > 0
    relay.close()
    expired = turn.for_user(replace(Settings(), turn_secret=cluster.env["TELEMED_TURN_SECRET"], turn_ttl_seconds=1),
                            "doc-a", now=time.time() - 60)
    with pytest.raises(TransactionFailed):
        await create_turn_endpoint(asyncio.DatagramProtocol, ("127.0.0.1", cluster.turn_port),
                                   expired.turn_username, expired.turn_credential)


async def test_the_relays_own_turn_login_is_time_limited_and_coturn_holds_it_to_that(cluster):
    """The relay's side of a call logs in to coturn as the browsers do: a fresh credential gets
    a relayed address, one that has expired gets none."""
    settings = Settings(ice_servers=(f"turn:127.0.0.1:{cluster.turn_port}",),
                        turn_secret=cluster.env["TELEMED_TURN_SECRET"])
    fresh = await _relayed_candidates(settings)
    assert fresh and all(c.ip == "127.0.0.1" for c in fresh)
    assert await _relayed_candidates(replace(settings, turn_ttl_seconds=-60)) == []  # expired a minute ago
    (server,) = ice_configuration(settings).iceServers
    assert server.username.endswith(":telemed-relay") and server.username != ice_configuration(
        replace(settings, turn_ttl_seconds=60)).iceServers[0].username  # made for each connection


async def _relayed_candidates(settings: Settings) -> list:
    pc = RTCPeerConnection(ice_configuration(settings))
    try:
        pc.addTransceiver("audio")
        await pc.setLocalDescription(await pc.createOffer())
        gatherer = pc.getTransceivers()[0].sender.transport.transport.iceGatherer
        return [c for c in gatherer.getLocalCandidates() if c.type == "relay"]
    finally:
        await pc.close()


def test_a_batch_both_processes_resumed_was_rendered_once(cluster):
    db = Database(cluster.env["TELEMED_DATABASE_URL"], threads=1)
    try:
        deadline = time.monotonic() + 240
        while (job := db.call(lambda s: s.get(ReportJob, cluster.job))).status in ("queued", "running"):
            assert time.monotonic() < deadline, "the batch did not finish"
            time.sleep(0.5)
        items = db.call(lambda s: list(s.exec(select(ReportItem).where(ReportItem.job_id == cluster.job)).all()))
    finally:
        db.close()
    assert job.status == "done" and job.done == job.total == len(items) == PATIENTS  # each counted once
    assert job.lease_owner == ""
    logs = [(cluster.directory / f"app{i}.log").read_text() for i in (1, 2)]
    # Both resume it when both start before it is done; on a loaded machine the first may finish
    # it before the second starts. Either way it is counted once (above); the lease's own race is
    # tested in tests/test_reports_batch.py.
    assert any(f"resuming report batch {cluster.job}" in log for log in logs)


async def _gauge(base: str, name: str) -> float:
    async with aiohttp.ClientSession() as session:
        text = await (await session.get(f"{base}/metrics")).text()
    return float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))
