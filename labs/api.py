"""HTTP routes of the labs capability: catalogue, orders, results, alerts, held messages, import, trends."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from aiohttp import web

from labs import alerts, analyzers_api, held, hl7, importer, pages, result_views, trends
from labs.catalog import catalogue
from labs.models import LabOrder
from labs.orders import cancel_test, open_orders, order_json, place_order
from labs.results import Rejected, Submission, check, file, subjects
from labs.sync import sync_catalogue
from labs.trail import Actor
from telemed import display
from telemed.context import context_of
from telemed.events import user
from telemed.http import REQUEST_ID, api_error, audit, authorize, json_response, principal, read_json, require
from telemed.i18n import translate
from telemed.policy import Capability
from telemed.timeutil import as_utc, utcnow
from telemed.ui import language


log = logging.getLogger("telemed.labs")
SYNC_TASK = web.AppKey("labs_sync_task", asyncio.Task)


def catalogue_json(lang: str) -> dict:
    cat = catalogue()
    tests = [{
        "loinc": t.loinc, "panel": t.panel, "abbr": t.abbr, "name": t.name(lang), "name_en": t.name_en,
        "name_zh": t.name_zh, "specimen": t.specimen, "scale": t.scale, "unit": t.unit, "decimals": t.decimals,
        "alt_units": t.alt_units, "values": list(t.values), "normal": list(t.normal),
        "ranges": {sex: [{"low": b.low, "high": b.high, "age_min": b.age_min, "age_max": b.age_max} for b in bands]
                   if bands is not None else None for sex, bands in t.ranges.items()},
        "ref_source": t.ref_source, "critical_low": t.crit_low, "critical_high": t.crit_high,
        "critical_source": t.crit_source, "delta_abs": t.delta_abs, "delta_pct": t.delta_pct,
    } for t in cat.tests.values()]
    panels = [{"code": p.code, "loinc": p.loinc, "name": p.name(lang), "tests": list(p.tests)}
              for p in cat.panels.values()]
    units = {u for t in cat.tests.values() for u in (t.unit, *t.alt_units)}
    return {"panels": panels, "tests": tests, "sources": cat.sources,
            "unit_labels": {u: display.unit(u, lang) for u in sorted(units)}}


async def get_catalog(request: web.Request) -> web.Response:
    require(request, Capability.VIEW_CATALOG, "labs.catalog")
    return json_response(catalogue_json(request.query.get("lang", "zh-CN")))


def _text(body: dict, key: str) -> str:
    """A string field (a number is taken as written); anything else is a 400 naming it."""
    value = body.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise api_error(400, f"{key} must be a string", field=key)
    return str(value)


def _list(body: dict, key: str, kind: type) -> list:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
        raise api_error(400, f"{key} must be a list of {'objects' if kind is dict else 'strings'}", field=key)
    return value


async def post_order(request: web.Request) -> web.Response:
    body = await read_json(request)
    patient_id = _text(body, "patient_id")
    await authorize(request, Capability.ORDER_LABS, patient_id, "labs.order")
    try:
        order = await context_of(request).db.run(place_order, principal(request), patient_id,
                                                 _list(body, "panels", str), _list(body, "tests", str),
                                                 _text(body, "note")[:500])
    except Rejected as exc:
        raise api_error(400, str(exc)) from None
    return json_response(order_json(order), status=201)


async def post_cancel_test(request: web.Request) -> web.Response:
    """Cancel one outstanding test of an order, naming the reason."""
    body = await read_json(request)
    who = require(request, Capability.ORDER_LABS, "labs.order.cancel")
    order_id = request.match_info["order_id"]
    db = context_of(request).db
    order = await db.run(lambda s: s.get(LabOrder, order_id))
    if order is None or order.facility_id != who.org_id:
        raise api_error(404, f"no order {order_id} in your facility")
    await authorize(request, Capability.ORDER_LABS, order.patient_id, "labs.order.cancel",
                    resource=("ServiceRequest", order_id))
    try:
        found = await db.run(cancel_test, order_id, _text(body, "loinc"), _text(body, "reason"))
    except Rejected as exc:
        raise api_error(422, str(exc)) from None
    return json_response(found)


async def get_orders(request: web.Request) -> web.Response:
    who = require(request, Capability.ORDER_LABS, "labs.orders.list")
    patient_id = request.query.get("patient")
    if patient_id:
        await authorize(request, Capability.CLINICAL_READ, patient_id, "labs.orders.read")
    orders = await context_of(request).db.run(open_orders, who.org_id, patient_id)
    if not patient_id:
        audit_listed(request, "labs.orders.list", orders)
    return json_response(orders)


def actor_of(request: web.Request) -> Actor:
    """The signed-in user, for audit entries written in a filing's own transaction."""
    who = principal(request)
    return Actor(username=who.username, role=who.role, user_id=who.user_id, ip=request.remote or "",
                 request_id=request.get(REQUEST_ID, ""))


