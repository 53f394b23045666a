"""A user changes their own password: at once after an administrator reset it (the
administrator saw it), and whenever they choose to. Until then every other page leads here and
every API answers 403 (telemed.app's auth middleware)."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from telemed.accounts import AccountError, change_own_password
from telemed.auth_api import set_session
from telemed.context import context_of
from telemed.http import audit, principal, read_form
from telemed.models import TokenKind
from telemed.security import issue_token

PATH = "/account/password"


@aiohttp_jinja2.template("password.html")
async def password_page(request: web.Request) -> dict:
    return {"forced": principal(request).must_change_password, "error": None, "field": ""}


async def password_submit(request: web.Request) -> web.StreamResponse:
    who, ctx = principal(request), context_of(request)
    form = await read_form(request)
    current, new, again = (str(form.get(name, "")) for name in ("current", "password", "again"))
    if new != again:
        return _refused(request, "again", "password_mismatch")

    def change(session):
        user, revoked = change_own_password(session, who.user_id, current, new)
        raw, _token = issue_token(session, user, TokenKind.SESSION, ctx.settings.token_ttl_seconds)
        return raw, revoked

    try:
        raw, revoked = await ctx.db.run(change)
    except AccountError as refused:
        return _refused(request, refused.field, refused.code)
    for digest in revoked:
        ctx.tokens.drop(digest)
    audit(request, "auth.password_change", "allowed", resource=f"user/{who.username}")
    response = web.HTTPSeeOther("/")
    set_session(response, raw, ctx.settings)
    raise response


def _refused(request: web.Request, field: str, code: str) -> web.Response:
    """The page again, the reason next to its field; audited, as every attempt is."""
    who = principal(request)
    audit(request, "auth.password_change", "denied", resource=f"user/{who.username}", reason=code)
    context = {"forced": who.must_change_password, "error": f"password.err.{code}", "field": field}
    return aiohttp_jinja2.render_template("password.html", request, context, status=422)


def setup(app: web.Application) -> None:
    app.router.add_get(PATH, password_page)
    app.router.add_post(PATH, password_submit)
