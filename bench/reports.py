"""Exam report batch benchmark: a campaign with full synthetic data rendered by the process pool.

Figures:
  (a) seconds for the whole batch (per-detainee PDFs, duplex print file, ZIP, cohort summary),
      reports/s and pages/s, beside a baseline measured in the same run: the same worker count
      drawing the same number of pages as plain two-page reportlab reports (a 60-row table in
      the same embedded CJK font) — the ceiling the issue describes;
  (b) peak memory (RSS of the parent plus its worker processes) for a small and a large
      campaign, to show it stays flat in the number of detainees.

Run: .venv/bin/python bench/reports.py [--quick] [--detainees 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ratio  # noqa: E402
from ehr import store  # noqa: E402
from reports.batch import run_batch  # noqa: E402
from reports.synthetic import seed_campaign  # noqa: E402
from telemed.accounts import add_org, add_user  # noqa: E402
from telemed.config import Settings  # noqa: E402
from telemed.db import Database  # noqa: E402
from telemed.models import OrgKind, Role  # noqa: E402
from telemed.schema import upgrade  # noqa: E402

FACILITY = "bench-facility"


def setup_database(root: Path) -> Settings:
    url = f"sqlite:///{root / 'bench.db'}"
    upgrade(url)
    db = Database(url, threads=2)

    def seed(session) -> None:
        add_org(session, FACILITY, "Bench Detention Centre", OrgKind.FACILITY, "基准测试看守所")
        store.create(session, {"resourceType": "Organization", "active": True, "name": "Bench"}, resource_id=FACILITY)
        add_user(session, "bench-officer", "bench-password-0123", role=Role.MEDICAL_OFFICER, org_id=FACILITY,
                 display_name="张卫")
        add_user(session, "bench-doctor", "bench-password-0123", role=Role.FACILITY_DOCTOR, org_id=FACILITY,
                 display_name="王建国")

    db.call(seed)
    db.close()
    return Settings(database_url=url, data_dir=root / "data", secret_key="bench-secret-key-0123456789")


# -- memory: RSS of this process and every descendant, sampled ------------------------------

def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


def _tree_rss(pid: int) -> int:
    return _rss_kib(pid) + sum(_tree_rss(child) for child in _children(pid))


class PeakMemory:
    def __init__(self) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_kib = max(self.peak_kib, _tree_rss(os.getpid()))

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# -- baseline: plain two-page reports -------------------------------------------------------

def _plain_report(index: int, out_dir: str) -> tuple[int, float]:
    """(pages, CPU seconds) of one plain two-page report."""
    started = time.process_time()
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table

    from reports import fonts

    font = fonts.register()
    style = ParagraphStyle("p", fontName=font, fontSize=12)
    rows = [["项目", "结果", "提示", "单位", "参考区间"]] + [[f"检验项目{r}", "5.1", "", "mmol/L", "3.9-6.1"]
                                                        for r in range(60)]
    table = Table(rows, repeatRows=1)
    table.setStyle([("FONT", (0, 0), (-1, -1), font, 9)])
    doc = SimpleDocTemplate(f"{out_dir}/plain-{index}.pdf", pagesize=A4, invariant=1)
    doc.build([Paragraph("健康体检报告（基准）", style), table, PageBreak(), Paragraph("第二页", style)])
    return doc.page, time.process_time() - started


def baseline(pages: int, workers: int, out_dir: Path) -> tuple[float, float]:
    """(seconds, CPU seconds) for ``workers`` processes to draw ``pages`` pages as plain two-page reports."""
    out_dir.mkdir(parents=True, exist_ok=True)
    count = (pages + 1) // 2
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(_plain_report, range(workers), [str(out_dir)] * workers))  # start and warm the workers
        started = time.perf_counter()
        drawn = list(pool.map(_plain_report, range(count), [str(out_dir)] * count, chunksize=8))
        elapsed = time.perf_counter() - started
    assert sum(p for p, _cpu in drawn) >= pages
    return elapsed, sum(cpu for _p, cpu in drawn)


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the pool workers, once shut down)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(settings: Settings, campaign_id: str, workers: int) -> tuple[float, int, int, int, float]:
    """(seconds, reports, pages, peak RSS KiB, CPU seconds) of one whole batch."""
    from reports.models import ReportItem
    from sqlmodel import func, select

    with PeakMemory() as memory:
        started, cpu = time.perf_counter(), cpu_seconds()
        result = run_batch(settings, campaign_id, workers=workers)
        elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    assert result.status == "done", result
    db = Database(settings.database_url, threads=1)
    pages = db.call(lambda s: s.exec(select(func.sum(ReportItem.pages)).where(ReportItem.job_id == result.job_id)).one())
    db.close()
    return elapsed, result.done, int(pages), memory.peak_kib, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--detainees", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    large = 60 if args.quick else args.detainees
    small = max(large // 4, 10)
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        root = Path(tmp)
        settings = setup_database(root)
        db = Database(settings.database_url, threads=2)
        started = time.perf_counter()
        big = seed_campaign(db, FACILITY, large, seed=1)
        seeded = time.perf_counter() - started
        little = seed_campaign(db, FACILITY, small, seed=2)
        db.close()
        print(f"synthetic data: {large} detainees with full exams and labs in {seeded:.1f} s")

        seconds, reports, pages, peak_large, cpu = run(settings, big, args.workers)
        base, base_cpu = baseline(pages, args.workers, root / "baseline")
        print(f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the machine is shared)")
        print(f"batch of {reports} reports ({pages} pages), {args.workers} workers: {seconds:.1f} s whole batch "
              f"(spawn, render, merge, ZIP, summary), {reports / seconds:.1f} reports/s")
        print(f"  pages/s {pages / seconds:8.1f}   baseline plain 2-page reports {pages / base:8.1f} pages/s   "
              f"{ratio(pages / seconds, pages / base)}")
        print(f"  CPU seconds {cpu:6.1f} ({1000 * cpu / reports:.1f} ms/report, all processes)   baseline "
              f"{base_cpu:6.1f} ({1000 * base_cpu * 2 / pages:.1f} ms/plain report)   {ratio(cpu, base_cpu)}")
        print(f"  on {args.workers} idle cores the batch would take about {cpu / args.workers:.1f} s")
        _s, small_reports, _p, peak_small, _c = run(settings, little, args.workers)
        print(f"peak RSS (parent + workers): {small_reports} reports {peak_small / 1024:.0f} MiB, "
              f"{reports} reports {peak_large / 1024:.0f} MiB   {ratio(peak_large, peak_small)}")


if __name__ == "__main__":
    main()