def audit_listed(request: web.Request, action: str, rows: list[dict]) -> None:
    """A facility list shows several detainees' data: one audit entry per detainee shown."""
    for patient_id in sorted({r["patient_id"] for r in rows}):
        audit(request, action, "allowed", patient_id=patient_id, resource=f"Patient/{patient_id}")


def _when(text: object, tz) -> datetime:
    """An ISO 8601 date-time; one without an offset is facility-local time."""
    if not text:
        return utcnow()
    moment = importer.parse_time(str(text).replace("Z", "+00:00"), tz)
    if moment is None:
        raise api_error(400, f"effective_at {text!r} is not an ISO 8601 date-time")
    return as_utc(moment)


def _check_form(session, patient_id: str, at: datetime, order_id: str | None, entries: list[dict]):
    subject = subjects(session, patient_ids={patient_id}).get(patient_id)
    checked, errors = [], []
    order = session.get(LabOrder, order_id) if order_id else None
    if order_id and (order is None or order.patient_id != patient_id):
        errors.append({"line": 0, "reason": f"no order {order_id} for this detainee"})
    for line, entry in enumerate(entries, start=1):
        if str(entry.get("value", "")).strip() == "":
            continue
        sub = Submission(patient_id, str(entry.get("loinc", "")), entry.get("value"), at,
                         unit=str(entry.get("unit") or ""), order_id=order_id)
        try:
            checked.append(check(sub, subject))
        except Rejected as exc:
            errors.append({"line": line, "loinc": sub.loinc, "reason": str(exc)})
    return checked, errors


def _enter(session, patient_id: str, at: datetime, order_id: str | None, entries: list[dict]) -> dict:
    checked, errors = _check_form(session, patient_id, at, order_id, entries)
    if errors or not checked:
        return {"errors": errors or [{"line": 0, "reason": "no values entered"}]}
    filed = file(session, checked, "manual")
    return {"results": [_result_json(r) for r in filed.results], "duplicates": filed.duplicates,
            "alerts": filed.alert_ids, "reports": filed.report_ids}


def _result_json(row: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items() if k != "import_key"}


async def post_results(request: web.Request) -> web.Response:
    """Manual entry of one form (a panel, or an order): all values are filed, or none."""
    body = await read_json(request)
    patient_id = _text(body, "patient_id")
    await authorize(request, Capability.ENTER_RESULTS, patient_id, "labs.enter")
    order_id = _text(body, "order_id") or None
    at = _when(_text(body, "effective_at"), context_of(request).settings.tz)
    outcome = await context_of(request).db.run(_enter, patient_id, at, order_id, _list(body, "results", dict))
    if "errors" in outcome:
        raise api_error(422, "; ".join(e["reason"] for e in outcome["errors"]), errors=outcome["errors"])
    if outcome["alerts"]:
        alerts.wake(request.app)
    return json_response(outcome, status=201)


def _preview(session, patient_id: str, entries: list[dict], lang: str) -> list[dict]:
    subject = subjects(session, patient_ids={patient_id}).get(patient_id)
    found = []
    for entry in entries:
        sub = Submission(patient_id, str(entry.get("loinc", "")), entry.get("value"), utcnow(),
                         unit=str(entry.get("unit") or ""))
        try:
            item = check(sub, subject)
            band = item.band
            found.append({"loinc": sub.loinc, "flag": item.flag, "value": item.value_num, "text": item.value_text,
                          "flag_label": translate(lang, f"ehr.interpretation.{item.flag}") if item.flag else "",
                          "low": band.low if band else None, "high": band.high if band else None})
        except Rejected as exc:
            found.append({"loinc": sub.loinc, "error": str(exc)})
    return found


async def post_check(request: web.Request) -> web.Response:
    """Flags and ranges for values being typed; nothing is stored."""
    body = await read_json(request)
    patient_id = _text(body, "patient_id")
    await authorize(request, Capability.ENTER_RESULTS, patient_id, "labs.check")
    return json_response(await context_of(request).db.run(_preview, patient_id, _list(body, "results", dict),
                                                          language(request)))


async def get_alerts(request: web.Request) -> web.Response:
    who = require(request, Capability.ENTER_RESULTS, "labs.alerts.list")
    found = await context_of(request).db.run(alerts.open_alerts, who.org_id)
    audit_listed(request, "labs.alerts.list", found)
    return json_response(found)


async def post_ack(request: web.Request) -> web.Response:
    who = require(request, Capability.ENTER_RESULTS, "labs.alerts.ack")
    alert_id = int(request.match_info["alert_id"])
    db = context_of(request).db
    found = await db.run(lambda s: s.get(alerts.LabAlert, alert_id))
    if found is None:
        raise api_error(404, f"no alert {alert_id}")
    await authorize(request, Capability.ENTER_RESULTS, found.patient_id, "labs.alerts.ack",
                    resource=("LabAlert", str(alert_id)))
    alert = await db.run(alerts.acknowledge, alert_id, who.user_id)
    return json_response(alerts.alert_json(alert))


