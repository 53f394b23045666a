"""Cohort statistics of a finished batch, with pandas: participation, prevalence of each flagged
finding by sex and age band, chronic conditions found, and the follow-up list by urgency.

The input is what each worker stored per detainee (``report_item.findings``), so the summary
costs one query, not a second pass over the FHIR store.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
from sqlmodel import Session, select

from reports.advice import URGENCY_ORDER
from reports.campaigns import completion
from reports.models import ReportItem, ReportJob
from telemed.db import Database
from telemed.models import Detainee

AGE_BANDS = ((18, 29), (30, 39), (40, 49), (50, 59), (60, 200))
ALL = "all"
# condition -> test over one detainee's findings {code: (flag, number)}; molar LOINC codes (SI units).
GLUCOSE = ("14771-0", "14749-6")  # fasting glucose; glucose (the exam draw is fasting)
HBSAG = ("5196-1", "5195-3")


def _value(found: dict, code: str) -> float:
    return found.get(code, ("", None))[1] or 0.0


def _flagged(found: dict, code: str) -> bool:
    return found.get(code, ("N", None))[0] not in ("", "N")


CHRONIC = {
    "hypertension": lambda f: f.get("85354-9", ("", None))[0] in ("H", "HH"),
    "diabetes": lambda f: any(_value(f, c) >= 7.0 for c in GLUCOSE) or _value(f, "4548-4") >= 6.5,
    "hbv_carrier": lambda f: any(_flagged(f, c) for c in HBSAG),
    "obesity": lambda f: _value(f, "39156-5") >= 28,
    "dyslipidaemia": lambda f: _value(f, "14647-2") >= 6.2 or _value(f, "14927-8") >= 2.3 or _value(f, "22748-8") >= 4.1,
}


def age_band(age: float | None) -> str:
    if age is None or pd.isna(age):
        return "unknown"
    for low, high in AGE_BANDS:
        if low <= age <= high:
            return f"{low}-{high}" if high < 200 else f"{low}+"
    return "<18"


def frames(rows: list[tuple[str, str, str, str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(people, findings) from (patient_id, booking, name, findings-json) rows."""
    people, found = [], []
    for patient_id, booking, name, blob in rows:
        data = orjson.loads(blob)
        people.append({"patient_id": patient_id, "booking_number": booking, "name": name, "sex": data["sex"],
                       "age": data["age"], "age_band": age_band(data["age"]), "status": data["status"]})
        found += [{"patient_id": patient_id, **f} for f in data["findings"]]
    columns = ["patient_id", "kind", "code", "name", "value", "flag", "advice", "urgency", "number"]
    return pd.DataFrame(people), pd.DataFrame(found, columns=columns)


GROUPINGS = (("sex_all", "age_all"), ("sex", "age_all"), ("sex_all", "age_band"), ("sex", "age_band"))


def prevalence(people: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    """Per finding and group (sex x age band, each margin as "all"): examined, flagged, percent."""
    examined = people[people.status == "examined"].assign(sex_all=ALL, age_all=ALL)
    hits = findings.drop_duplicates(["patient_id", "code"]).merge(examined, on="patient_id", suffixes=("", "_p"))
    names = hits.groupby("code")["name"].first()
    parts = []
    for sex, band in GROUPINGS:
        base = examined.groupby([sex, band]).size().rename("examined")
        flagged = hits.groupby(["code", sex, band]).size().rename("flagged").reset_index().join(base, on=[sex, band])
        parts.append(flagged.rename(columns={sex: "sex", band: "age_band"}))
    columns = ["code", "name", "sex", "age_band", "examined", "flagged", "percent"]
    if hits.empty:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(parts, ignore_index=True)
    frame["name"] = frame.code.map(names)
    frame["percent"] = (100 * frame.flagged / frame.examined).round(1)
    frame = frame.sort_values(["sex", "age_band", "flagged", "code"], ascending=[True, True, False, True])
    return frame[columns].reset_index(drop=True)


def _by_patient(findings: pd.DataFrame) -> dict[str, dict[str, tuple[str, float | None]]]:
    table: dict[str, dict[str, tuple[str, float | None]]] = {}
    for row in findings.itertuples(index=False):
        number = None if row.number is None or pd.isna(row.number) else float(row.number)
        table.setdefault(row.patient_id, {})[row.code] = (row.flag, number)
    return table


def chronic(people: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    """Detainees found with each chronic condition, overall and by sex."""
    examined = people[people.status == "examined"]
    per_patient = _by_patient(findings)
    rows = []
    for condition, test in CHRONIC.items():
        has = examined.patient_id.map(lambda pid: bool(test(per_patient.get(pid, {}))))
        row = {"condition": condition, "examined": len(examined), "count": int(has.sum()),
               "percent": round(100 * has.mean(), 1) if len(examined) else 0.0}
        for sex in ("male", "female"):
            row[f"count_{sex}"] = int(has[examined.sex == sex].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def followup(people: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    """Who needs what: one row per detainee with a flagged finding, most urgent first."""
    if findings.empty:
        return pd.DataFrame(columns=["urgency", "booking_number", "name", "findings", "advice"])
    merged = findings.merge(people[["patient_id", "booking_number", "name"]], on="patient_id", suffixes=("", "_person"))
    merged["rank"] = merged.urgency.map(URGENCY_ORDER)
    grouped = merged.groupby(["patient_id", "booking_number", "name_person"]).agg(
        rank=("rank", "min"),
        findings=("name", lambda s: "；".join(dict.fromkeys(s))),
        advice=("advice", lambda s: "；".join(dict.fromkeys(a for a in s if a))),
    ).reset_index()
    by_rank = {v: k for k, v in URGENCY_ORDER.items()}
    grouped["urgency"] = grouped["rank"].map(by_rank)
    grouped = grouped.rename(columns={"name_person": "name"}).sort_values(["rank", "booking_number"])
    return grouped[["urgency", "booking_number", "name", "findings", "advice"]].reset_index(drop=True)


def participation(counts: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame([{"measure": k, "count": v} for k, v in counts.items()])


def load_rows(session: Session, job_id: str) -> tuple[list[tuple[str, str, str, str]], dict[str, int]]:
    job = session.get(ReportJob, job_id)
    rows = session.exec(
        select(ReportItem.patient_id, Detainee.booking_number, Detainee.name, ReportItem.findings)
        .join(Detainee, Detainee.patient_id == ReportItem.patient_id)
        .where(ReportItem.job_id == job_id, ReportItem.done == True, ReportItem.pages > 0)  # noqa: E712
        .order_by(ReportItem.file_name)
    ).all()
    return [tuple(r) for r in rows], completion(session, job.campaign_id)


def write_summary(db: Database, job_id: str, out_dir: Path, lang: str) -> list[str]:
    """summary.xlsx, one CSV per table and summary.pdf (with charts) in ``out_dir``."""
    from reports.summary_pdf import render_summary

    rows, counts = db.call(load_rows, job_id)
    people, findings = frames(rows)
    tables = {"participation": participation(counts), "prevalence": prevalence(people, findings),
              "chronic": chronic(people, findings), "followup": followup(people, findings)}
    written = []
    for name, table in tables.items():
        table.to_csv(out_dir / f"{name}.csv", index=False, encoding="utf-8-sig")
        written.append(f"{name}.csv")
    with pd.ExcelWriter(out_dir / "summary.xlsx", engine="openpyxl") as excel:
        for name, table in tables.items():
            table.to_excel(excel, sheet_name=name, index=False)
    (out_dir / "summary.pdf").write_bytes(render_summary(tables, lang))
    return [*written, "summary.xlsx", "summary.pdf"]
