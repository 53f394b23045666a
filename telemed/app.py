"""The aiohttp application: middlewares, foundation routes, and each capability's routes."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import re
import secrets
import time

import aiohttp_jinja2
import jinja2
from aiohttp import web

from telemed import (admin_api, auth_api, clients_api, clients_page, detainee_search, events_api, notifications_api,
                     password_page, ui)
from telemed.audit import AuditEvent
from telemed.clients import resolve_client_token
from telemed.config import Settings
from telemed.context import CONTEXT, Context, context_of
from telemed.http import PRINCIPAL, REQUEST_ID, await_audit, json_response, read_form
from telemed.metrics import METRICS, Metrics, handle_metrics
from telemed.models import TokenKind
from telemed.security import Principal, resolve_token, token_hash

log = logging.getLogger("telemed.access")
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple)

SESSION_COOKIE = "telemed_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
PUBLIC_PATHS = {"/healthz", "/metrics", "/login", "/lang", "/api/auth/token", "/api/auth/smart/token", "/favicon.ico",
                # FHIR discovery: a client learns what the server does before it authenticates
                "/fhir/metadata", "/fhir/.well-known/smart-configuration", "/.well-known/smart-configuration"}
PUBLIC_PREFIXES = ("/static/",)
# What a user whose password an administrator reset may reach before choosing their own.
PASSWORD_CHANGE_PATHS = {password_page.PATH, "/logout"}
MACHINE_PREFIXES = ("/api/", "/fhir", "/ws/")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Request ids: unique, not secret. A random prefix per process and a counter, instead of a
# uuid4 per request (a getrandom system call on the event loop each time).
_REQUEST_PREFIX = secrets.token_hex(4)
_REQUEST_COUNT = itertools.count(1)
# What the pages may load: their own scripts and styles only (no inline script, no eval), media
# from the page's own streams, and connections to this server (WebSocket included).
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                           "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
HSTS = "max-age=31536000; includeSubDomains"
KB, MB = 1024, 1024 * 1024
# The largest body each route takes, the first matching prefix winning. Unauthenticated
# routes take a few KB: nobody can make the server read (or parse) a large body before login.
BODY_LIMITS = (
    (("/login", "/logout", "/lang", "/api/auth/"), 4 * KB),
    (("/fhir",), 64 * MB),  # Bundles and bulk imports
    (("/api/labs/import",), 64 * MB),  # analyzer exports (XLSX, CSV)
    (("/api/labs/",), 8 * MB),
    (("/api/",), 2 * MB),
)
DEFAULT_BODY_LIMIT = 64 * KB  # page forms


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def proxied_middleware(request: web.Request, handler):
    """Behind a trusted reverse proxy, the client is the address the proxy names (X-Real-IP):
    the login brake, the audit trail and the facility networks must see it, not the proxy."""
    proxies = request.app[TRUSTED_PROXIES]
    real = request.headers.get("X-Real-IP", "")
    if proxies and request.remote and _within(request.remote, proxies) and real:
        try:
            request = request.clone(remote=str(ipaddress.ip_address(real)))
        except ValueError:
            raise web.HTTPBadRequest(text="X-Real-IP is not an address") from None
    return await handler(request)


def _within(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


@web.middleware
async def observe_middleware(request: web.Request, handler):
    incoming = request.headers.get("X-Request-ID", "")
    request[REQUEST_ID] = incoming if _REQUEST_ID.match(incoming) else f"{_REQUEST_PREFIX}{next(_REQUEST_COUNT):08x}"
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = _route_name(request)
        metrics = request.app[METRICS]
        metrics.requests.labels(route, request.method, str(status)).inc()
        metrics.latency.labels(route).observe(elapsed)
        if route not in ("/healthz", "/metrics"):
            who = request.get(PRINCIPAL)
            log.info("request", extra={
                "request_id": request[REQUEST_ID], "method": request.method, "route": route,
                "status": status, "ms": round(elapsed * 1000, 2), "user": who.username if who else None,
            })


@web.middleware
async def durable_audit_middleware(request: web.Request, handler):
    """No answer leaves before the request's audit entries are committed: an answer whose entry
    could not be written is replaced by a 503. (A streamed answer has begun before this runs:
    its handler awaits ``await_audit`` before it starts.)"""
    try:
        response = await handler(request)
    except web.HTTPException:
        await await_audit(request)
        raise
    await await_audit(request)
    return response


def body_limit(path: str) -> int:
    return next((limit for prefixes, limit in BODY_LIMITS if path.startswith(prefixes)), DEFAULT_BODY_LIMIT)


@web.middleware
async def body_limit_middleware(request: web.Request, handler):
    """Refuse a body larger than the route takes before reading any of it; one sent without a
    length is cut off at the limit as it is read. And NUL in the path or query, which no value
    has and PostgreSQL refuses in text."""
    if "\x00" in request.path or "%00" in request.raw_path:
        raise _machine_error(request, 400, "NUL characters are not accepted")
    limit = body_limit(request.path)
    if (request.content_length or 0) > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length,
                                            headers={"Connection": "close"})
    request._client_max_size = limit  # aiohttp has no public per-request limit; read() honours this
    return await handler(request)


@web.middleware
async def headers_middleware(request: web.Request, handler):
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _secure(exc, request)
        raise
    _secure(response, request)
    return response


def _secure(response: web.StreamResponse, request: web.Request) -> None:
    if response.prepared:
        return
    response.headers.setdefault("X-Request-ID", request.get(REQUEST_ID, ""))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers["Server"] = "telemed"  # not aiohttp's name and version
    if context_of(request).settings.cookie_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")


async def authenticate(request: web.Request) -> tuple[Principal | None, TokenKind | None]:
    ctx = context_of(request)
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        raw, kind = header[7:].strip(), TokenKind.BEARER
    elif SESSION_COOKIE in request.cookies:
        raw, kind = request.cookies[SESSION_COOKIE], TokenKind.SESSION
    else:
        return None, None
    cached = ctx.tokens.get(token_hash(raw))
    if cached is not None:
        return cached, kind
    who = await ctx.db.run(resolve_token, raw, kind, ctx.tokens)
    if who is None and kind == TokenKind.BEARER:
        who = await ctx.db.run(resolve_client_token, raw, ctx.tokens)
    return who, kind


@web.middleware
async def auth_middleware(request: web.Request, handler):
    if request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES):
        return await handler(request)
    who, kind = await authenticate(request)
    if who is None:
        raise _unauthenticated(request)
    request[PRINCIPAL] = who
    if who.scopes is not None and not request.path.startswith("/fhir"):
        raise _machine_error(request, 403, "a system's token reaches the FHIR API only")
    if kind == TokenKind.SESSION and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent and request.content_type == "application/x-www-form-urlencoded":
            sent = (await read_form(request)).get("csrf_token", "")
        if not sent or not secrets.compare_digest(str(sent), who.csrf_token):
            raise _machine_error(request, 403, "missing or wrong CSRF token")
    if who.must_change_password and request.path not in PASSWORD_CHANGE_PATHS:
        if request.path.startswith(MACHINE_PREFIXES):
            raise _machine_error(request, 403, "an administrator reset this password: change it first, "
                                               f"on the page {password_page.PATH}")
        raise web.HTTPSeeOther(password_page.PATH)
    return await handler(request)


def _unauthenticated(request: web.Request) -> web.HTTPException:
    if request.path.startswith(MACHINE_PREFIXES):
        error = _machine_error(request, 401, "authentication required")
        error.headers["WWW-Authenticate"] = 'Bearer realm="telemed"'
        return error
    return web.HTTPFound(f"/login?next={request.rel_url.path}")


MACHINE_ERRORS = {400: (web.HTTPBadRequest, "invalid"), 401: (web.HTTPUnauthorized, "login"),
                  403: (web.HTTPForbidden, "forbidden")}


def _machine_error(request: web.Request, status: int, message: str) -> web.HTTPException:
    """The refusal as the caller reads it: an OperationOutcome for FHIR clients, else JSON."""
    cls, code = MACHINE_ERRORS[status]
    if request.path.startswith("/fhir"):
        body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": message}]}
        return cls(text=json_response(body).text, content_type="application/fhir+json")
    return cls(text=json_response({"error": message}).text, content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    ok = await context_of(request).db.run_plain(context_of(request).db.ping)
    return json_response({"status": "ok" if ok else "unavailable", "database": ok}, status=200 if ok else 503)


def create_app(settings: Settings | None = None, *, context: Context | None = None) -> web.Application:
    """Build the app. With ``context`` given the caller owns it; otherwise the app opens and closes one."""
    from care import api as care_api
    from custody import api as custody_api
    from ehr import api as ehr_api
    from labs import api as labs_api
    from reports import api as reports_api
    from rounds import api as rounds_api
    from rounds import pages as rounds_pages
    from webrtc import api as webrtc_api

    if context is None:
        assert settings is not None
        context = Context.open(settings)
        owned = True
    else:
        owned = False
    app = web.Application(middlewares=[proxied_middleware, observe_middleware, headers_middleware, body_limit_middleware,
                                       durable_audit_middleware, auth_middleware, ui.error_pages],
                          client_max_size=64 * 1024 * 1024)
    app[CONTEXT] = context
    app[TRUSTED_PROXIES] = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in context.settings.trusted_proxies)
    app[METRICS] = Metrics()
    aiohttp_jinja2.setup(
        app,
        loader=ui.template_loader(),
        autoescape=jinja2.select_autoescape(["html"]),
        context_processors=[ui.template_context],
    )
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", handle_metrics)
    for feature in (auth_api, clients_api, clients_page, admin_api, password_page, detainee_search, events_api,
                    notifications_api, ui, ehr_api, labs_api, webrtc_api, reports_api, custody_api, care_api,
                    rounds_api, rounds_pages):
        feature.setup(app)
    async def start_bus(_app: web.Application) -> None:
        context.hub.bus.start(asyncio.get_running_loop())
    app.on_startup.append(start_bus)
    if owned:
        async def start_lookups(_app: web.Application) -> None:
            context.db.lookups.start()
            # The configuration each run starts with, in the trail: a change shows between two runs.
            context.audit.record(AuditEvent(action="config.loaded", outcome="allowed", username="server",
                                            reason=settings.describe()))

        async def close_context(_app: web.Application) -> None:
            context.close()
        app.on_startup.append(start_lookups)
        app.on_cleanup.append(close_context)
    return app