async def get_held(request: web.Request) -> web.Response:
    who = require(request, Capability.ENTER_RESULTS, "labs.held.list")
    audit(request, "labs.held.list", "allowed", resource=f"Organization/{who.org_id}")
    return json_response(await context_of(request).db.run(
        lambda s: analyzers_api.held_extras(s, held.list_held(s, who.org_id, language(request)))))


async def post_resolve(request: web.Request) -> web.Response:
    who = require(request, Capability.ENTER_RESULTS, "labs.held.resolve")
    found = await context_of(request).db.run(held.resolve, int(request.match_info["held_id"]), who.org_id,
                                             who.user_id)
    if found is None:
        raise api_error(404, "no such held message in your facility")
    audit(request, "labs.held.resolve", "allowed", resource=f"HeldMessage/{found.id}")
    return json_response(held.held_json(found, language(request)))


async def post_retry(request: web.Request) -> web.Response:
    """Process a held HL7 message again (e.g. once the detainee is registered); resolved when accepted."""
    who = require(request, Capability.ENTER_RESULTS, "labs.held.retry")
    ctx = context_of(request)
    outcome = await ctx.db.run(hl7.retry_held, int(request.match_info["held_id"]), who.org_id, who.user_id,
                               ctx.settings.tz)
    if outcome is None:
        raise api_error(404, "no such held HL7 message in your facility")
    audit(request, "labs.held.retry", "allowed", resource=f"HeldMessage/{request.match_info['held_id']}",
          reason=outcome.text)
    alerts.wake(request.app)
    return json_response({"code": outcome.code, "text": outcome.text})


async def post_import(request: web.Request) -> web.Response:
    """Upload an analyzer export (multipart: file, profile); progress is pushed to the uploader."""
    who = require(request, Capability.ENTER_RESULTS, "labs.import")
    try:
        form = await request.post()
    except (ValueError, AssertionError, UnicodeDecodeError) as exc:  # aiohttp's answers to a broken multipart body
        raise api_error(400, f"send a multipart form with a file and a profile: {exc}") from None
    upload, profile_name = form.get("file"), str(form.get("profile", "generic"))
    profile = importer.profiles().get(profile_name)
    if profile is None or not isinstance(upload, web.FileField):
        raise api_error(400, "send a file and one of the profiles: " + ", ".join(importer.profiles()))
    ctx, loop = context_of(request), asyncio.get_running_loop()

    def progress(done: int, total: int) -> None:
        ctx.hub.publish_threadsafe(loop, {"type": "lab.import.progress", "done": done, "total": total},
                                   user(who.user_id))

    def run() -> importer.ImportReport:
        frame = importer.read_frame(upload.file.read(), upload.filename)
        return importer.import_frame(ctx.db, frame, profile, ctx.settings.tz, facility_id=who.org_id,
                                     progress=progress, actor=actor_of(request),
                                     resource=f"upload/{upload.filename}")

    try:
        report = await ctx.db.run_plain(run)
    except importer.ImportFailed as exc:
        raise api_error(400, str(exc)) from None
    if report.alerts:
        alerts.wake(request.app)
    return json_response(report.as_json())


async def sync_on_startup(app: web.Application) -> None:
    """Keep the ObservationDefinitions in step with the catalogue file, without delaying startup."""
    async def run() -> None:
        try:
            written = await context_of(app).db.run(sync_catalogue)
        except Exception:  # noqa: BLE001 - the app serves without it; `telemed labs sync-catalog` retries
            log.exception("catalogue sync failed")
        else:
            if written:
                log.info("catalogue synced: %d ObservationDefinition(s) written", written)

    app[SYNC_TASK] = asyncio.create_task(run())  # held so it is not garbage-collected mid-run


def setup(app: web.Application) -> None:
    """Add this capability's routes to the app."""
    app.router.add_get("/api/labs/catalog", get_catalog)
    app.router.add_post("/api/labs/orders", post_order)
    app.router.add_get("/api/labs/orders", get_orders)
    app.router.add_post("/api/labs/orders/{order_id}/cancel", post_cancel_test)
    app.router.add_post("/api/labs/results", post_results)
    app.router.add_post("/api/labs/check", post_check)
    app.router.add_get("/api/labs/alerts", get_alerts)
    # Ids of at most 9 digits: a longer one names nothing and must not overflow the database's integer.
    app.router.add_post("/api/labs/alerts/{alert_id:\\d{1,9}}/ack", post_ack)
    app.router.add_get("/api/labs/held", get_held)
    app.router.add_post("/api/labs/held/{held_id:\\d{1,9}}/resolve", post_resolve)
    app.router.add_post("/api/labs/held/{held_id:\\d{1,9}}/retry", post_retry)
    app.router.add_post("/api/labs/import", post_import)
    analyzers_api.setup(app)
    trends.setup(app)
    result_views.setup(app)
    pages.setup(app)
    alerts.setup(app)
    app.on_startup.append(sync_on_startup)
