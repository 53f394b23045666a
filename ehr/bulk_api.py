"""Bulk Data export over HTTP: kick-off (``[base]/$export``, ``[base]/Patient/$export``,
``[base]/Group/{id}/$export``), the
status URL (poll, then the manifest; DELETE cancels) and the NDJSON files. Every step audited:
the kick-off, each detainee whose data the files hold, each download."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import timedelta
from wsgiref.handlers import format_date_time

from aiohttp import web

from ehr.access import Gate
from ehr.api import fhir_route, lenient, prefer, since_param
from ehr.bulk import (GROUP_LEVEL, PATIENT, STOPPED, SYSTEM, Exports, Job, manifest, parse_kickoff, readable_members,
                      run_export)
from ehr.errors import FhirError, Issue
from ehr.requests import audit_noted
from ehr.responses import base_url, fhir_response, information
from telemed.audit import AuditEvent
from telemed.context import context_of
from telemed.http import audit, json_response, principal
from telemed.security import Principal
from telemed.timeutil import fhir_instant, utcnow

log = logging.getLogger("telemed.ehr.bulk")
BULK = web.AppKey("ehr_bulk", Exports)
TASKS = web.AppKey("ehr_bulk_tasks", set)
POLL_SECONDS = 2


@fhir_route
async def kickoff(request: web.Request) -> web.Response:
    group_id = request.match_info.get("id")
    level = GROUP_LEVEL if group_id else PATIENT if request.path.startswith("/fhir/Patient/") else SYSTEM
    if "respond-async" not in prefer(request):
        raise FhirError(400, Issue("required", "a bulk export runs asynchronously: send Prefer: respond-async",
                                   ["Prefer"]))
    export = parse_kickoff(level, request.query, str(request.url), since=since_param(request), lenient=lenient(request))
    who = principal(request)
    gate = Gate(who)
    try:
        gate.require_clinical("fhir.export", "*")
        if group_id:
            export = replace(export, members=await context_of(request).db.read(readable_members, gate, group_id))
    finally:
        audit_noted(request, gate)
    job = await context_of(request).db.run(request.app[BULK].start, who.username, export, fhir_instant(utcnow()))
    audit(request, "fhir.export", "allowed", resource=f"$export/{job.id}",
          reason=f"{level}: {','.join(export.types)}"[:2000])
    task = asyncio.create_task(_work(request.app, who, job))
    request.app[TASKS].add(task)
    task.add_done_callback(request.app[TASKS].discard)
    return web.Response(status=202, headers={"Content-Location": _status_url(request, job)})


def _status_url(request: web.Request, job: Job) -> str:
    return f"{base_url(request)}/$export-status/{job.id}"


async def _work(app: web.Application, who: Principal, job: Job) -> None:
    ctx, exports = context_of(app), app[BULK]
    try:
        await ctx.db.run(run_export, Gate(who), job, exports.renew)
        state, error = ("failed", STOPPED) if job.cancelled.is_set() else ("done", "")
    except Exception as exc:  # noqa: BLE001 - whatever failed, the status URL must say so
        log.exception("export %s failed", job.id)
        state, error = "failed", f"the export failed: {type(exc).__name__}"
    await ctx.db.run_plain(exports.finish, job, state, error)  # a cancelled job's row is gone: nothing written
    for patient_id in sorted(job.patients):
        ctx.audit.record(AuditEvent(action="fhir.export", outcome="allowed", user_id=who.user_id,
                                    username=who.username, role=who.role, patient_id=patient_id,
                                    resource=f"$export/{job.id}"))


async def _job(request: web.Request) -> Job:
    job_id = request.match_info["job"]
    job = await context_of(request).db.run(request.app[BULK].owned, job_id, principal(request).username)
    if job is None:
        raise FhirError(404, Issue("not-found", f"no export job {job_id}"))
    return job


@fhir_route
async def status(request: web.Request) -> web.Response:
    job = await _job(request)
    if job.state == "running":
        return web.Response(status=202, headers={"X-Progress": job.progress[:99] or "starting",
                                                 "Retry-After": str(POLL_SECONDS)})
    if job.state == "failed":
        raise FhirError(500, Issue("exception", job.error))
    response = json_response(manifest(job, base_url(request)))
    response.headers["Expires"] = format_date_time(job.expires_at.timestamp())
    return response


@fhir_route
async def cancel(request: web.Request) -> web.Response:
    job = await _job(request)
    await context_of(request).db.run(request.app[BULK].remove, job)
    audit(request, "fhir.export.cancel", "allowed", resource=f"$export/{job.id}")
    return fhir_response(information(f"export {job.id} cancelled and its files deleted"), 202)


@fhir_route
async def download(request: web.Request) -> web.StreamResponse:
    job, name = await _job(request), request.match_info["name"]
    if job.state != "done" or name not in {n for _, n, _ in job.outputs}:
        raise FhirError(404, Issue("not-found", f"export {job.id} has no file {name}"))
    audit(request, "fhir.export.download", "allowed", resource=f"$export/{job.id}/{name}")
    return web.FileResponse(job.folder / name, headers={"Content-Type": "application/fhir+ndjson"})


def setup(app: web.Application) -> None:
    """The routes, added before the generic ``/fhir/{type}/{id}`` ones."""
    settings = context_of(app).settings
    app[BULK] = Exports(context_of(app).db, settings.data_dir / "bulk", timedelta(hours=settings.export_ttl_hours))
    app[TASKS] = set()

    async def stop(_app: web.Application) -> None:  # a job stopped so is failed, as if the process had died
        for job in list(app[BULK].here.values()):
            job.cancelled.set()
        await asyncio.gather(*app[TASKS], return_exceptions=True)
    app.on_shutdown.append(stop)
    r = app.router
    for path in ("/fhir/$export", "/fhir/Patient/$export", "/fhir/Group/{id}/$export"):
        r.add_get(path, kickoff)
    r.add_get("/fhir/$export-status/{job}", status)
    r.add_delete("/fhir/$export-status/{job}", cancel)
    r.add_get("/fhir/$export-file/{job}/{name}", download)
