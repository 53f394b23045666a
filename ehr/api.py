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

from ehr import auditevents, bundle, drafts, interactions, record, record_api, requests, smart, terminology
from ehr.access import Gate
from ehr.capability import capability_statement
from ehr.errors import FhirError, Issue, concealed, invalid
from ehr.responses import (base_url, bundle as make_bundle, entry, fhir_response, information,
                           outcome_response, resource_response, version_headers)
from ehr.search import DEFAULT_COUNT, MAX_COUNT, decode_cursor, encode_cursor
from ehr.requests import run
from ehr.store import Stored
from ehr.transfer import transfer
from ehr.validation import Validator, parameter_values, validate
from telemed import __version__
from telemed.context import context_of
from telemed.http import json_response
from telemed.timeutil import fhir_instant, local, utcnow

JSON_FORMATS = {"json", "application/json", "application/fhir+json"}
# What a body may be sent as; no Content-Type at all (octet-stream, to aiohttp) is read as JSON.
BODY_TYPES = {"application/json", "application/fhir+json", "application/octet-stream"}
PATCH_TYPES = {"application/json-patch+json"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fhir_route(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            _negotiate(request)
            return await handler(request)
        except FhirError as error:
            return outcome_response(concealed(error))
    return wrapped


def _negotiate(request: web.Request) -> None:
    wanted = request.query.get("_format")
    if wanted is not None and wanted.split(";")[0].strip() not in JSON_FORMATS:
        raise FhirError(406, Issue("not-supported", f"_format={wanted}: this server speaks JSON only"))
    accept = request.headers.get("Accept", "")
    if accept and not any(k in accept for k in ("json", "*/*")):
        raise FhirError(406, Issue("not-supported", f"Accept: {accept}: this server speaks JSON only"))


async def body_of(request: web.Request, types: set[str] = BODY_TYPES) -> object:
    if request.content_type not in types:
        raise FhirError(415, Issue("not-supported", f"Content-Type {request.content_type} is not read here; "
                                                    f"send {' or '.join(sorted(types - {'application/octet-stream'}))}"))
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise FhirError(400, Issue("structure", f"malformed JSON: {exc}")) from None


async def body_json(request: web.Request) -> dict:
    data = await body_of(request)
    if not isinstance(data, dict):
        raise FhirError(400, Issue("structure", "the body must be a JSON object"))
    return data


def prefer(request: web.Request) -> dict[str, str]:
    """The Prefer header as name -> value (``return``, ``handling``, ...)."""
    found = {}
    for part in request.headers.get("Prefer", "").split(","):
        name, _, value = part.strip().partition("=")
        found[name.strip().lower()] = value.strip().strip('"')
    return found


def lenient(request: web.Request) -> bool:
    return prefer(request).get("handling") == "lenient"


def if_match(request: web.Request) -> int | None:
    etag = request.headers.get("If-Match")
    if not etag:
        return None
    version = etag.removeprefix("W/").strip('"')
    if not version.isdigit():
        raise invalid(f"If-Match: {etag} is not an ETag such as W/\"1\"", ["If-Match"], status=400)
    return int(version)


def _location(request: web.Request, stored: Stored) -> str:
    return f"{base_url(request)}/{stored.type}/{stored.id}/_history/{stored.version}"


def written(request: web.Request, stored: Stored, created: bool) -> web.Response:
    """The answer to a write, as ``Prefer: return=`` asks: the resource (the default), nothing
    (minimal), or an OperationOutcome."""
    status, location = 201 if created else 200, _location(request, stored)
    wanted = prefer(request).get("return", "representation")
    if wanted == "OperationOutcome":
        said = information(f"{stored.type}/{stored.id} {'created' if created else 'updated'}: version {stored.version}")
        return fhir_response(said, status, {**version_headers(stored), "Location": location})
    return resource_response(stored, status, location=location, minimal=wanted == "minimal")


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
    return written(request, stored, created)


@fhir_route
async def update(request: web.Request) -> web.Response:
    rtype, rid = request.match_info["type"], request.match_info["id"]
    resource = await body_json(request)
    stored, created = await run(request, interactions.update, resource, rtype, rid, if_match(request))
    return written(request, stored, created)


def _criteria(request: web.Request, what: str) -> str:
    query = [(k, v) for k, v in request.query.items() if k != "_format"]
    if not query:
        raise FhirError(405, Issue("not-supported", f"{what} needs search criteria in the URL: {request.method} "
                                                    f"{request.match_info['type']}?param=value"))
    return urlencode(query)


@fhir_route
async def conditional_update(request: web.Request) -> web.Response:
    rtype = request.match_info["type"]
    resource = await body_json(request)
    stored, created = await run(request, interactions.conditional_update, resource, rtype,
                                _criteria(request, "a conditional update"), if_match(request))
    return written(request, stored, created)


@fhir_route
async def patch(request: web.Request) -> web.Response:
    rtype, rid = request.match_info["type"], request.match_info["id"]
    operations = await body_of(request, PATCH_TYPES)
    stored = await run(request, interactions.patch, rtype, rid, operations, if_match(request))
    return written(request, stored, False)


def _deleted(stored: Stored | None) -> web.Response:
    return web.Response(status=204, headers={"ETag": stored.etag} if stored else {})


@fhir_route
async def delete(request: web.Request) -> web.Response:
    return _deleted(await run(request, interactions.delete, request.match_info["type"], request.match_info["id"]))


@fhir_route
async def conditional_delete(request: web.Request) -> web.Response:
    rtype = request.match_info["type"]
    return _deleted(await run(request, interactions.conditional_delete, rtype, _criteria(request, "a conditional delete")))


@fhir_route
async def meta(request: web.Request) -> web.Response:
    return fhir_response(await run(request, interactions.meta, request.match_info["type"], request.match_info["id"],
                                   read_only=True))


def _links(request: web.Request, path: str, query: list[tuple[str, str]], cursor: str | None) -> dict[str, str]:
    kept = [(k, v) for k, v in query if k != "_cursor"]
    base = f"{base_url(request)}/{path}" if path else base_url(request)
    links = {"self": f"{base}?{urlencode(query)}" if query else base}
    if cursor:
        links["next"] = f"{base}?{urlencode([*kept, ('_cursor', cursor)])}"
    return links


async def _search(request: web.Request, rtype: str, query: list[tuple[str, str]]) -> web.Response:
    query = [(k, v) for k, v in query if k != "_format"]
    if rtype == "AuditEvent":
        return await _audit_search(request, query)
    base = base_url(request)
    search_request, result = await run(request, interactions.search, rtype, query, base=base, lenient=lenient(request))
    shape = {"summary": search_request.summary, "elements": search_request.elements}
    entries = [entry(base, s, "match", **shape) for s in result.matches]
    entries += [entry(base, s, "include", summary=search_request.summary) for s in result.included]
    links = _links(request, rtype, query, result.next_cursor)
    return fhir_response(make_bundle("searchset", entries, total=result.total, links=links))


@fhir_route
async def search_get(request: web.Request) -> web.Response:
    return await _search(request, request.match_info["type"], list(request.query.items()))


@fhir_route
async def search_post(request: web.Request) -> web.Response:
    if request.content_type != "application/x-www-form-urlencoded" and await request.read():
        raise FhirError(415, Issue("not-supported", "POST _search takes application/x-www-form-urlencoded"))
    form = await request.post()
    query = [*request.query.items(), *((k, str(v)) for k, v in form.items())]
    return await _search(request, request.match_info["type"], query)


async def _audit_search(request: web.Request, query: list[tuple[str, str]]) -> web.Response:
    events, below, total = await run(request, auditevents.search, query)
    base = base_url(request)
    entries = [orjson.dumps({"fullUrl": f"{base}/AuditEvent/{e['id']}", "resource": e, "search": {"mode": "match"}})
               for e in events]
    links = _links(request, "AuditEvent", query, str(below) if below else None)
    return fhir_response(make_bundle("searchset", entries, total=total, links=links))


@fhir_route
async def audit_search(request: web.Request) -> web.Response:
    return await _search(request, "AuditEvent", list(request.query.items()))


@fhir_route
async def audit_read(request: web.Request) -> web.Response:
    return fhir_response(await run(request, auditevents.read, request.match_info["id"]))


@fhir_route
async def audit_write(request: web.Request) -> web.Response:
    raise auditevents.read_only()


def _known_params(request: web.Request, known: tuple[str, ...], what: str) -> None:
    unknown = sorted({k for k in request.query if k not in (*known, "_format")})
    if unknown and not lenient(request):
        raise FhirError(400, Issue("not-supported", f"{what} does not support {', '.join(unknown)}", unknown))


def _count(request: web.Request, default: int) -> int:
    count = request.query.get("_count", str(default))
    if not count.isdigit():
        raise invalid("_count must be a whole number", ["_count"], status=400)
    return min(int(count), MAX_COUNT)


def since_param(request: web.Request) -> datetime | None:
    since = request.query.get("_since")
    if not since:
        return None
    try:
        moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"_since={since} is not an instant", ["_since"], status=400) from None
    if moment.tzinfo is None:
        raise invalid(f"_since={since} needs a time zone", ["_since"], status=400)
    return moment


def _history_params(request: web.Request) -> dict:
    _known_params(request, ("_count", "_since", "_cursor"), "_history")
    return {"count": _count(request, interactions.HISTORY_DEFAULT), "since": since_param(request),
            "cursor": request.query.get("_cursor")}


async def _history(request: web.Request, rtype: str | None, rid: str | None) -> web.Response:
    page, methods = await run(request, _history_with_methods, rtype, rid, **_history_params(request))
    base = base_url(request)
    entries = []
    for s in page.found:
        method = methods.get((s.type, s.id, s.version), "PUT")
        item: dict = {"fullUrl": f"{base}/{s.type}/{s.id}",
                      "request": {"method": method, "url": f"{s.type}/{s.id}" if method != "POST" else s.type},
                      "response": {"status": "204" if s.deleted else ("201" if method == "POST" else "200"),
                                   "etag": s.etag, "lastModified": fhir_instant(s.last_updated)}}
        body = orjson.dumps(item)
        if not s.deleted:
            body = body[:-1] + b',"resource":' + s.content + b"}"
        entries.append(body)
    path = "/".join(p for p in (rtype, rid, "_history") if p)
    links = _links(request, path, list(request.query.items()), page.next_cursor)
    return fhir_response(make_bundle("history", entries, total=page.total, links=links))


def _history_with_methods(session, gate: Gate, rtype: str | None, rid: str | None, **params):
    page = interactions.history(session, gate, rtype, rid, **params)
    return page, interactions.history_methods(session, page.found)


@fhir_route
async def history_instance(request: web.Request) -> web.Response:
    return await _history(request, request.match_info["type"], request.match_info["id"])


@fhir_route
async def history_type(request: web.Request) -> web.Response:
    return await _history(request, request.match_info["type"], None)


@fhir_route
async def history_system(request: web.Request) -> web.Response:
    return await _history(request, None, None)


@fhir_route
async def everything(request: web.Request) -> web.Response:
    """Patient/$everything with _since, _type and _count (paged by position: the record is
    gathered whole, in a fixed order, for every page)."""
    _known_params(request, ("_since", "_type", "_count", "_cursor"), "$everything")
    types = tuple(t for t in request.query.get("_type", "").split(",") if t)
    found = await run(request, interactions.everything, request.match_info["id"], since=since_param(request), types=types)
    count = _count(request, DEFAULT_COUNT)
    start = decode_cursor(request.query["_cursor"], 1)[0] if "_cursor" in request.query else 0
    if not isinstance(start, int) or start < 0:
        raise invalid("malformed _cursor", ["_cursor"], status=400)
    page = found[start:start + count]
    cursor = encode_cursor([start + count]) if count and start + count < len(found) else None
    base = base_url(request)
    links = _links(request, f"Patient/{request.match_info['id']}/$everything", list(request.query.items()), cursor)
    return fhir_response(make_bundle("searchset", [entry(base, s, "match") for s in page], total=len(found), links=links))


@fhir_route
async def validate_operation(request: web.Request) -> web.Response:
    body = await body_json(request)
    if body.get("resourceType") == "Parameters":
        body = parameter_values(body, {"resource": "resource"}).get("resource") or {}
    return fhir_response(await run(request, _validate, request.match_info["type"], body))


def _validate(session, gate: Gate, rtype: str, resource: dict) -> dict:
    """$validate answers 200 with the issues found; only a caller who may not read is refused."""
    gate.require_clinical("fhir.validate", rtype)
    interactions.check_type(rtype)
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


async def smart_configuration(request: web.Request) -> web.Response:
    """Public: how a hospital's system gets a token (SMART Backend Services only; no user launch)."""
    return json_response(smart.configuration(base_url(request)))


@fhir_route
async def system_search(request: web.Request) -> web.Response:
    raise FhirError(400, Issue("not-supported", "search across all types is not supported here: search one type, "
                                                "GET [base]/Type?params"))


@fhir_route
async def not_supported(request: web.Request) -> web.Response:
    raise FhirError(400, Issue("not-supported", f"{request.method} {request.path} is not an interaction this server supports"))


STARTED = web.AppKey("ehr_started", str)
VALIDATOR = web.AppKey("ehr_validator", Validator)


def setup(app: web.Application) -> None:
    """Add this capability's routes to the app."""
    app[STARTED] = fhir_instant(utcnow())
    app[VALIDATOR] = validator = Validator()

    async def close_validator(_app: web.Application) -> None:
        validator.close()
    app.on_cleanup.append(close_validator)
    from ehr import bulk_api  # it builds on this module's helpers
    bulk_api.setup(app)
    r = app.router
    r.add_get("/fhir/metadata", metadata)
    r.add_post("/fhir", transaction)
    r.add_post("/fhir/", transaction)
    r.add_get("/fhir", system_search)
    r.add_get("/fhir/", system_search)
    r.add_get("/fhir/_history", history_system)
    r.add_get("/fhir/.well-known/smart-configuration", smart_configuration)
    r.add_get("/.well-known/smart-configuration", smart_configuration)
    r.add_get("/fhir/AuditEvent", audit_search)
    r.add_get("/fhir/AuditEvent/{id}", audit_read)
    for method in ("POST", "PUT", "DELETE"):
        r.add_route(method, "/fhir/AuditEvent", audit_write)
        r.add_route(method, "/fhir/AuditEvent/{tail:.*}", audit_write)
    # The read first of the /fhir/{type}... routes: the router tries them in order, and the
    # hottest request matched the ninth (~7 us a read). No FHIR id begins with _ or $ (ids are
    # [A-Za-z0-9.-]), so _history, _search and $validate still reach their own routes.
    r.add_get("/fhir/{type}/{id:[^_$/][^/]*}", read)
    r.add_get("/fhir/Patient/{id}/$everything", everything)
    r.add_post("/fhir/Patient/{id}/$transfer", transfer_operation)
    r.add_post("/fhir/{type}/$validate", validate_operation)
    r.add_get("/fhir/{type}/_history", history_type)
    r.add_post("/fhir/{type}/_search", search_post)
    r.add_get("/fhir/{type}", search_get)
    r.add_post("/fhir/{type}", create)
    r.add_put("/fhir/{type}", conditional_update)
    r.add_delete("/fhir/{type}", conditional_delete)
    r.add_get("/fhir/{type}/{id}/$meta", meta)
    r.add_get("/fhir/{type}/{id}/_history", history_instance)
    r.add_get("/fhir/{type}/{id}/_history/{vid}", vread)
    r.add_put("/fhir/{type}/{id}", update)
    r.add_delete("/fhir/{type}/{id}", delete)
    r.add_patch("/fhir/{type}/{id}", patch)
    r.add_route("*", "/fhir/{tail:.*}", not_supported)
    record.setup(app)
    record_api.setup(app)
    drafts.setup(app)
    terminology.setup(app)
