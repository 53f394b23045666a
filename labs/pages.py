"""The /labs pages of the on-site doctors: alerts, held messages, orders, manual entry, import;
and the analyzers that may send results, with their code maps."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from labs import analyzers, codemaps, importer
from labs.catalog import catalogue
from labs.units import normalise_unit
from telemed.context import context_of
from telemed.http import principal
from telemed.policy import Capability, may
from telemed.security import Principal


def _lab_user(request: web.Request) -> Principal:
    who = principal(request)
    if not may(who, Capability.ENTER_RESULTS):
        raise web.HTTPForbidden(text="labs are for on-site doctors")
    return who


@aiohttp_jinja2.template("labs/index.html")
async def labs_page(request: web.Request) -> dict:
    _lab_user(request)
    return {"panels": list(catalogue().panels.values()), "profiles": list(importer.profiles().values())}


@aiohttp_jinja2.template("labs/analyzers.html")
async def analyzers_page(request: web.Request) -> dict:
    who = _lab_user(request)

    def read(session) -> list[tuple]:
        return [(a, len(codemaps.entries(session, a.id))) for a in analyzers.listing(session, who.org_id)]

    return {"analyzers": await context_of(request).db.run(read)}


@aiohttp_jinja2.template("labs/codemap.html")
async def codemap_page(request: web.Request) -> dict:
    who = _lab_user(request)
    analyzer_id = int(request.match_info["analyzer_id"])

    def read(session):
        found = analyzers.get(session, analyzer_id, who.org_id)
        return (found, codemaps.entries(session, found.id)) if found else (None, [])

    analyzer, entries = await context_of(request).db.run(read)
    if analyzer is None:
        raise web.HTTPNotFound(text="no such analyzer in your facility")
    cat = catalogue()
    return {"analyzer": analyzer, "entries": [(e, cat.test(e.loinc)) for e in entries],
            "tests": sorted((t for t in cat.tests.values()), key=lambda t: (t.panel, t.abbr)), "units": unit_choices}


def unit_choices(test) -> list[str]:
    """The units an analyzer may report ``test`` in: its own and those ``labs.units`` converts."""
    return [normalise_unit(u) for u in (test.unit, *test.alt_units)] if test.quantitative else []


def setup(app: web.Application) -> None:
    app.router.add_get("/labs", labs_page)
    app.router.add_get("/labs/analyzers", analyzers_page)
    app.router.add_get("/labs/analyzers/{analyzer_id:\\d+}", codemap_page)
