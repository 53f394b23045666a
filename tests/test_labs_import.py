"""Analyzer file import: bad rows reported by row number, good rows kept, re-import adds nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pandas as pd
import pytest
from sqlalchemy import func, select

from labs import importer
from labs.cli import cmd_import, operator
from labs.models import LabResult
from telemed.models import AuditEntry
from tests.conftest import both_databases

GENERIC = """booking_number,loinc,value,unit,collected_at
fac-a-1,2823-3,4.2,mmol/L,2026-03-01 08:00
fac-a-1,14749-6,90,mg/dL,2026-03-01 08:00
fac-a-2,718-7,13.1,g/dL,2026-03-01T09:00:00+08:00
nobody,2823-3,4.0,mmol/L,2026-03-01 08:00
fac-a-1,2951-2,abc,mmol/L,2026-03-01 08:00
fac-a-1,2075-0,101,g/L,2026-03-01 08:00
fac-a-1,2823-3,4.4,mmol/L,not a time
fac-a-1,00000-0,1,,2026-03-01 08:00
fac-b-1,2823-3,4.0,mmol/L,2026-03-01 08:00
fac-a-1,5196-1,阴性,,2026-03-01 08:00
"""

MINDRAY = """Sample ID,Patient ID,Date,Time,WBC,Neu%,HGB,HCT,PLT
1001,fac-a-1,2026/03/02,07:45:00,6.1,55.2,142,43.1,230
1002,fac-a-2,2026/03/02,07:50:00,25.0,80.1,98,30.2,15
"""


def count(context) -> int:
    return context.db.call(lambda s: s.execute(select(func.count()).select_from(LabResult)).scalar())


def run(context, text: str, profile: str = "generic", facility: str | None = "fac-a") -> importer.ImportReport:
    frame = importer.read_frame(text.encode(), "upload.csv")
    return importer.import_frame(context.db, frame, importer.profiles()[profile], context.settings.tz,
                                 facility_id=facility)


@both_databases
def test_bad_rows_reported_good_rows_kept_and_reimport_adds_nothing(context, world):
    report = run(context, GENERIC)
    assert report.added == 4 and report.error_count == 6
    reasons = {e.row: e.reason for e in report.errors}
    assert "unknown detainee 'nobody'" in reasons[5]
    assert "not a number" in reasons[6]
    assert "unit 'g/L' is not accepted" in reasons[7]
    assert "collection time" in reasons[8]
    assert "unknown test code" in reasons[9]
    assert "another facility" in reasons[10]
    rows = {r.loinc: r for r in context.db.call(lambda s: s.execute(select(LabResult)).scalars().all())}
    assert rows["14749-6"].value_num == pytest.approx(5.0, abs=0.01)  # 90 mg/dL
    assert rows["718-7"].value_num == 131 and rows["718-7"].flag == "N"  # 13.1 g/dL, female
    assert rows["5196-1"].value_code == "neg"
    assert rows["2823-3"].effective_at.isoformat() == "2026-03-01T00:00:00+00:00"  # 08:00 Shanghai
    again = run(context, GENERIC)
    assert again.added == 0 and again.duplicates == 4 and count(context) == 4


def test_mindray_export_in_us_units(context, world):
    report = run(context, MINDRAY, "mindray-bc5380")
    assert report.added == 10 and report.error_count == 0 and report.alerts == 1  # PLT 15 is critical
    flags = {(r.patient_id, r.loinc): r.flag for r in context.db.call(lambda s: s.execute(select(LabResult)).scalars().all())}
    assert flags[("fac-a-p2", "777-3")] == "LL" and flags[("fac-a-p2", "6690-2")] == "H"
    assert flags[("fac-a-p1", "4544-3")] == "N"


def test_excel_and_unreadable_files(context, world, tmp_path: Path):
    path = tmp_path / "export.xlsx"
    pd.read_csv(importer.io.StringIO(GENERIC), dtype=str).to_excel(path, index=False)
    report = importer.import_frame(context.db, importer.read_frame(path), importer.profiles()["generic"],
                                   context.settings.tz, facility_id="fac-a")
    assert report.added == 4 and report.error_count == 6
    with pytest.raises(importer.ImportFailed, match="missing column"):
        run(context, "a,b\n1,2\n")


def test_cli_import(context, world, tmp_path: Path, capsys):
    path = tmp_path / "bc5380.csv"
    path.write_text(MINDRAY, encoding="utf-8")
    args = type("Args", (), {"file": path, "profile": "mindray-bc5380", "facility": "fac-a"})()
    assert cmd_import(args, context.settings) == 0
    assert "10 result(s) added" in capsys.readouterr().out
    entries = context.db.call(lambda s: s.execute(select(AuditEntry).where(AuditEntry.action == "labs.import")
                                                  .order_by(AuditEntry.patient_id)).scalars().all())
    assert [(e.patient_id, e.reason, e.resource) for e in entries] == [
        ("fac-a-p1", "5 result(s) filed", "file/bc5380.csv"), ("fac-a-p2", "5 result(s) filed", "file/bc5380.csv")]
    assert {e.username for e in entries} == {operator().username} and entries[0].username.startswith("cli:")
    assert cmd_import(args, context.settings) == 0
    assert "0 result(s) added, 10 already present" in capsys.readouterr().out
    args.profile = "nope"
    assert cmd_import(args, context.settings) == 2


async def test_upload_with_pushed_progress(client, login, context):
    headers = await login("doc-a")
    ws = await client.ws_connect("/ws/events", headers=headers)
    await asyncio.sleep(0.05)
    form = aiohttp.FormData()
    form.add_field("profile", "generic")
    form.add_field("file", GENERIC.encode(), filename="export.csv", content_type="text/csv")
    response = await client.post("/api/labs/import", data=form, headers=headers)
    assert response.status == 200, await response.text()
    report = await response.json()
    assert report["added"] == 4 and report["error_count"] == 6 and report["errors"][0]["row"] == 5
    progress = await ws.receive_json(timeout=5)
    assert progress["type"] == "lab.import.progress" and progress["total"] == 10
    await ws.close()
    entries = context.db.call(lambda s: s.execute(select(AuditEntry).where(AuditEntry.action == "labs.import")
                                                  .order_by(AuditEntry.patient_id)).scalars().all())
    assert [(e.username, e.patient_id, e.reason, e.resource) for e in entries] == [
        ("doc-a", "fac-a-p1", "3 result(s) filed", "upload/export.csv"),
        ("doc-a", "fac-a-p2", "1 result(s) filed", "upload/export.csv")]
    form = aiohttp.FormData()
    form.add_field("file", GENERIC.encode(), filename="export.csv", content_type="text/csv")
    denied = await client.post("/api/labs/import", data=form, headers=await login("spec-1"))
    assert denied.status == 403


DELTAS = """booking_number,loinc,value,unit,collected_at
fac-a-1,2823-3,4.0,mmol/L,2026-02-28 08:00
fac-a-2,2823-3,4.1,mmol/L,2026-03-01 08:00
fac-a-1,2823-3,6.4,mmol/L,2026-03-02 08:00
fac-a-1,2823-3,6.4,mmol/L,2026-03-02 08:00
"""


@both_databases
@pytest.mark.parametrize("alongside", [False, True], ids=["workers", "workers-and-caller"])
def test_worker_processes_file_as_one_process_would(context, world, monkeypatch, alongside):
    """Each detainee's results go to one worker, in file order, one per batch here: the delta
    check and duplicate detection must still see the earlier ones. Alongside, the calling
    process files shares from the back of the queue while a worker starts."""
    monkeypatch.setattr(importer, "PARALLEL_MIN", 1)
    monkeypatch.setattr(importer, "BATCH", 1)

    def in_workers(text: str) -> importer.ImportReport:
        frame = importer.read_frame(text.encode(), "upload.csv")
        return importer.import_frame(context.db, frame, importer.profiles()["generic"], context.settings.tz,
                                     facility_id="fac-a", workers=2, alongside=alongside)

    report = in_workers(GENERIC)
    assert report.added == 4 and report.error_count == 6 and report.patients == {"fac-a-p1", "fac-a-p2"}
    assert [e.row for e in report.errors] == [5, 6, 7, 8, 9, 10]
    assert "another facility" in report.errors[-1].reason
    report = in_workers(DELTAS)  # potassium: 6.4 is critical, and 2.2 above the 4.2 of the day before
    assert report.added == 3 and report.duplicates == 1 and report.alerts == 1
    rows = context.db.call(lambda s: s.execute(select(LabResult).where(LabResult.loinc == "2823-3")
                                               .order_by(LabResult.patient_id, LabResult.effective_at)).scalars().all())
    assert [(r.patient_id, r.value_num, r.delta_flag) for r in rows] == [
        ("fac-a-p1", 4.0, False), ("fac-a-p1", 4.2, False), ("fac-a-p1", 6.4, True), ("fac-a-p2", 4.1, False)]
    again = in_workers(GENERIC)
    assert again.added == 0 and again.duplicates == 4
