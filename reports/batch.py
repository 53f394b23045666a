"""Report batches: every examined (or refused) detainee of a campaign rendered in a process pool,
then one duplex print file, a ZIP of the single reports and the cohort summary.

Progress lives in the database (one ``report_item`` row per detainee), so a batch interrupted by
a restart resumes with the detainees still missing, and a cancelled one stops taking new work.
A process renders a batch only while it holds the batch's lease (``LEASE``, renewed with each
progress write): with several server processes, or a server and the CLI, no batch is rendered
twice, and one whose process died is taken over when its lease runs out.
reportlab is not thread-safe, hence processes; each worker registers the font once, opens its own
database engine and writes its PDF file itself, so the parent holds nothing per detainee.

Python API (also for other benchmarks)::

    from reports.batch import run_batch
    result = run_batch(settings, campaign_id, lang="zh-CN")   # blocks; result.status, result.files
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import secrets
import threading
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import or_, update
from sqlmodel import Session, select

from reports import exam_data, fonts, pdf
from reports.merge import merge_for_duplex
from reports.models import ACTIVE_JOB_STATES, Exam, ExamStatus, JobStatus, ReportItem, ReportJob
from telemed.children import die_with_parent
from telemed.config import Settings
from telemed.db import Database, lock_for_writing
from telemed.models import Detainee
from telemed.owner import OWNER, dead_here
from telemed.timeutil import utcnow

log = logging.getLogger("telemed.reports")
MERGED, ZIPPED = "merged.pdf", "reports.zip"
RECORD_EVERY = 0.3  # seconds between progress writes (and cancellation checks)
Progress = Callable[[ReportJob], None]
LEASE = timedelta(minutes=5)  # longer than any one step: a report, or merging the print file


class BatchError(Exception):
    pass


@dataclass
class BatchResult:
    job_id: str
    status: str
    done: int
    total: int
    out_dir: Path
    files: list[str] = field(default_factory=list)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "report"


# -- jobs in the database ------------------------------------------------------------------

def create_job(session: Session, campaign_id: str, lang: str, data_dir: Path, created_by: int | None = None,
               out_dir: Path | None = None) -> ReportJob:
    """A job with one item per examined or refused detainee, files named by booking number; its files go to
    ``out_dir`` (default: ``<data_dir>/reports/<campaign>/<job>``)."""
    job_id = "j" + secrets.token_hex(6)
    rows = session.exec(
        select(Exam.id, Exam.patient_id, Detainee.booking_number).join(Detainee, Detainee.patient_id == Exam.patient_id)
        .where(Exam.campaign_id == campaign_id, Exam.status.in_((ExamStatus.EXAMINED, ExamStatus.REFUSED)))
        .order_by(Detainee.booking_number, Exam.id)
    ).all()
    if not rows:
        raise BatchError("no examined detainees in this campaign yet")
    out_dir = out_dir or Path(data_dir) / "reports" / campaign_id / job_id
    job = ReportJob(id=job_id, campaign_id=campaign_id, lang=lang, total=len(rows), out_dir=str(out_dir),
                    created_by=created_by)
    session.add(job)
    session.flush()
    taken: set[str] = set()
    for exam_id, patient_id, booking in rows:
        name = _safe(booking)
        name = name if name not in taken else f"{name}-{exam_id}"
        taken.add(name)
        session.add(ReportItem(job_id=job_id, patient_id=patient_id, exam_id=exam_id, file_name=f"{name}.pdf"))
    return job


def get_job(session: Session, job_id: str) -> ReportJob | None:
    return session.get(ReportJob, job_id)


def cancel_job(session: Session, job_id: str) -> ReportJob:
    job = session.get(ReportJob, job_id)
    if job is None:
        raise BatchError(f"no batch {job_id}")
    if job.status in ACTIVE_JOB_STATES:
        job.status, job.finished_at = JobStatus.CANCELLED, utcnow()
        session.add(job)
    return job


def active_jobs(session: Session, campaign_id: str | None = None, *, unleased: bool = False) -> list[str]:
    """Queued or running jobs; ``unleased``: only those no live process holds."""
    query = select(ReportJob.id).where(ReportJob.status.in_(ACTIVE_JOB_STATES))
    if campaign_id:
        query = query.where(ReportJob.campaign_id == campaign_id)
    if unleased:
        query = query.where(or_(ReportJob.lease_until == None, ReportJob.lease_until < utcnow()))  # noqa: E711
    return list(session.exec(query.order_by(ReportJob.created_at)).all())


def _lease(session: Session, job_id: str, *, take: bool) -> None:
    """Take the job's lease if it is free, expired, ours or a dead process's on this host
    (``take``: a restarted server resumes at once), or renew ours."""
    now = utcnow()
    if take:
        current = session.exec(select(ReportJob.lease_owner).where(ReportJob.id == job_id)).one()
        free = ("", OWNER, current) if dead_here(current) else ("", OWNER)
        holder = or_(ReportJob.lease_owner.in_(free), ReportJob.lease_until < now)
    else:
        holder = ReportJob.lease_owner == OWNER
    session.execute(update(ReportJob).where(ReportJob.id == job_id, ReportJob.status.in_(ACTIVE_JOB_STATES), holder)
                    .values(lease_owner=OWNER, lease_until=now + LEASE))


def _begin(session: Session, job_id: str) -> tuple[ReportJob, list[tuple[int, int, str]]]:
    """The job, leased to this process if it can be, and what is left to render."""
    lock_for_writing(session)
    _lease(session, job_id, take=True)
    job = session.get(ReportJob, job_id)
    if job.lease_owner != OWNER:
        return job, []
    if job.status in ACTIVE_JOB_STATES:
        job.status = JobStatus.RUNNING
        session.add(job)
    todo = session.exec(select(ReportItem.id, ReportItem.exam_id, ReportItem.file_name)
                        .where(ReportItem.job_id == job_id, ReportItem.done == False)  # noqa: E712
                        .order_by(ReportItem.file_name)).all()
    return job, [tuple(r) for r in todo]


def _record(session: Session, job_id: str, results: list[tuple[int, int, bytes]]) -> ReportJob:
    """Store finished reports; returns the job as it now stands (its status may say cancelled)."""
    session.execute(update(ReportItem), [{"id": item_id, "done": True, "pages": pages, "findings": findings.decode()}
                                         for item_id, pages, findings in results])
    session.execute(update(ReportJob).where(ReportJob.id == job_id).values(done=ReportJob.done + len(results)))
    return _renew(session, job_id)


def _renew(session: Session, job_id: str) -> ReportJob:
    _lease(session, job_id, take=False)
    return session.get(ReportJob, job_id)


def _finish(session: Session, job_id: str, status: str, error: str = "") -> ReportJob:
    job = session.get(ReportJob, job_id)
    if job.status != JobStatus.CANCELLED:
        job.status, job.error, job.finished_at = status, error[:2000], utcnow()
    job.lease_owner, job.lease_until = "", None
    session.add(job)
    return job


def _items(session: Session, job_id: str) -> list[ReportItem]:
    return list(session.exec(select(ReportItem).where(ReportItem.job_id == job_id).order_by(ReportItem.file_name)).all())


# -- workers ---------------------------------------------------------------------------------

_worker: dict = {}


def _init_worker(database_url: str, timezone: str, nice: int, parent: int) -> None:
    die_with_parent(parent)
    os.nice(nice)
    fonts.register()
    _worker["db"] = Database(database_url, threads=1)
    _worker["tz"] = ZoneInfo(timezone)


def _render_one(item_id: int, exam_id: int, lang: str, path: str) -> tuple[int, int, bytes]:
    """(item, pages, summary JSON); a report that cannot be built comes back with 0 pages and the
    error, so one odd record does not stop the campaign's batch."""
    try:
        return _render(item_id, exam_id, lang, path)
    except Exception as exc:  # noqa: BLE001 - reported on the job, the batch carries on
        log.exception("report for exam %s failed", exam_id)
        return item_id, 0, orjson.dumps({"error": f"{type(exc).__name__}: {exc}"})


