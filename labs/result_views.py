"""One detainee's results for the labs page: the current value of each (as written, with its
status and specimen conditions), a result's version history, and a correction by a person."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select
from sqlmodel import Session

from ehr import store
from ehr.values import marks, quantity
from labs import alerts, values
from labs.catalog import catalogue
from labs.marks import conditions_of, row_marks
from labs.models import LabResult
from labs.results import Rejected, Submission, check, file, subjects
from labs.trends import visible_filter
from telemed import display
from telemed.context import context_of
from telemed.http import api_error, authorize, json_response, principal, read_json
from telemed.i18n import translate
from telemed.policy import Capability
from telemed.timeutil import as_utc

MAX_RESULTS = 200
MAX_REASON = 500


def result_json(row: LabResult, lang: str) -> dict:
    test = catalogue().test(row.loinc)
    return {"observation_id": row.observation_id, "loinc": row.loinc, "abbr": test.abbr, "name": test.name(lang),
            "value": values.display(row.value_num, row.value_code, row.value_text, "", lang),
            "unit": display.unit(row.unit, lang), "flag": row.flag,
            "flag_label": translate(lang, f"ehr.interpretation.{row.flag}") if row.flag else "",
            "status": row.status, "conditions": conditions_of(row), "marks": row_marks(row, lang),
            "censored": bool(row.comparator), "effective_at": as_utc(row.effective_at).isoformat(),
            "quantitative": test.quantitative}


def recent(session: Session, patient_id: str, consult_ids: tuple[str, ...] | None, lang: str) -> list[dict]:
    rows = session.execute(select(LabResult).where(LabResult.patient_id == patient_id)
                           .order_by(LabResult.effective_at.desc(), LabResult.id).limit(MAX_RESULTS)).scalars()
    visible = visible_filter(session, consult_ids)
    return [result_json(r, lang) for r in rows if visible(r.observation_id, r.report_id)]


COLUMNS = ("version", "recorded", "result", "flag", "note")


def version_json(stored, lang: str) -> dict:
    resource = stored.resource
    flag = next((c.get("code", "") for i in resource.get("interpretation", []) for c in i.get("coding", [])), "")
    return {"version": stored.version, "at": stored.last_updated.isoformat(), "status": resource.get("status"),
            "value": quantity(resource), "flag": flag,
            "flag_label": translate(lang, f"ehr.interpretation.{flag}") if flag else "",
            "marks": [label for _, label in marks(resource, lang)],
            "notes": [" · ".join(filter(None, (n.get("text", ""), n.get("authorString", ""))))
                      for n in resource.get("note", [])]}


def history(session: Session, observation_id: str, lang: str, timezone: str) -> dict:
    versions = store.history(session, "Observation", observation_id, count=100)
    return {"columns": {c: translate(lang, f"labs.history.{c}") for c in COLUMNS}, "timezone": timezone,
            "versions": [version_json(v, lang) for v in sorted(versions, key=lambda v: v.version)]}


def _row(session: Session, observation_id: str) -> LabResult | None:
    return session.execute(select(LabResult).where(LabResult.observation_id == observation_id)).scalars().first()


async def _result(request: web.Request, capability: Capability, action: str) -> tuple[LabResult, object]:
    """The result named in the path, once the caller may see it (404 when not, as if absent)."""
    observation_id = request.match_info["observation_id"]
    db = context_of(request).db
    row = await db.run(_row, observation_id)
    if row is None:
        raise api_error(404, f"no lab result {observation_id}")
    decision = await authorize(request, capability, row.patient_id, action, resource=("Observation", observation_id))
    shown = await db.run(lambda s: visible_filter(s, decision.consult_ids)(row.observation_id, row.report_id))
    if not shown:
        raise api_error(404, f"no lab result {observation_id}")
    return row, decision


async def get_results(request: web.Request) -> web.Response:
    patient_id = request.query.get("patient", "")
    decision = await authorize(request, Capability.CLINICAL_READ, patient_id, "labs.results.read")
    lang = request.query.get("lang", "zh-CN")
    return json_response(await context_of(request).db.run(recent, patient_id, decision.consult_ids, lang))


async def get_history(request: web.Request) -> web.Response:
    row, _ = await _result(request, Capability.CLINICAL_READ, "labs.results.history")
    ctx = context_of(request)
    return json_response(await ctx.db.run(history, row.observation_id, request.query.get("lang", "zh-CN"),
                                          ctx.settings.timezone))


def _correct(session: Session, row: LabResult, value: object, unit: str, reason: str, author: str) -> dict:
    subject = subjects(session, patient_ids={row.patient_id}).get(row.patient_id)
    sub = Submission(row.patient_id, row.loinc, value, row.effective_at, unit=unit, order_id=row.order_id,
                     status="corrected", specimen_id=row.specimen_id, reason=reason, author=author,
                     conditions=tuple(c for c in row.conditions.split(",") if c))
    item = check(sub, subject)
    if (item.value_num, item.value_code, item.value_text) == (row.value_num, row.value_code, row.value_text):
        raise Rejected("value: the same as the current result; nothing to correct")
    filed = file(session, [item], "manual")
    return {"results": filed.results, "alerts": filed.alert_ids}


async def post_correct(request: web.Request) -> web.Response:
    """A person's correction: the new value and why; the earlier value stays in the history."""
    body = await read_json(request)
    row, _ = await _result(request, Capability.ENTER_RESULTS, "labs.results.correct")
    reason, value, unit = (body.get(k) for k in ("reason", "value", "unit"))
    if not isinstance(reason, str) or not reason.strip():
        raise api_error(422, "reason: say why the result is corrected", field="reason")
    if not isinstance(value, str | int | float) or isinstance(value, bool) or not str(value).strip():
        raise api_error(422, "value: the corrected value is missing", field="value")
    if unit is not None and not isinstance(unit, str):
        raise api_error(400, "unit must be a string", field="unit")
    try:
        outcome = await context_of(request).db.run(_correct, row, value, unit or "", reason.strip()[:MAX_REASON],
                                                   principal(request).display_name)
    except Rejected as exc:
        raise api_error(422, str(exc), field="value") from None
    if outcome["alerts"]:
        alerts.wake(request.app)
    return json_response(outcome)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/labs/results", get_results)
    app.router.add_get("/api/labs/results/{observation_id}/history", get_history)
    app.router.add_post("/api/labs/results/{observation_id}/correct", post_correct)
