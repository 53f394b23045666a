"""HTTP routes of the analyzer registry and the code maps, for the lab's user (the on-site
doctor who enters results): their own facility's analyzers only. Every change is audited."""

from __future__ import annotations

from aiohttp import web

from labs import alerts, analyzers, codemaps, hl7
from labs.analyzers import AnalyzerError, Registration
from labs.codemaps import MapError
from labs.models import Analyzer, HeldMessage
from telemed.context import context_of
from telemed.http import api_error, audit, json_response, read_json, require
from telemed.policy import Capability
from telemed.security import Principal

ANALYZER_FIELDS = {"name", "sending_application", "sending_facility", "addresses", "cert_subject", "cert_fingerprint"}
CODE_FIELDS = {"code", "loinc", "unit"}


def _fields(body: dict, allowed: set[str], required: set[str]) -> dict[str, str | list]:
    """The body's fields, each a string (``addresses``: a list of strings): anything else is refused."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise api_error(400, f"unknown field(s): {', '.join(unknown)}", fields=unknown)
    missing = sorted(name for name in required if not body.get(name))
    if missing:
        raise api_error(400, f"missing field(s): {', '.join(missing)}", fields=missing)
    for name, value in body.items():
        text_list = name == "addresses" and isinstance(value, list) and all(isinstance(v, str) for v in value)
        if not isinstance(value, str) and not text_list:
            raise api_error(400, f"{name}: must be {'a list of strings' if name == 'addresses' else 'a string'}",
                            fields=[name])
    return body


def _lab_user(request: web.Request, action: str) -> Principal:
    return require(request, Capability.ENTER_RESULTS, action)


async def _analyzer(request: web.Request, who: Principal) -> Analyzer:
    found = await context_of(request).db.run(analyzers.get, int(request.match_info["analyzer_id"]), who.org_id)
    if found is None:
        raise api_error(404, "no such analyzer in your facility")
    return found


async def get_analyzers(request: web.Request) -> web.Response:
    who = _lab_user(request, "labs.analyzers.list")
    found = await context_of(request).db.run(analyzers.listing, who.org_id)
    return json_response([analyzers.analyzer_json(a) for a in found])


async def post_analyzer(request: web.Request) -> web.Response:
    who = _lab_user(request, "labs.analyzer.add")
    body = _fields(await read_json(request), ANALYZER_FIELDS, {"name", "sending_application", "addresses"})
    addresses = body["addresses"] if isinstance(body["addresses"], list) else body["addresses"].split(",")
    reg = Registration(body["name"], who.org_id, body["sending_application"], body.get("sending_facility", ""),
                       tuple(addresses), body.get("cert_subject", ""), body.get("cert_fingerprint", ""))
    try:
        added = await context_of(request).db.run(analyzers.register, reg)
    except AnalyzerError as exc:
        raise api_error(422, str(exc)) from None
    audit(request, "labs.analyzer.add", "allowed", resource=f"Analyzer/{added.name}",
          reason=f"MSH-3 {added.sending_application}, MSH-4 {added.sending_facility}, from {added.addresses}")
    return json_response(analyzers.analyzer_json(added), status=201)


async def delete_analyzer(request: web.Request) -> web.Response:
    who = _lab_user(request, "labs.analyzer.remove")
    found = await _analyzer(request, who)
    await context_of(request).db.run(lambda s: analyzers.remove(s, s.get(Analyzer, found.id)))
    audit(request, "labs.analyzer.remove", "allowed", resource=f"Analyzer/{found.name}")
    return web.Response(status=204)


async def get_codes(request: web.Request) -> web.Response:
    who = _lab_user(request, "labs.map.list")
    found = await _analyzer(request, who)
    lang = request.query.get("lang", "zh-CN")
    rows = await context_of(request).db.run(codemaps.entries, found.id)
    return json_response([codemaps.entry_json(r, lang) for r in rows])


async def post_code(request: web.Request) -> web.Response:
    who = _lab_user(request, "labs.map.set")
    found = await _analyzer(request, who)
    body = _fields(await read_json(request), CODE_FIELDS, {"code", "loinc"})
    entry = await _map(request, found, body)
    return json_response(codemaps.entry_json(entry, request.query.get("lang", "zh-CN")), status=201)


async def _map(request: web.Request, analyzer: Analyzer, body: dict):
    try:
        entry = await context_of(request).db.run(
            lambda s: codemaps.set_code(s, s.get(Analyzer, analyzer.id), body["code"], body["loinc"],
                                        body.get("unit", "")))
    except MapError as exc:
        raise api_error(422, str(exc)) from None
    audit(request, "labs.map.set", "allowed", resource=f"Analyzer/{analyzer.name}",
          reason=f"{entry.code} -> {entry.loinc} {entry.unit}".strip())
    return entry


async def delete_code(request: web.Request) -> web.Response:
    who = _lab_user(request, "labs.map.remove")
    found = await _analyzer(request, who)
    code = request.match_info["code"]
    removed = await context_of(request).db.run(lambda s: codemaps.remove_code(s, s.get(Analyzer, found.id), code))
    if not removed:
        raise api_error(404, f"{found.name} has no code {code!r} in its map")
    audit(request, "labs.map.remove", "allowed", resource=f"Analyzer/{found.name}", reason=code)
    return web.Response(status=204)


async def post_map_held(request: web.Request) -> web.Response:
    """One action from the review queue: map a held message's unknown code for the analyzer that
    sent it (remembered for its next messages), then process the message again."""
    who = _lab_user(request, "labs.held.map")
    ctx = context_of(request)
    held_id = int(request.match_info["held_id"])
    held = await ctx.db.run(lambda s: s.get(HeldMessage, held_id))
    if held is None or held.facility_id != who.org_id or held.resolved_at is not None or held.channel != "hl7":
        raise api_error(404, "no such held HL7 message in your facility")
    analyzer = await ctx.db.run(analyzers.get, held.analyzer_id, who.org_id) if held.analyzer_id else None
    if analyzer is None:
        raise api_error(409, "this message came from no registered analyzer: there is no code map to add to")
    body = _fields(await read_json(request), CODE_FIELDS, {"code", "loinc"})
    await _map(request, analyzer, body)
    outcome = await ctx.db.run(hl7.retry_held, held_id, who.org_id, who.user_id, ctx.settings.tz)
    if outcome is None:  # resolved by someone else meanwhile: the mapping stays
        raise api_error(409, "the message was resolved meanwhile; the mapping is saved")
    audit(request, "labs.held.retry", "allowed", resource=f"HeldMessage/{held_id}", reason=outcome.text)
    alerts.wake(request.app)
    return json_response({"code": outcome.code, "text": outcome.text})


def held_extras(session, rows: list[dict]) -> list[dict]:
    """The review queue's rows with the analyzer that sent each and the codes it could not map
    (to map them there)."""
    maps: dict[int, codemaps.CodeMap] = {}
    for row in rows:
        analyzer = session.get(Analyzer, row["analyzer_id"]) if row["analyzer_id"] else None
        row["analyzer"] = analyzer.name if analyzer else None
        if analyzer is None or row["channel"] != "hl7":
            row["unknown_codes"] = []
            continue
        codes = maps.get(analyzer.id) or maps.setdefault(analyzer.id, codemaps.code_map(session, analyzer.id))
        row["unknown_codes"] = hl7.unknown_codes(row["content"], codes)
    return rows


def setup(app: web.Application) -> None:
    app.router.add_get("/api/labs/analyzers", get_analyzers)
    app.router.add_post("/api/labs/analyzers", post_analyzer)
    app.router.add_delete("/api/labs/analyzers/{analyzer_id:\\d+}", delete_analyzer)
    app.router.add_get("/api/labs/analyzers/{analyzer_id:\\d+}/codes", get_codes)
    app.router.add_post("/api/labs/analyzers/{analyzer_id:\\d+}/codes", post_code)
    app.router.add_delete("/api/labs/analyzers/{analyzer_id:\\d+}/codes/{code:.+}", delete_code)
    app.router.add_post("/api/labs/held/{held_id:\\d+}/map", post_map_held)