def _render(item_id: int, exam_id: int, lang: str, path: str) -> tuple[int, int, bytes]:
    data = _worker["db"].call(exam_data.load, exam_id, lang, _worker["tz"])
    content, pages = pdf.render(data)
    target = Path(path)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(content)
    tmp.replace(target)
    return item_id, pages, data.summary_json()


def _render_summary(job_id: str, out_dir: str, lang: str) -> list[str]:
    from reports import cohort  # pandas: imported by the one worker that writes the summary

    return cohort.write_summary(_worker["db"], job_id, Path(out_dir), lang)


def open_pool(settings: Settings, workers: int | None = None) -> ProcessPoolExecutor:
    # spawn: the server process has threads (database pool, event loop), which fork would copy mid-state.
    return ProcessPoolExecutor(max_workers=workers or settings.report_workers,
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker,
                               initargs=(settings.database_url, settings.timezone, settings.report_nice, os.getpid()))


# -- running a job ---------------------------------------------------------------------------

def run_job(settings: Settings, job_id: str, *, db: Database | None = None, pool: ProcessPoolExecutor | None = None,
            on_progress: Progress | None = None, stop: threading.Event | None = None) -> BatchResult:
    """Render what is missing of ``job_id``, then the campaign files. Blocks until done or cancelled;
    ``stop`` (a server shutting down) leaves the job running in the database, to be resumed."""
    stop = stop or threading.Event()
    own_db, own_pool = db is None, pool is None
    db = db or Database(settings.database_url, threads=1)
    try:
        job, todo = db.call(_begin, job_id)
        if job.lease_owner != OWNER:
            return _result(db, job_id)  # another process renders it
        pool = pool or open_pool(settings)
        try:
            job = _render_all(db, pool, job, todo, on_progress, stop) if _ours(job) else job
            if not stop.is_set() and _ours(job := db.call(_renew, job_id)):
                job = _finalise(db, pool, job, on_progress)
        except Exception as exc:
            db.call(_finish, job_id, JobStatus.FAILED, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if own_pool:
                pool.shutdown(wait=True, cancel_futures=True)
        return _result(db, job_id)
    finally:
        if own_db:
            db.close()


def _ours(job: ReportJob) -> bool:
    """Still running, and still leased to this process (a process that stalled past its lease
    has lost the batch to another, and stops)."""
    return job.status == JobStatus.RUNNING and job.lease_owner == OWNER


def _render_all(db: Database, pool: ProcessPoolExecutor, job: ReportJob, todo: list[tuple[int, int, str]],
                on_progress: Progress | None, stop: threading.Event) -> ReportJob:
    out = Path(job.out_dir) / "pdf"
    out.mkdir(parents=True, exist_ok=True)
    queue = iter(todo)
    running: set[Future] = set()
    limit = max(pool._max_workers * 4, 4)  # bounded: cancellation is prompt and memory stays flat
    rendered: list[tuple[int, int, bytes]] = []
    last_write = float("-inf")  # the first report is recorded at once, then at most every RECORD_EVERY
    while True:
        while len(running) < limit and _ours(job) and not stop.is_set():
            item = next(queue, None)
            if item is None:
                break
            item_id, exam_id, name = item
            running.add(pool.submit(_render_one, item_id, exam_id, job.lang, str(out / name)))
        if not running:
            return _flush(db, job, rendered, on_progress)
        finished, running = wait(running, timeout=RECORD_EVERY, return_when=FIRST_COMPLETED)
        rendered += _results(finished)
        if rendered and time.monotonic() - last_write >= RECORD_EVERY:
            job, last_write = _flush(db, job, rendered, on_progress), time.monotonic()
        if not _ours(job) or stop.is_set():
            for future in running:
                future.cancel()
            rendered += _results(wait(running).done)
            return _flush(db, job, rendered, on_progress)


def _results(finished: set[Future]) -> list[tuple[int, int, bytes]]:
    """What the workers rendered (a cancelled future rendered nothing)."""
    return [future.result() for future in finished if not future.cancelled()]


def _flush(db: Database, job: ReportJob, rendered: list, on_progress: Progress | None) -> ReportJob:
    """Record the rendered reports in one transaction (the parent stays light beside the workers)."""
    if not rendered:
        return job
    job = db.call(_record, job.id, list(rendered))
    rendered.clear()
    if on_progress:
        on_progress(job)
    return job


def _finalise(db: Database, pool: ProcessPoolExecutor, job: ReportJob, on_progress: Progress | None) -> ReportJob:
    out = Path(job.out_dir)
    summary = pool.submit(_render_summary, job.id, str(out), job.lang)
    items = db.call(_items, job.id)
    paths = [out / "pdf" / i.file_name for i in items if i.pages]
    merge_for_duplex(paths, out / MERGED)
    _zip(paths, out / ZIPPED)
    summary.result()
    failed = [i.file_name.removesuffix(".pdf") for i in items if not i.pages]
    error = f"{len(failed)} report(s) could not be built: {', '.join(failed)}" if failed else ""
    job = db.call(_finish, job.id, JobStatus.DONE, error)
    if on_progress:
        on_progress(job)
    return job


def _zip(paths: list[Path], target: Path) -> None:
    tmp = target.with_suffix(".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in paths:
            archive.write(path, arcname=path.name)
    tmp.replace(target)


def _result(db: Database, job_id: str) -> BatchResult:
    job = db.call(get_job, job_id)
    out = Path(job.out_dir)
    files = sorted(p.name for p in out.iterdir() if p.is_file() and p.suffix != ".part") if out.is_dir() else []
    return BatchResult(job.id, job.status, job.done, job.total, out, files)


def run_batch(settings: Settings, campaign_id: str, *, lang: str = "zh-CN", workers: int | None = None,
              on_progress: Progress | None = None, created_by: int | None = None,
              out_dir: Path | None = None) -> BatchResult:
    """Resume this campaign's unfinished batch in ``lang`` if there is one, else start a new one; block until done."""
    db = Database(settings.database_url, threads=1)
    try:
        job_id = db.call(_resumable, campaign_id, lang)
        if job_id is None:
            job_id = db.call(create_job, campaign_id, lang, settings.data_dir, created_by, out_dir).id
        with open_pool(settings, workers) as pool:
            return run_job(settings, job_id, db=db, pool=pool, on_progress=on_progress)
    finally:
        db.close()


def _resumable(session: Session, campaign_id: str, lang: str) -> str | None:
    return session.exec(select(ReportJob.id).where(
        ReportJob.campaign_id == campaign_id, ReportJob.lang == lang, ReportJob.status.in_(ACTIVE_JOB_STATES),
    ).order_by(ReportJob.created_at)).first()
