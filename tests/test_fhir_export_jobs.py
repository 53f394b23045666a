"""Bulk export jobs kept in the database: the status URL answers from another server process
and after a ``kill -9``; a job whose process died is failed with an OperationOutcome; DELETE
removes the files; finished files expire (TELEMED_EXPORT_TTL_HOURS) and the manifest is then 404."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from email.utils import parsedate_to_datetime

import aiohttp
import pytest
from sqlalchemy import update

from ehr import store
from ehr.bulk import STOPPED
from ehr.models import FhirExportJob
from telemed.config import ConfigError, load_settings
from telemed.timeutil import utcnow
from tests.conftest import PASSWORD, both_databases
from tests.ehr_support import observation
from tests.served import serve
from tests.test_fhir_bulk_export import ASYNC, finished, kick_off, path_of

MANY = 20_000  # enough that an export is still running a moment after its kick-off


def job_folder(settings, status_url: str):
    return settings.data_dir / "bulk" / status_url.rsplit("/", 1)[-1]


@both_databases
async def test_delete_removes_the_files_and_finished_files_expire(client, context, login, settings, world):
    context.db.call(lambda s: store.create(s, observation("fac-a-p1")))
    doc = await login("doc-a")
    _, _, status_url = await kick_off(client, doc, "/fhir/$export?_type=Observation")
    done = await finished(client, doc, path_of(client, status_url))
    folder = job_folder(settings, status_url)
    assert (folder / "Observation.ndjson").exists()
    response = await client.get(path_of(client, status_url), headers=doc)
    expires = parsedate_to_datetime(response.headers["Expires"])
    assert timedelta(hours=23) < expires - utcnow() <= timedelta(hours=24)  # the default TTL, 24 hours
    # The time is up: the files go, and the status URL and the files are 404.
    job_id = folder.name
    context.db.call(lambda s: s.execute(update(FhirExportJob).where(FhirExportJob.id == job_id)
                                        .values(expires_at=utcnow() - timedelta(seconds=1))))
    assert (await client.get(path_of(client, status_url), headers=doc)).status == 404
    assert (await client.get(path_of(client, done["output"][0]["url"]), headers=doc)).status == 404
    assert not folder.exists()
    assert context.db.call(lambda s: s.get(FhirExportJob, job_id)) is None
    # DELETE: the job and its files, at once.
    _, _, status_url = await kick_off(client, doc, "/fhir/$export?_type=Observation")
    await finished(client, doc, path_of(client, status_url))
    assert job_folder(settings, status_url).exists()
    assert (await client.delete(path_of(client, status_url), headers=doc)).status == 202
    assert not job_folder(settings, status_url).exists()
    assert (await client.get(path_of(client, status_url), headers=doc)).status == 404


def test_export_ttl_is_configurable():
    assert load_settings({"TELEMED_EXPORT_TTL_HOURS": "2"}).export_ttl_hours == 2
    assert load_settings({}).export_ttl_hours == 24
    with pytest.raises(ConfigError, match="TELEMED_EXPORT_TTL_HOURS"):
        load_settings({"TELEMED_EXPORT_TTL_HOURS": "0"})


def files(manifest: dict) -> list[tuple]:
    """The manifest's outputs, without the base URL of the process that answered."""
    return [(o["type"], o["count"], o["url"].split("/fhir/", 1)[1]) for o in manifest["output"]]


async def token(session: aiohttp.ClientSession, base: str) -> dict:
    async with session.post(f"{base}/api/auth/token", json={"username": "doc-a", "password": PASSWORD}) as r:
        return {"Authorization": f"Bearer {(await r.json())['access_token']}"}


async def poll(session: aiohttp.ClientSession, url: str, headers: dict) -> tuple[int, dict]:
    while True:
        async with session.get(url, headers=headers) as response:
            if response.status != 202:
                return response.status, await response.json(content_type=None)
        await asyncio.sleep(0.2)


@both_databases
async def test_the_status_url_answers_from_another_process_and_after_kill_9(settings, context, world):
    context.db.call(lambda s: [store.create(s, observation("fac-a-p1", value=60 + n % 40)) for n in range(MANY)])
    first, base_a = serve(settings)
    second, base_b = serve(settings)
    try:
        async with aiohttp.ClientSession() as session:
            doc = await token(session, base_a)
            async with session.get(f"{base_a}/fhir/$export?_type=Observation", headers={**doc, **ASYNC}) as response:
                assert response.status == 202
                status_url = response.headers["Content-Location"]
            status, manifest = await poll(session, status_url.replace(base_a, base_b), doc)  # asked of the other process
            assert status == 200 and manifest["output"][0]["count"] == MANY
            async with session.get(manifest["output"][0]["url"].replace(base_a, base_b), headers=doc) as response:
                assert response.status == 200 and len((await response.read()).splitlines()) == MANY

            # A job running when its process is killed: failed, with an OperationOutcome, from any process.
            async with session.get(f"{base_a}/fhir/$export?_type=Observation", headers={**doc, **ASYNC}) as response:
                assert response.status == 202
                killed_url = response.headers["Content-Location"]
            first.send_signal(signal.SIGKILL)
            first.wait()
            job_id = killed_url.rsplit("/", 1)[-1]
            assert context.db.call(lambda s: s.get(FhirExportJob, job_id).state) == "running"  # as the kill left it
            status, outcome = await poll(session, killed_url.replace(base_a, base_b), doc)
            assert status == 500 and outcome["issue"][0]["diagnostics"] == STOPPED
            assert not job_folder(settings, killed_url).exists()
            # A restarted server answers for both jobs as they are.
            first, restarted = serve(settings)
            status, again = await poll(session, status_url.replace(base_a, restarted), doc)
            assert status == 200 and files(again) == files(manifest)
            assert (await poll(session, killed_url.replace(base_a, restarted), doc))[0] == 500
            base_a = restarted
            # A new export runs: the dead job holds no slot.
            async with session.get(f"{base_a}/fhir/$export?_type=Patient", headers={**doc, **ASYNC}) as response:
                assert response.status == 202
    finally:
        for server in (first, second):
            server.kill()
            server.wait()
