"""The /labs page of the on-site doctors: alerts, held messages, orders, manual entry, import."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from labs import importer
from labs.catalog import catalogue
from telemed.http import principal
from telemed.policy import Capability, may


@aiohttp_jinja2.template("labs/index.html")
async def labs_page(request: web.Request) -> dict:
    if not may(principal(request), Capability.ENTER_RESULTS):
        raise web.HTTPForbidden(text="labs are for on-site doctors")
    return {"panels": list(catalogue().panels.values()), "profiles": list(importer.profiles().values())}


def setup(app: web.Application) -> None:
    app.router.add_get("/labs", labs_page)
