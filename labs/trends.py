"""Time series of one detainee's results per test, for the chart on the record page.

A specialist sees only the results their consult shared (the Observation or its report)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select
from sqlmodel import Session

from labs.catalog import catalogue
from labs.corrections import WITHDRAWN
from labs.marks import row_marks
from labs.models import LabResult
from labs.results import subjects
from telemed.context import context_of
from telemed.http import api_error, authorize, json_response
from telemed.policy import Capability, shared_resources
from telemed.timeutil import utcnow

MAX_POINTS = 500


def visible_filter(session: Session, consult_ids: tuple[str, ...] | None):
    """A filter over result rows: everything, or only what the consults shared."""
    if consult_ids is None:
        return lambda obs_id, report_id: True
    shared = shared_resources(session, consult_ids)
    return lambda obs_id, report_id: ("Observation", obs_id) in shared or ("DiagnosticReport", report_id) in shared


def tested(session: Session, patient_id: str, consult_ids: tuple[str, ...] | None, lang: str) -> list[dict]:
    rows = session.execute(select(LabResult.loinc, LabResult.observation_id, LabResult.report_id,
                                  LabResult.effective_at, LabResult.flag)
                           .where(LabResult.patient_id == patient_id, LabResult.status.not_in(WITHDRAWN))
                           .order_by(LabResult.effective_at)).all()
    visible = visible_filter(session, consult_ids)
    found: dict[str, dict] = {}
    for loinc, obs_id, report_id, at, flag in rows:
        if visible(obs_id, report_id):
            test = catalogue().test(loinc)
            entry = found.setdefault(loinc, {"loinc": loinc, "abbr": test.abbr, "name": test.name(lang),
                                             "panel": test.panel, "quantitative": test.quantitative, "count": 0})
            entry.update(count=entry["count"] + 1, last_at=at.isoformat(), last_flag=flag)
    return sorted(found.values(), key=lambda e: (e["panel"], e["abbr"]))


def series(session: Session, patient_id: str, loinc: str, consult_ids: tuple[str, ...] | None, lang: str,
           timezone: str) -> dict:
    test = catalogue().test(loinc)
    rows = session.execute(select(LabResult).where(LabResult.patient_id == patient_id, LabResult.loinc == loinc,
                                                   LabResult.status.not_in(WITHDRAWN))
                           .order_by(LabResult.effective_at.desc()).limit(MAX_POINTS)).scalars().all()
    visible = visible_filter(session, consult_ids)
    subject = subjects(session, patient_ids={patient_id}).get(patient_id)
    band = test.band(subject.sex, subject.age_at(utcnow())) if subject else None
    # A censored value is drawn at its limit and marked; a range or ratio is listed, not drawn.
    points = [{"at": r.effective_at.isoformat(), "value": r.value_num, "value_code": r.value_code, "flag": r.flag,
               "delta_flag": r.delta_flag, "observation_id": r.observation_id, "text": r.value_text,
               "censored": bool(r.comparator), "status": r.status, "marks": row_marks(r, lang)}
              for r in reversed(rows) if visible(r.observation_id, r.report_id)]
    return {"loinc": loinc, "abbr": test.abbr, "name": test.name(lang), "unit": test.unit,
            "quantitative": test.quantitative, "values": list(test.values), "decimals": test.decimals,
            "low": band.low if band else None, "high": band.high if band else None,
            "critical_low": test.crit_low, "critical_high": test.crit_high, "points": points, "timezone": timezone}


async def get_trends(request: web.Request) -> web.Response:
    patient_id = request.query.get("patient", "")
    loinc = request.query.get("loinc", "")
    if loinc and catalogue().test(loinc) is None:
        raise api_error(404, f"unknown test {loinc}")
    # Per-result sharing is applied below, from the consults the decision names.
    decision = await authorize(request, Capability.CLINICAL_READ, patient_id, "labs.trends")
    lang = request.query.get("lang", "zh-CN")
    db = context_of(request).db
    if loinc:
        timezone = context_of(request).settings.timezone
        return json_response(await db.run(series, patient_id, loinc, decision.consult_ids, lang, timezone))
    return json_response(await db.run(tested, patient_id, decision.consult_ids, lang))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/labs/trends", get_trends)
