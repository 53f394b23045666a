"""Analyzer exports (CSV, Excel) through a column-mapping profile, in large batches.

Each row goes through the same check as every other result; a bad row is reported with its
spreadsheet row number (the header is row 1) and the good rows are kept.
"""

from __future__ import annotations

import atexit
import io
import multiprocessing
import os
import tomllib
import zlib
from zipfile import BadZipFile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import NamedTuple
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from openpyxl.utils.exceptions import InvalidFileException

from labs.results import Checked, Rejected, Submission, check, file, status_of, subjects
from labs.trail import Actor, filed_for
from telemed import children
from telemed.db import Database

BATCH = 50_000
PARALLEL_MIN = 20_000  # results; a smaller file is not worth starting worker processes (~1 s)
SHARES_PER_WORKER = 6  # more shares than workers: progress to report, and no worker left idle
MAX_ERRORS = 1000  # reported in full; beyond this only counted
UNREADABLE_TIME = "missing or unreadable collection time"


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    layout: str  # long: one result per row; wide: one sample per row, one column per test
    columns: dict[str, str]
    items: dict[str, tuple[str, str]] = field(default_factory=dict)  # wide: column -> (LOINC, unit)


@cache
def profiles() -> dict[str, Profile]:
    data = tomllib.loads((resources.files("labs") / "data" / "profiles.toml").read_text(encoding="utf-8"))
    return {name: Profile(name, spec.pop("description"), spec.pop("layout"),
                          {k: v for k, v in spec.items() if isinstance(v, str)},
                          {col: tuple(item) for col, item in spec.get("items", {}).items()})
            for name, spec in data.items()}


@dataclass(frozen=True)
class RowError:
    row: int
    reason: str
    column: str = ""

    def text(self) -> str:
        return f"row {self.row}{f' ({self.column})' if self.column else ''}: {self.reason}"


@dataclass
class ImportReport:
    rows: int = 0
    results: int = 0
    added: int = 0
    duplicates: int = 0
    alerts: int = 0
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)
    patients: set[str] = field(default_factory=set)

    def reject(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)

    def merge(self, part: "ImportReport") -> None:
        """Add a worker's share (its results were counted here already)."""
        self.added += part.added
        self.duplicates += part.duplicates
        self.alerts += part.alerts
        self.error_count += part.error_count
        self.errors += part.errors[:MAX_ERRORS - len(self.errors)]
        self.patients |= part.patients

    def as_json(self) -> dict:
        return {"rows": self.rows, "results": self.results, "added": self.added, "duplicates": self.duplicates,
                "alerts": self.alerts, "error_count": self.error_count,
                "errors": [{"row": e.row, "column": e.column, "reason": e.reason} for e in self.errors]}


class FileResult(NamedTuple):
    """One result as the file states it, before the detainee is looked up."""

    row: int
    booking: str
    loinc: str
    value: str
    unit: str
    at: datetime
    status: str = ""  # OBX-11 letter or FHIR word; empty: final
    comment: str = ""
    specimen: str = ""  # accession or specimen id


OPTIONAL_COLUMNS = ("unit", "status", "comment", "specimen")  # long layout: used when the file has them


@dataclass(frozen=True)
class Filing:
    """How an import files: the results' source, the only facility it may file for (None: any),
    and whom each batch's audit entries name (None: the caller audits)."""

    source: str = "import"
    facility_id: str | None = None
    actor: Actor | None = None
    resource: str = ""  # the file, as the audit entries name it


class ImportFailed(ValueError):
    """The file as a whole cannot be read with this profile."""


def read_frame(data: bytes | Path, filename: str = "") -> pd.DataFrame:
    name = (filename or str(data)).lower()
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        if name.endswith((".xlsx", ".xlsm", ".xls")):
            return pd.read_excel(source, dtype=str, keep_default_na=False)
        return pd.read_csv(source, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, BadZipFile, KeyError, OSError,
            InvalidFileException) as exc:  # what pandas and openpyxl raise on a broken or empty file
        raise ImportFailed(f"cannot read {filename or (data if isinstance(data, Path) else 'the file')}: {exc or type(exc).__name__}") from None


