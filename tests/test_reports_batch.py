"""Report batches: the duplex print file, the ZIP, the cohort summary checked against an
independent pandas computation, cancellation, and resumption after an interruption."""

from __future__ import annotations

import io
import threading
import zipfile
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from pypdf import PdfReader
from sqlmodel import select

from ehr import store
from reports.batch import BatchResult, cancel_job, create_job, open_pool, run_batch, run_job
from reports.models import Exam, ReportItem, ReportJob
from reports.synthetic import seed_campaign
from telemed.models import Detainee
from telemed.timeutil import utcnow
from tests.conftest import both_databases

N = 14


@pytest.fixture
def campaign(context, world) -> str:
    return seed_campaign(context.db, "fac-a", N, seed=7, refused=0.1, pending=0.1)


def items(context, job_id: str) -> list[ReportItem]:
    return context.db.call(lambda s: list(s.exec(select(ReportItem).where(ReportItem.job_id == job_id)
                                                 .order_by(ReportItem.file_name)).all()))


def page_text(reader: PdfReader, index: int) -> str:
    return reader.pages[index].extract_text() or ""


@both_databases
def test_batch_builds_duplex_print_file_zip_and_summary(context, settings, campaign):
    result = run_batch(settings, campaign, workers=2)
    assert result.status == "done" and result.done == result.total > 0
    rows = items(context, result.job_id)
    assert all(r.done and r.pages >= 1 for r in rows)
    merged = PdfReader(result.out_dir / "merged.pdf")
    start = 0
    for row in rows:
        assert start % 2 == 0, "each detainee starts on an odd (1-based) page"
        booking = row.file_name.removesuffix(".pdf")
        assert booking in page_text(merged, start)
        start += row.pages + row.pages % 2
    assert len(merged.pages) == start
    with zipfile.ZipFile(result.out_dir / "reports.zip") as archive:
        names = archive.namelist()
        bookings = context.db.call(lambda s: set(s.exec(select(Detainee.booking_number)).all()))
        assert sorted(names) == sorted(r.file_name for r in rows)
        assert {n.removesuffix(".pdf") for n in names} <= bookings
        assert PdfReader(io.BytesIO(archive.read(names[0]))).pages
    assert {"summary.pdf", "summary.xlsx", "prevalence.csv", "chronic.csv", "followup.csv",
            "participation.csv"} <= set(result.files)
    check_summary_independently(context, campaign, result)


def _flag(resource: dict) -> str:
    return next((c["code"] for i in resource.get("interpretation", []) for c in i.get("coding", [])), "N")


def check_summary_independently(context, campaign: str, result: BatchResult) -> None:
    """Recompute lab prevalence and hypertension from the FHIR store itself, with pandas."""
    def facts(session):
        exams = session.exec(select(Exam, Detainee).join(Detainee, Detainee.patient_id == Exam.patient_id)
                             .where(Exam.campaign_id == campaign)).all()
        labs, pressure, people = [], [], []
        for exam, person in exams:
            people.append({"patient_id": person.patient_id, "sex": person.sex, "status": exam.status})
            if exam.status != "examined":
                continue
            for stored in store.by_patient(session, person.patient_id, ("Observation",)):
                resource = stored.resource
                code = resource["code"]["coding"][0]["code"] if resource["code"].get("coding") else ""
                if stored.id == f"exam-{exam.id}-bp":
                    sbp, dbp = (c["valueQuantity"]["value"] for c in resource["component"])
                    pressure.append({"patient_id": person.patient_id, "high": sbp >= 140 or dbp >= 90})
                elif resource["category"][0]["coding"][0]["code"] == "laboratory":
                    value = resource.get("valueQuantity", {}).get("value")
                    labs.append({"patient_id": person.patient_id, "code": code, "flag": _flag(resource),
                                 "value": value})
        return pd.DataFrame(people), pd.DataFrame(labs), pd.DataFrame(pressure)

    people, labs, pressure = context.db.call(facts)
    examined = people[people.status == "examined"]
    flagged = labs[labs.flag != "N"].merge(examined, on="patient_id")
    expected = flagged.groupby("code").patient_id.nunique()
    summary = pd.read_csv(result.out_dir / "prevalence.csv", dtype={"code": str}, encoding="utf-8-sig")
    overall = summary[(summary.sex == "all") & (summary.age_band == "all")].set_index("code")
    for code, count in expected.items():
        assert overall.loc[code, "flagged"] == count, code
        assert overall.loc[code, "examined"] == len(examined)
        assert overall.loc[code, "percent"] == round(100 * count / len(examined), 1)
    male = summary[(summary.sex == "male") & (summary.age_band == "all")].set_index("code")
    by_male = flagged[flagged.sex == "male"].groupby("code").patient_id.nunique()
    for code, count in by_male.items():
        assert male.loc[code, "flagged"] == count
    chronic = pd.read_csv(result.out_dir / "chronic.csv", encoding="utf-8-sig").set_index("condition")
    assert chronic.loc["hypertension", "count"] == int(pressure.high.sum())
    glucose = labs[(labs.code == "14771-0") & (labs.value >= 7.0)].merge(examined, on="patient_id")
    assert chronic.loc["diabetes", "count"] == glucose.patient_id.nunique()
    carriers = labs[(labs.code == "5196-1") & (labs.flag != "N")].merge(examined, on="patient_id")
    assert chronic.loc["hbv_carrier", "count"] == carriers.patient_id.nunique()
    participation = pd.read_csv(result.out_dir / "participation.csv", encoding="utf-8-sig").set_index("measure")
    assert participation.loc["total", "count"] == N
    assert participation.loc["examined", "count"] == len(examined)


