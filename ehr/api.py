"""The FHIR R4 REST API at ``/fhir``: HTTP in and out around ehr.interactions.

Every handler runs its whole interaction, access decisions included, in one database
transaction in a worker thread, then audits each decision the Gate noted (allowed and denied).
Every failure is an OperationOutcome.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime
from urllib.parse import urlencode

import orjson
from aiohttp import web

from ehr import auditevents, bundle, interactions, record, record_api, requests, terminology
from ehr.access import Gate
from ehr.capability import capability_statement
from ehr.errors import FhirError, Issue, invalid
from ehr.responses import (base_url, bundle as make_bundle, entry, fhir_response, http_date, information,
                           outcome_response, resource_response, version_headers)
from ehr.requests import run
from ehr.store import Stored
from ehr.transfer import transfer
from ehr.validation import Validator, validate
from telemed import __version__
from telemed.context import context_of
from telemed.timeutil import fhir_instant, local, utcnow

JSON_FORMATS = {"json", "application/json", "application/fhir+json"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fhir_route(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            _negotiate(request)
            return await handler(request)
        except FhirError as error:
            return outcome_response(error)
    return wrapped


def _negotiate(request: web.Request) -> None:
    wanted = request.query.get("_format")
    if wanted is not None and wanted.split(";")[0].strip() not in JSON_FORMATS:
        raise FhirError(406, Issue("not-supported", f"_format={wanted}: this server speaks JSON only"))
    accept = request.headers.get("Accept", "")
    if accept and not any(k in accept for k in ("json", "*/*")):
        raise FhirError(406, Issue("not-supported", f"Accept: {accept}: this server speaks JSON only"))


async def body_json(request: web.Request) -> dict:
    try:
        data = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise FhirError(400, Issue("structure", f"malformed JSON: {exc}")) from None
    if not isinstance(data, dict):
        raise FhirError(400, Issue("structure", "the body must be a JSON object"))
    return data


def if_match(request: web.Request) -> int | None:
    etag = request.headers.get("If-Match")
    if not etag:
        return None
    version = etag.removeprefix("W/").strip('"')
    if not version.isdigit():
        raise invalid(f"If-Match: {etag} is not an ETag such as W/\"1\"", ["If-Match"], status=400)
    return int(version)


def minimal(request: web.Request) -> bool:
    return "return=minimal" in request.headers.get("Prefer", "")


def _location(request: web.Request, stored: Stored) -> str:
    return f"{base_url(request)}/{stored.type}/{stored.id}/_history/{stored.version}"


# -- handlers ------------------------------------------------------------------------------

@fhir_route
async def metadata(request: web.Request) -> web.Response:
    return fhir_response(capability_statement(base_url(request), __version__, request.app[STARTED]))


@fhir_route
async def read(request: web.Request) -> web.Response:
    rtype, rid = request.match_info["type"], request.match_info["id"]
    stored = await requests.read(request, rtype, rid)
    if request.headers.get("If-None-Match") == stored.etag:
        return web.Response(status=304, headers=version_headers(stored))
    return resource_response(stored)


@fhir_route
async def vread(request: web.Request) -> web.Response:
    version = request.match_info["vid"]
    if not version.isdigit():
        raise invalid(f"version {version} is not a number", status=400)
    stored = await run(request, interactions.vread, request.match_info["type"], request.match_info["id"], int(version),
                       read_only=True)
    return resource_response(stored)


@fhir_route
async def create(request: web.Request) -> web.Response:
    rtype = request.match_info["type"]
    resource = await body_json(request)
    stored, created = await run(request, interactions.create, resource, expected=rtype,
                                if_none_exist=request.headers.get("If-None-Exist"))
    return resource_response(stored, 201 if created else 200, location=_location(request, stored),
                             minimal=minimal(request))


@fhir_route
async def update(request: web.Request) -> web.Response:
    rtype, rid = request.match_info["type"], request.match_info["id"]
    resource = await body_json(request)
    stored, created = await run(request, interactions.update, resource, rtype, rid, if_match(request))
    return resource_response(stored, 201 if created else 200, location=_location(request, stored),
                             minimal=minimal(request))


@fhir_route
async def delete(request: web.Request) -> web.Response:
    stored = await run(request, interactions.delete, request.match_info["type"], request.match_info["id"])
    headers = {"ETag": stored.etag} if stored else {}
    return web.Response(status=204, headers=headers)


def _search_links(request: web.Request, rtype: str, query: list[tuple[str, str]], cursor: str | None) -> dict[str, str]:
    kept = [(k, v) for k, v in query if k != "_cursor"]
    base = f"{base_url(request)}/{rtype}"
    links = {"self": f"{base}?{urlencode(query)}" if query else base}
    if cursor:
        links["next"] = f"{base}?{urlencode([*kept, ('_cursor', cursor)])}"
    return links


async def _search(request: web.Request, rtype: str, query: list[tuple[str, str]]) -> web.Response:
    query = [(k, v) for k, v in query if k != "_format"]
    if rtype == "AuditEvent":
        return await _audit_search(request, query)
    search_request, result = await run(request, interactions.search, rtype, query)
    base = base_url(request)
    entries = [entry(base, s, "match", search_request.elements) for s in result.matches]
    entries += [entry(base, s, "include") for s in result.included]
    links = _search_links(request, rtype, query, result.next_cursor)
    return fhir_response(make_bundle("searchset", entries, total=result.total, links=links))


@fhir_route
async def search_get(request: web.Request) -> web.Response:
    return await _search(request, request.match_info["type"], list(request.query.items()))


@fhir_route
async def search_post(request: web.Request) -> web.Response:
    form = await request.post()
    query = [*request.query.items(), *((k, str(v)) for k, v in form.items())]
    return await _search(request, request.match_info["type"], query)


async def _audit_search(request: web.Request, query: list[tuple[str, str]]) -> web.Response:
    events, below = await run(request, auditevents.search, query)
    base = base_url(request)
    entries = [orjson.dumps({"fullUrl": f"{base}/AuditEvent/{e['id']}", "resource": e, "search": {"mode": "match"}})
               for e in events]
    links = _search_links(request, "AuditEvent", query, str(below) if below else None)
    return fhir_response(make_bundle("searchset", entries, links=links))


@fhir_route
async def audit_search(request: web.Request) -> web.Response:
    return await _search(request, "AuditEvent", list(request.query.items()))


@fhir_route
async def audit_read(request: web.Request) -> web.Response:
    return fhir_response(await run(request, auditevents.read, request.match_info["id"]))


@fhir_route
async def audit_write(request: web.Request) -> web.Response:
    raise auditevents.read_only()


def _history_params(request: web.Request) -> dict:
    since = request.query.get("_since")
    count = request.query.get("_count", "100")
    if not count.isdigit():
        raise invalid("_count must be a whole number", ["_count"], status=400)
    params: dict = {"count": int(count)}
    if since:
        try:
            params["since"] = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise invalid(f"_since={since} is not an instant", ["_since"], status=400) from None
    return params


async def _history(request: web.Request, rtype: str, rid: str | None) -> web.Response:
    found, methods = await run(request, _history_with_methods, rtype, rid, **_history_params(request))
    base = base_url(request)
    entries = []
    for s in found:
        method = methods.get((s.type, s.id, s.version), "PUT")
        item: dict = {"fullUrl": f"{base}/{s.type}/{s.id}",
                      "request": {"method": method, "url": f"{s.type}/{s.id}" if method != "POST" else s.type},
                      "response": {"status": "204" if s.deleted else ("201" if method == "POST" else "200"),
                                   "etag": s.etag, "lastModified": http_date(s.last_updated)}}
        body = orjson.dumps(item)
        if not s.deleted:
            body = body[:-1] + b',"resource":' + s.content + b"}"
        entries.append(body)
    return fhir_response(make_bundle("history", entries, total=len(entries)))


def _history_with_methods(session, gate: Gate, rtype: str, rid: str | None, **params):
    found = interactions.history(session, gate, rtype, rid, **params)
    return found, interactions.history_methods(session, found)


@fhir_route
async def history_instance(request: web.Request) -> web.Response:
    return await _history(request, request.match_info["type"], request.match_info["id"])


@fhir_route
async def history_type(request: web.Request) -> web.Response:
    return await _history(request, request.match_info["type"], None)


@fhir_route
async def everything(request: web.Request) -> web.Response:
    found = await run(request, interactions.everything, request.match_info["id"])
    base = base_url(request)
    return fhir_response(make_bundle("searchset", [entry(base, s, "match") for s in found], total=len(found)))


@fhir_route
async def validate_operation(request: web.Request) -> web.Response:
    body = await body_json(request)
    if body.get("resourceType") == "Parameters":
        body = next((p.get("resource") for p in body.get("parameter", []) if p.get("name") == "resource"), None) or {}
    return fhir_response(await run(request, _validate, request.match_info["type"], body))


def _validate(session, gate: Gate, rtype: str, resource: dict) -> dict:
    """$validate answers 200 with the issues found; only a caller who may not read is refused."""
    gate.require_clinical("fhir.validate", rtype)
    try:
        validate(resource, rtype)
    except FhirError as error:
        return error.outcome()
    return information(f"{rtype} is valid")


@fhir_route
async def transfer_operation(request: web.Request) -> web.Response:
    parameters = await body_json(request)
    today = local(utcnow(), context_of(request).settings.tz).date()
    stored = await run(request, transfer, request.match_info["id"], parameters, today)
    return resource_response(stored)


@fhir_route
async def transaction(request: web.Request) -> web.Response:
    kind, entries = bundle.entries_of(await body_json(request))
    mapping = bundle.start(request.app[VALIDATOR], kind, entries)
    try:
        return fhir_response(await run(request, bundle.process, kind, entries, mapping))
    finally:
        bundle.cancel_validation(entries)


@fhir_route
async def not_supported(request: web.Request) -> web.Response:
    raise FhirError(404, Issue("not-supported", f"{request.method} {request.path} is not supported"))


STARTED = web.AppKey("ehr_started", str)
VALIDATOR = web.AppKey("ehr_validator", Validator)


def setup(app: web.Application) -> None:
    """Add this capability's routes to the app."""
    app[STARTED] = fhir_instant(utcnow())
    app[VALIDATOR] = validator = Validator()

    async def close_validator(_app: web.Application) -> None:
        validator.close()
    app.on_cleanup.append(close_validator)
    r = app.router
    r.add_get("/fhir/metadata", metadata)
    r.add_post("/fhir", transaction)
    r.add_get("/fhir/AuditEvent", audit_search)
    r.add_get("/fhir/AuditEvent/{id}", audit_read)
    for method in ("POST", "PUT", "DELETE"):
        r.add_route(method, "/fhir/AuditEvent", audit_write)
        r.add_route(method, "/fhir/AuditEvent/{tail:.*}", audit_write)
    r.add_get("/fhir/Patient/{id}/$everything", everything)
    r.add_post("/fhir/Patient/{id}/$transfer", transfer_operation)
    r.add_post("/fhir/{type}/$validate", validate_operation)
    r.add_get("/fhir/{type}/_history", history_type)
    r.add_post("/fhir/{type}/_search", search_post)
    r.add_get("/fhir/{type}", search_get)
    r.add_post("/fhir/{type}", create)
    r.add_get("/fhir/{type}/{id}/_history", history_instance)
    r.add_get("/fhir/{type}/{id}/_history/{vid}", vread)
    r.add_get("/fhir/{type}/{id}", read)
    r.add_put("/fhir/{type}/{id}", update)
    r.add_delete("/fhir/{type}/{id}", delete)
    r.add_route("*", "/fhir/{tail:.*}", not_supported)
    record.setup(app)
    record_api.setup(app)
    terminology.setup(app)