def _times(frame: pd.DataFrame, profile: Profile, tz: ZoneInfo) -> list[datetime | None]:
    text = frame[profile.columns["time"]]
    if profile.layout == "wide" and "date" in profile.columns:
        text = frame[profile.columns["date"]] + " " + text
    parsed: dict[str, datetime | None] = {}  # analyzer files repeat each time many times
    return [parsed[t] if t in parsed else parsed.setdefault(t, parse_time(t, tz)) for t in text]


def parse_time(text: str, tz: ZoneInfo) -> datetime | None:
    """ISO 8601 or ``YYYY/MM/DD HH:MM[:SS]``; without an offset, in the facility time zone."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("/", "-"))
    except ValueError:
        return None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def file_results(frame: pd.DataFrame, profile: Profile, tz: ZoneInfo) -> Iterator[FileResult | RowError]:
    """Each result in the frame, or the error that stops a row."""
    optional = {profile.columns.get(k) for k in OPTIONAL_COLUMNS}
    missing = [c for c in [*profile.columns.values(), *profile.items] if c not in frame.columns]
    required_missing = [c for c in missing if c not in profile.items and c not in optional]
    if required_missing:
        raise ImportFailed(f"profile {profile.name}: missing column(s) {', '.join(required_missing)}")
    times = _times(frame, profile, tz)
    bookings = frame[profile.columns["booking"]].str.strip().tolist()  # lists: per-cell pandas access is slow
    if profile.layout == "long":
        extra = [_column(frame, profile.columns.get(k)) for k in OPTIONAL_COLUMNS]
        cells = zip(bookings, frame[profile.columns["code"]].tolist(), frame[profile.columns["value"]].tolist(),
                    times, *extra)
        for row, (booking, code, value, at, unit, status, comment, specimen) in enumerate(cells, start=2):
            yield FileResult(row, booking, code, value, unit, at, status, comment.strip(), specimen.strip()) \
                if at else RowError(row, UNREADABLE_TIME)
        return
    items = [(frame[col].tolist(), loinc, unit) for col, (loinc, unit) in profile.items.items() if col in frame.columns]
    for pos, (booking, at) in enumerate(zip(bookings, times)):
        if at is None:
            yield RowError(pos + 2, UNREADABLE_TIME)
            continue
        for values, loinc, unit in items:
            if values[pos].strip():
                yield FileResult(pos + 2, booking, loinc, values[pos], unit, at)


def _column(frame: pd.DataFrame, name: str | None) -> list[str]:
    return frame[name].tolist() if name in frame else [""] * len(frame)


def import_frame(db: Database, frame: pd.DataFrame, profile: Profile, tz: ZoneInfo, *, source: str = "import",
                 facility_id: str | None = None, progress: Callable[[int, int], None] | None = None,
                 workers: int | None = None, alongside: bool = False, actor: Actor | None = None,
                 resource: str = "") -> ImportReport:
    """Check and file every result in ``frame``; ``facility_id`` limits it to that facility's
    detainees. A large file is filed by ``workers`` processes (default: one per core), which
    die with this process. ``alongside``: this process is one of them (a command-line import;
    not the server, whose event loop carries live video). Each batch is one transaction, with
    an audit entry per detainee it filed for, naming ``actor``."""
    report = ImportReport(rows=len(frame))
    filing = Filing(source, facility_id, actor, resource)
    workers = workers or os.cpu_count() or 1
    # Workers start (~1 s of imports) while this process reads the rows.
    pool = _worker_pool(workers - alongside) if workers > 1 and len(frame) >= PARALLEL_MIN else None
    try:
        items: list[FileResult] = []
        for item in file_results(frame, profile, tz):
            if isinstance(item, RowError):
                report.reject(item)
            else:
                items.append(item)
        report.results = len(items)
        if pool is not None:
            _file_in_workers(pool, db, items, report, filing, workers, progress, alongside)
        else:
            _file_in_batches(db, items, report, filing, progress)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if progress:
        progress(report.rows, report.rows)
    report.errors.sort(key=lambda e: e.row)
    return report


def _worker_pool(workers: int) -> ProcessPoolExecutor:
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                               initargs=(os.getpid(),))
    for _ in range(workers):
        pool.submit(_ready)
    return pool


def _start_worker(parent_pid: int) -> None:
    """A worker ends with the import: killed with it, it files nothing more (its open batch is
    rolled back). Its interpreter teardown frees every module and cache one object at a time
    (0.3-0.5 s of nothing useful): it ends as a forked worker would, once multiprocessing has
    cleaned up after it."""
    children.die_with_parent(parent_pid)
    atexit.register(os._exit, 0)


def _ready() -> None:
    """Nothing: submitted to start a worker, which imports this module on the way."""


def _file_in_workers(pool: ProcessPoolExecutor, db: Database, items: list[FileResult], report: ImportReport,
                     filing: Filing, workers: int, progress: Callable[[int, int], None] | None,
                     alongside: bool) -> None:
    """Half of filing a result is Python (checks, flags, FHIR JSON, index rows) and half is the
    database's: processes that each file a share of the detainees keep both cores busy, one
    checking while the other writes. A detainee's results all go to one share, in file order,
    so that delta checks and duplicate detection see them as one process would.

    ``alongside``, this process files shares from the back of the queue while the workers take
    them from the front: it starts at once, where a worker first spends a second importing."""
    shares: list[list[FileResult]] = [[] for _ in range(workers * SHARES_PER_WORKER)]
    for item in items:
        shares[zlib.crc32(item.booking.encode()) % len(shares)].append(item)
    shares = [share for share in shares if share]
    futures = [pool.submit(_file_share_in_worker, db.url, share, filing) for share in shares]
    done = 0

    def merge(part: ImportReport) -> None:
        nonlocal done
        report.merge(part)
        done += part.results
        if progress:
            progress(report.rows * done // len(items), report.rows)

    for future, share in reversed(list(zip(futures, shares)) if alongside else []):
        if not future.cancel():  # a worker has it, and all those before it
            break
        merge(_file_share(db, share, filing))
    for future in as_completed([f for f in futures if not f.cancelled()]):
        merge(future.result())


def _file_share_in_worker(url: str, items: list[FileResult], filing: Filing) -> ImportReport:
    """In a worker process: file one share of the results, in batches, on its own connection."""
    db = Database(url, threads=1)
    try:
        return _file_share(db, items, filing)
    finally:
        db.close()


def _file_share(db: Database, items: list[FileResult], filing: Filing) -> ImportReport:
    part = ImportReport(results=len(items))
    _file_in_batches(db, items, part, filing)
    return part


def _file_in_batches(db: Database, items: list[FileResult], report: ImportReport, filing: Filing,
                     progress: Callable[[int, int], None] | None = None) -> None:
    """File ``items`` in order, one transaction per ``BATCH`` results."""
    for start in range(0, len(items), BATCH):
        batch = items[start:start + BATCH]
        db.call(_file_batch, batch, report, filing)
        if progress:
            progress(batch[-1].row - 1, report.rows)


def _file_batch(session, batch: list[FileResult], report: ImportReport, filing: Filing) -> None:
    facility_id = filing.facility_id
    people = subjects(session, bookings={item.booking for item in batch})
    checked: list[Checked] = []
    for item in batch:
        subject = people.get(item.booking)
        if subject is not None and facility_id and subject.facility_id != facility_id:
            report.reject(RowError(item.row, f"detainee {item.booking} belongs to another facility"))
            continue
        patient = subject.patient_id if subject else item.booking
        status = status_of(item.status)
        if status is None:
            continue  # "in the laboratory": nothing to file yet
        sub = Submission(patient, item.loinc, item.value, item.at, unit=item.unit, status=status,
                         notes=(item.comment,) if item.comment else (), specimen_id=item.specimen or None)
        try:
            checked.append(check(sub, subject))
        except Rejected as exc:
            report.reject(RowError(item.row, str(exc)))
    filed = file(session, checked, filing.source)
    if filing.actor is not None:
        filed_for(session, filing.actor, "labs.import", filed.results, filing.resource)
    report.added += len(filed.results)
    report.duplicates += filed.duplicates
    report.alerts += len(filed.alert_ids)
    report.patients.update(c.subject.patient_id for c in checked)
