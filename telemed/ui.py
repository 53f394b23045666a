"""Server-rendered pages: login, the home page of each role, the administration page, the
error pages and the shared layout.

Each capability renders its own templates (``<package>/templates/<package>/*.html``) on the
same ``base.html``; the navigation below lists every page and the roles that see it.
"""

from __future__ import annotations

from importlib import resources

import aiohttp_jinja2
import jinja2
from aiohttp import web

from telemed import addresses
from telemed.context import context_of
from telemed.http import PRINCIPAL, principal, require
from telemed.i18n import LANGUAGES, pick_language, translate
from telemed.models import Role
from telemed.notifications import unread_count
from telemed.policy import Capability
from telemed.timeutil import local

TEMPLATE_PACKAGES = ("telemed", "ehr", "labs", "webrtc", "reports", "custody", "care", "rounds")
LANG_COOKIE = "telemed_lang"

NAV = (
    ("nav.home", "/", tuple(Role)),
    ("nav.labs", "/labs", (Role.FACILITY_DOCTOR,)),
    ("nav.consults", "/consults", (Role.FACILITY_DOCTOR, Role.SPECIALIST)),
    ("nav.exams", "/exams", (Role.FACILITY_DOCTOR, Role.MEDICAL_OFFICER)),
    ("nav.custody_tasks", "/custody", (Role.CUSTODY_OFFICER,)),
    ("nav.custody_desk", "/custody/desk", (Role.FACILITY_DOCTOR,)),
    ("nav.custody_figures", "/custody/figures", (Role.MEDICAL_OFFICER,)),
    ("nav.rounds", "/rounds", (Role.FACILITY_DOCTOR,)),
    ("nav.pills", "/rounds/pills", (Role.FACILITY_DOCTOR,)),
    ("nav.adherence", "/rounds/adherence", (Role.MEDICAL_OFFICER,)),
    ("nav.care", "/care", (Role.FACILITY_DOCTOR, Role.MEDICAL_OFFICER)),
    ("nav.care_request", "/care/request", (Role.CUSTODY_OFFICER, Role.CELL_KIOSK)),
    ("nav.admin", "/admin", (Role.ADMIN,)),
    ("clients.nav", "/admin/clients", (Role.ADMIN,)),
)
# Paths answered for programs (JSON, FHIR, sockets): their errors stay machine-readable.
MACHINE_PREFIXES = ("/api/", "/fhir", "/ws/", "/static/")
ERROR_PAGES = (400, 403, 404)
FAVICON = resources.files("telemed") / "static" / "favicon.ico"


def language(request: web.Request) -> str:
    return pick_language(request.query.get("lang"), request.cookies.get(LANG_COOKIE),
                         request.headers.get("Accept-Language"))


async def template_context(request: web.Request) -> dict:
    lang = language(request)
    who = request.get(PRINCIPAL)
    tz = context_of(request).settings.tz

    def _(key: str, **values: object) -> str:
        return translate(lang, key, **values)

    def localtime(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return local(value, tz).strftime(fmt) if value else ""

    nav = [(_(key), href) for key, href, roles in NAV if who and who.role in roles]
    # Every request runs this (aiohttp_jinja2's middleware); only pages show the bell, and a
    # database read per API or FHIR request cost more than the rest of a FHIR read's answer.
    wants_bell = who is not None and not request.path.startswith(MACHINE_PREFIXES)
    unread = await context_of(request).db.read(unread_count, who.user_id) if wants_bell else 0
    return {"unread_notices": unread, "record_href": addresses.record,
            "_": _, "lang": lang, "languages": LANGUAGES, "principal": who, "nav": nav,
            "csrf_token": who.csrf_token if who else "", "localtime": localtime,
            "timezone": context_of(request).settings.timezone, "path": request.path}


@aiohttp_jinja2.template("home.html")
async def home(request: web.Request) -> dict:
    from telemed import home as home_counts  # it counts every package's work, and they import this module

    return {"counts": await context_of(request).db.run(home_counts.counts, principal(request))}


@aiohttp_jinja2.template("admin.html")
async def admin_page(request: web.Request) -> dict:
    """``?state=active|inactive|locked`` opens the user list filtered (the home page's counts link here)."""
    require(request, Capability.MANAGE_USERS, "admin.page")
    state = request.query.get("state", "")
    if state not in ("", "active", "inactive", "locked"):
        raise web.HTTPBadRequest(text="state must be active, inactive or locked")
    return {"state": state, "roles": list(Role)}


async def favicon(request: web.Request) -> web.FileResponse:
    return web.FileResponse(str(FAVICON), headers={"Cache-Control": "max-age=86400"})


@web.middleware
async def error_pages(request: web.Request, handler):
    """A refusal or a missing page, asked for by a person, answered in the site's layout and language."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status not in ERROR_PAGES or request.path.startswith(MACHINE_PREFIXES):
            raise
        response = aiohttp_jinja2.render_template("error.html", request, {"status": exc.status})
        response.set_status(exc.status)
        return response


async def switch_language(request: web.Request) -> web.StreamResponse:
    lang = request.query.get("to", "")
    target = request.query.get("next", "/")
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    response = web.HTTPSeeOther(target)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="Lax", path="/")
    raise response


def template_loader() -> jinja2.FileSystemLoader:
    folders = [resources.files(p) / "templates" for p in TEMPLATE_PACKAGES]
    return jinja2.FileSystemLoader([str(f) for f in folders if f.is_dir()])


def setup(app: web.Application) -> None:
    app.router.add_get("/", home)
    app.router.add_get("/admin", admin_page)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/lang", switch_language)
    for package in TEMPLATE_PACKAGES:
        static = resources.files(package) / "static"
        if static.is_dir():
            app.router.add_static(f"/static/{package}/", str(static))
