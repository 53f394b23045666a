"""``/notifications``: the signed-in user's own notifications, newest first, each linking to the
record or consult it is about; dismissing one (or all) is kept, and the user's other open pages
take the pop-up down. Reads are audited, naming the detainees the list shows."""

from __future__ import annotations

import re

import aiohttp_jinja2
from aiohttp import web

from telemed import display, notifications
from telemed.context import context_of
from telemed.http import api_error, audit, audit_shown, json_response, principal
from telemed.models import Notification
from telemed.ui import language

KEY = re.compile(r"[0-9a-f]{32}")


def _row(n: Notification, lang: str, tz) -> dict:
    return {"key": n.key, "text": n.toast.get(lang) or n.toast.get("en", ""), "link": n.link,
            "critical": n.severity == "critical", "when": display.when(n.created_at, tz, lang),
            "kind": "notifications.kind." + n.kind.replace(".", "_")}


async def page(request: web.Request) -> web.StreamResponse:
    who = principal(request)
    ctx = context_of(request)
    found = await ctx.db.read(notifications.listed, who.user_id)
    audit(request, "notification.list", "allowed", reason=f"{len(found.unread)} open")
    audit_shown(request, "notification.list", [n.patient_id for n in found.unread + found.dismissed if n.patient_id])
    lang, tz = language(request), ctx.settings.tz
    return aiohttp_jinja2.render_template("notifications.html", request, {
        "unread": [_row(n, lang, tz) for n in found.unread],
        "dismissed": [_row(n, lang, tz) for n in found.dismissed]})


async def dismiss(request: web.Request) -> web.Response:
    """Dismiss one by its key; 404 for a key the caller has no notification of."""
    who = principal(request)
    key = request.match_info["key"]
    ctx = context_of(request)
    if not KEY.fullmatch(key) or not await ctx.db.read(notifications.exists, who.user_id, key):
        raise api_error(404, "no such notification")
    return await _dismissed(request, key)


async def dismiss_all(request: web.Request) -> web.Response:
    return await _dismissed(request, None)


async def _dismissed(request: web.Request, key: str | None) -> web.Response:
    who = principal(request)
    ctx = context_of(request)
    count = await ctx.db.run(notifications.dismiss, who.user_id, key)
    audit(request, "notification.dismiss", "allowed", resource=f"notification/{key or 'all'}")
    ctx.hub.publish(*notifications.dismissed_message(key, who.user_id))
    return json_response({"dismissed": count, "unread": await ctx.db.read(notifications.unread_count, who.user_id)})


def setup(app: web.Application) -> None:
    app.router.add_get("/notifications", page)
    app.router.add_post("/api/notifications/dismiss-all", dismiss_all)
    app.router.add_post("/api/notifications/{key}/dismiss", dismiss)
