"""HTTP routes of report batches and single reports; progress is pushed as ``reports.batch`` events."""

from __future__ import annotations

import threading
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlmodel import Session, select

from reports import api_support as support
from reports import exam_data, pdf, runner
from reports.batch import BatchError, cancel_job, create_job, get_job
from reports.models import ReportJob
from telemed.context import context_of
from telemed.http import api_error, json_response, principal, require
from telemed.i18n import LANGUAGES
from telemed.policy import Capability

PRINT = (Capability.PRINT_REPORTS,)
DOWNLOADS = {"merged.pdf", "reports.zip", "summary.pdf", "summary.xlsx", "participation.csv", "prevalence.csv",
             "chronic.csv", "followup.csv"}
# reportlab keeps global caches and is not thread-safe: the server renders one report at a time
# (batches render in worker processes).
_RENDER_LOCK = threading.Lock()


def _lang(value: str | None) -> str:
    return value if value in LANGUAGES else "zh-CN"


async def batch_start(request: web.Request) -> web.Response:
    campaign = await support.campaign_for(request, PRINT, "reports.batch.start")
    body = await support.read_json_or_empty(request)
    ctx = context_of(request)
    try:
        job = await ctx.db.run(create_job, campaign.id, _lang(body.get("lang")), ctx.settings.data_dir,
                               principal(request).user_id)
    except BatchError as exc:
        raise api_error(409, str(exc)) from None
    request.app[runner.RUNNER].start(job.id, campaign.facility_id)
    return json_response(runner.job_json(job), status=202)


def _jobs(session: Session, campaign_id: str) -> list[ReportJob]:
    return list(session.exec(select(ReportJob).where(ReportJob.campaign_id == campaign_id)
                             .order_by(ReportJob.created_at.desc())).all())


async def batch_list(request: web.Request) -> web.Response:
    campaign = await support.campaign_for(request, PRINT, "reports.batch.list")
    jobs = await context_of(request).db.run(_jobs, campaign.id)
    return json_response([runner.job_json(j) for j in jobs])


async def job_for(request: web.Request, action: str) -> ReportJob:
    require(request, Capability.PRINT_REPORTS, action)
    job = await context_of(request).db.run(get_job, request.match_info["job_id"])
    if job is None:
        raise api_error(404, "no such batch")
    await support.campaign_for(request, PRINT, action, job.campaign_id)
    return job


async def batch_show(request: web.Request) -> web.Response:
    job = await job_for(request, "reports.batch.read")
    data = runner.job_json(job)
    out = Path(job.out_dir)
    data["files"] = sorted(n for n in DOWNLOADS if (out / n).is_file())
    return json_response(data)


async def batch_cancel(request: web.Request) -> web.Response:
    job = await job_for(request, "reports.batch.cancel")
    job = await context_of(request).db.run(cancel_job, job.id)
    return json_response(runner.job_json(job))


async def batch_file(request: web.Request) -> web.StreamResponse:
    job = await job_for(request, "reports.batch.download")
    name = request.match_info["name"]
    path = Path(job.out_dir) / name
    if name not in DOWNLOADS or not path.is_file():
        raise api_error(404, f"no file {name} in this batch")
    return web.FileResponse(path, headers={"Content-Disposition": f'attachment; filename="{job.campaign_id}-{name}"'})


def _render(db, exam_id: int, lang: str, tz: ZoneInfo) -> bytes:
    data = db.call(exam_data.load, exam_id, lang, tz)
    with _RENDER_LOCK:
        return pdf.render(data)[0]


async def exam_report(request: web.Request) -> web.Response:
    require(request, Capability.PRINT_REPORTS, "reports.print")
    exam, _campaign = await support.exam_for(request, Capability.PRINT_REPORTS, "reports.print")
    ctx = context_of(request)
    content = await ctx.db.run_plain(_render, ctx.db, exam.id, _lang(request.query.get("lang")), ctx.settings.tz)
    return web.Response(body=content, content_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="exam-{exam.id}.pdf"'})


def setup(app: web.Application) -> None:
    runner.setup(app)
    app.router.add_post("/api/campaigns/{campaign_id}/batches", batch_start)
    app.router.add_get("/api/campaigns/{campaign_id}/batches", batch_list)
    app.router.add_get("/api/batches/{job_id}", batch_show)
    app.router.add_post("/api/batches/{job_id}/cancel", batch_cancel)
    app.router.add_get("/api/batches/{job_id}/files/{name}", batch_file)
    app.router.add_get("/api/exams/{exam_id:\\d+}/report.pdf", exam_report)

