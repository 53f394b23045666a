"""Batches inside the server: each job runs in its own thread (driving a process pool), pushes
its progress to the facility's staff over the hub, and is resumed when the server starts. Every
``SWEEP_SECONDS`` the server also takes over the batches whose lease ran out (their process died)."""

from __future__ import annotations

import asyncio
import logging
import threading

from aiohttp import web

from reports.batch import active_jobs, run_job
from reports.campaigns import get_campaign
from reports.models import ReportJob
from telemed.context import context_of
from telemed.events import staff_of
from telemed.models import Role

log = logging.getLogger("telemed.reports")
SWEEP_SECONDS = 60


def job_json(job: ReportJob) -> dict:
    return {"id": job.id, "campaign_id": job.campaign_id, "lang": job.lang, "status": job.status,
            "total": job.total, "done": job.done, "error": job.error, "created_at": job.created_at.isoformat(),
            "finished_at": job.finished_at.isoformat() if job.finished_at else None}


class BatchRunner:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.stop = threading.Event()
        self.threads: dict[str, threading.Thread] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sweeper: asyncio.Future | None = None

    def start(self, job_id: str, facility_id: str) -> None:
        if job_id in self.threads and self.threads[job_id].is_alive():
            return
        self.loop = asyncio.get_running_loop()
        thread = threading.Thread(target=self._run, args=(job_id, facility_id), name=f"batch-{job_id}", daemon=True)
        self.threads[job_id] = thread
        thread.start()

    def _run(self, job_id: str, facility_id: str) -> None:
        ctx = context_of(self.app)
        hub, loop = ctx.hub, self.loop

        def progress(job: ReportJob) -> None:
            hub.publish_threadsafe(loop, {"type": "reports.batch", "job": job_json(job)},
                                   staff_of(facility_id, Role.MEDICAL_OFFICER))  # those who may print

        try:
            run_job(ctx.settings, job_id, db=ctx.db, on_progress=progress, stop=self.stop)
        except Exception:  # noqa: BLE001 - recorded on the job as failed; the server carries on
            log.exception("report batch %s failed", job_id)

    async def resume_all(self, *, unleased: bool = False) -> None:
        db = context_of(self.app).db
        for job_id in await db.run(active_jobs, unleased=unleased):
            job = await db.run(lambda s, j=job_id: s.get(ReportJob, j))
            campaign = await db.run(get_campaign, job.campaign_id)
            log.info("resuming report batch %s", job_id)
            self.start(job_id, campaign.facility_id)

    async def sweep(self) -> None:
        while not self.stop.is_set():
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.resume_all(unleased=True)
            except Exception:  # noqa: BLE001 - the next sweep tries again
                log.exception("could not take over report batches")

    async def shutdown(self) -> None:
        self.stop.set()
        for thread in list(self.threads.values()):
            await asyncio.get_running_loop().run_in_executor(None, thread.join, 120)


RUNNER = web.AppKey("reports_runner", BatchRunner)


def setup(app: web.Application) -> None:
    runner = BatchRunner(app)
    app[RUNNER] = runner

    async def on_startup(_app: web.Application) -> None:
        try:
            await runner.resume_all()
        except Exception:  # noqa: BLE001 - a down database must not stop the server (healthz reports it)
            log.exception("could not resume report batches")
        runner.sweeper = asyncio.ensure_future(runner.sweep())

    async def on_cleanup(_app: web.Application) -> None:
        if runner.sweeper is not None:
            runner.sweeper.cancel()
        await runner.shutdown()

    app.on_startup.append(on_startup)
    app.on_cleanup.insert(0, on_cleanup)
