"""Batches over HTTP: started by the officer, progress pushed over /ws/events, files served,
denials, and a job left running by a stopped server resumed when the app starts."""

from __future__ import annotations

import asyncio

from sqlalchemy import update

from reports.batch import create_job
from reports.models import JobStatus, ReportJob
from reports.synthetic import seed_campaign
from telemed.app import create_app
from tests.conftest import bearer


async def _wait_done(ws, job_id: str) -> list[dict]:
    seen = []
    while True:
        message = await asyncio.wait_for(ws.receive_json(), timeout=120)
        if message.get("type") == "reports.batch" and message["job"]["id"] == job_id:
            seen.append(message["job"])
            if message["job"]["status"] != "running":
                return seen


async def test_officer_runs_a_batch_with_live_progress_and_downloads(client, login, context, world):
    campaign = seed_campaign(context.db, "fac-a", 6, seed=3, refused=0, pending=0)
    officer = await login("officer-a")
    ws = await client.ws_connect("/ws/events", headers=officer)
    for user in ("doc-a", "officer-b", "spec-1", "admin"):
        denied = await client.post(f"/api/campaigns/{campaign}/batches", json={}, headers=await login(user))
        assert denied.status == 403, user
    started = await client.post(f"/api/campaigns/{campaign}/batches", json={"lang": "en"}, headers=officer)
    assert started.status == 202, await started.text()
    job = await started.json()
    progress = await _wait_done(ws, job["id"])
    await ws.close()
    assert progress[-1]["status"] == "done" and progress[-1]["done"] == 6
    assert [p["done"] for p in progress] == sorted(p["done"] for p in progress)
    shown = await (await client.get(f"/api/batches/{job['id']}", headers=officer)).json()
    assert "merged.pdf" in shown["files"] and "summary.xlsx" in shown["files"]
    merged = await client.get(f"/api/batches/{job['id']}/files/merged.pdf", headers=officer)
    assert merged.status == 200 and (await merged.read()).startswith(b"%PDF")
    assert (await client.get(f"/api/batches/{job['id']}/files/..%2Fsecret", headers=officer)).status == 404
    other = await login("officer-b")
    assert (await client.get(f"/api/batches/{job['id']}", headers=other)).status == 403
    assert (await client.get(f"/api/batches/{job['id']}/files/merged.pdf", headers=other)).status == 403
    listed = await (await client.get(f"/api/campaigns/{campaign}/batches", headers=officer)).json()
    assert [j["id"] for j in listed] == [job["id"]]


async def test_a_job_left_running_resumes_when_the_app_starts(aiohttp_client, context, world, settings):
    campaign = seed_campaign(context.db, "fac-a", 4, seed=5, refused=0, pending=0)

    def interrupted(session):
        job = create_job(session, campaign, "zh-CN", settings.data_dir)
        session.flush()
        session.execute(update(ReportJob).where(ReportJob.id == job.id).values(status=JobStatus.RUNNING))
        return job.id

    job_id = context.db.call(interrupted)
    client = await aiohttp_client(create_app(context=context))
    headers = await bearer(client, "officer-a")
    for _ in range(240):
        shown = await (await client.get(f"/api/batches/{job_id}", headers=headers)).json()
        if shown["status"] != "running":
            break
        await asyncio.sleep(0.5)
    assert shown["status"] == "done" and shown["done"] == 4 and "reports.zip" in shown["files"]
