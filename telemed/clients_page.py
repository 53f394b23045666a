"""The registered SMART Backend Services clients, for admins: who each is, what it may read, its
keys; and revocation, which stops the client at once (no new token; its tokens are refused
within the token cache's few seconds). Clients are added with ``telemed clients add``."""

from __future__ import annotations

import aiohttp_jinja2
import orjson
from aiohttp import web
from sqlmodel import Session, select

from telemed import display
from telemed.clients import ClientError, revoke_client
from telemed.context import context_of
from telemed.http import audit, require
from telemed.models import Organization, SmartClient
from telemed.policy import Capability
from telemed.ui import language

PATH = "/admin/clients"


def key_ids(client: SmartClient) -> list[str]:
    """The ``kid`` of each registered key; a JWKS URL's keys are only known when fetched."""
    if not client.jwks:
        return []
    return [str(key.get("kid", "")) for key in orjson.loads(client.jwks).get("keys", [])]


def rows(session: Session, lang: str) -> list[dict]:
    orgs = {o.id: (o.name_zh or o.name) if lang == "zh-CN" else o.name for o in session.exec(select(Organization))}
    found = session.exec(select(SmartClient).order_by(SmartClient.revoked_at.is_not(None), SmartClient.name))
    return [{"id": c.client_id, "name": c.name, "hospital": orgs.get(c.org_id, c.org_id), "scopes": c.scopes.split(),
             "kids": key_ids(c), "jwks_url": c.jwks_url, "registered": c.created_at, "revoked": c.revoked_at}
            for c in found]


@aiohttp_jinja2.template("clients.html")
async def clients_page(request: web.Request) -> dict:
    require(request, Capability.MANAGE_USERS, "admin.clients.page")
    lang, tz = language(request), context_of(request).settings.tz
    return {"clients": await context_of(request).db.run(rows, lang), "done": request.query.get("revoked", ""),
            "when": lambda value: display.when(value, tz, lang)}


async def revoke(request: web.Request) -> web.StreamResponse:
    require(request, Capability.MANAGE_USERS, "admin.clients.revoke")
    client_id = request.match_info["client_id"]
    try:
        await context_of(request).db.run(revoke_client, client_id)
    except ClientError as exc:
        audit(request, "admin.clients.revoke", "denied", resource=f"client/{client_id}", reason=str(exc))
        raise web.HTTPNotFound(text=str(exc)) from None
    audit(request, "admin.clients.revoke", "allowed", resource=f"client/{client_id}")
    raise web.HTTPSeeOther(f"{PATH}?revoked={client_id}")


def setup(app: web.Application) -> None:
    app.router.add_get(PATH, clients_page)
    app.router.add_post(PATH + "/{client_id}/revoke", revoke)