def test_cancel_stops_and_an_interrupted_job_resumes_with_only_the_missing_reports(context, settings, campaign,
                                                                                   monkeypatch):
    monkeypatch.setattr("reports.batch.RECORD_EVERY", 0)  # record (and look for a cancel) after every report
    job = context.db.call(create_job, campaign, "zh-CN", settings.data_dir)
    stop = threading.Event()
    with open_pool(settings, 1) as pool:
        # a server shutting down after the first report: the job stays "running" in the database
        run_job(settings, job.id, db=context.db, pool=pool, on_progress=lambda j: stop.set(), stop=stop)
        first = [r for r in items(context, job.id) if r.done]
        assert 0 < len(first) < job.total
        assert context.db.call(lambda s: s.get(ReportJob, job.id)).status == "running"
        out = Path(job.out_dir)
        stamps = {r.file_name: (out / "pdf" / r.file_name).stat().st_mtime_ns for r in first}
        assert not (out / "merged.pdf").exists()
        # a new runner (the restarted server, or the CLI run again) finishes only what is missing
        result = run_job(settings, job.id, db=context.db, pool=pool)
    assert result.status == "done" and result.done == job.total
    assert {r.file_name: (out / "pdf" / r.file_name).stat().st_mtime_ns for r in first} == stamps

    second = context.db.call(create_job, campaign, "en", settings.data_dir)
    with open_pool(settings, 1) as pool:
        cancelled = run_job(settings, second.id, db=context.db, pool=pool,
                            on_progress=lambda j: context.db.call(cancel_job, j.id))
    assert cancelled.status == "cancelled" and cancelled.done < second.total
    assert "merged.pdf" not in cancelled.files


def test_a_report_that_cannot_be_built_does_not_stop_the_batch(context, settings, campaign):
    job = context.db.call(create_job, campaign, "zh-CN", settings.data_dir)
    broken = items(context, job.id)[0]
    context.db.call(lambda s: s.delete(s.get(Detainee, broken.patient_id)))  # its report has no detainee to print
    with open_pool(settings, 1) as pool:
        result = run_job(settings, job.id, db=context.db, pool=pool)
    assert result.status == "done" and result.done == job.total
    finished = context.db.call(lambda s: s.get(ReportJob, job.id))
    assert broken.file_name.removesuffix(".pdf") in finished.error
    with zipfile.ZipFile(result.out_dir / "reports.zip") as archive:
        assert broken.file_name not in archive.namelist() and len(archive.namelist()) == job.total - 1


@both_databases
def test_a_batch_leased_to_a_live_process_is_left_to_it_and_taken_over_when_its_lease_runs_out(context, settings,
                                                                                              campaign):
    """Another server process holds the lease: this one renders nothing. Its lease runs out (the
    process died): this one takes the batch over and renders each report once."""
    job = context.db.call(create_job, campaign, "zh-CN", settings.data_dir)

    def lease(session, until) -> None:
        held = session.get(ReportJob, job.id)
        held.lease_owner, held.lease_until = "app-2.example:4242", until
        session.add(held)
    context.db.call(lease, utcnow() + timedelta(minutes=1))
    with open_pool(settings, 1) as pool:
        left = run_job(settings, job.id, db=context.db, pool=pool)
        assert left.status == "queued" and left.done == 0 and not any(r.done for r in items(context, job.id))
        context.db.call(lease, utcnow() - timedelta(seconds=1))
        taken = run_job(settings, job.id, db=context.db, pool=pool)
    assert taken.status == "done" and taken.done == taken.total == len(items(context, job.id))
    assert context.db.call(lambda s: s.get(ReportJob, job.id)).lease_owner == ""
