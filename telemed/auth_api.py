"""Logging in: bearer tokens for programs, a session cookie with CSRF protection for browsers."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web
from sqlmodel import Session

from telemed.context import context_of
from telemed.http import PRINCIPAL, api_error, audit, json_response, principal, read_form, read_json
from telemed.metrics import METRICS
from telemed.models import TokenKind, User
from telemed.security import LoginRefused, authenticate, issue_token, principal_of, revoke_token, token_hash
from telemed.throttle import LoginThrottle

SESSION_COOKIE = "telemed_session"


def _login(session: Session, username: str, password: str, address: str, throttle: LoginThrottle,
           kind: TokenKind, ttl: int) -> tuple[str, User]:
    user = authenticate(session, username, password, address, throttle)
    raw, _token = issue_token(session, user, kind, ttl)
    return raw, user


async def _attempt(request: web.Request, username: str, password: str, kind: TokenKind) -> tuple[str, User]:
    ctx = context_of(request)
    try:
        raw, user = await ctx.db.run(_login, username, password, request.remote or "", ctx.throttle, kind,
                                     ctx.settings.token_ttl_seconds)
    except LoginRefused as refused:
        request.app[METRICS].logins.labels("refused").inc()
        audit(request, "auth.login", "denied", resource=f"user/{username}"[:200], reason=refused.message)
        raise
    request.app[METRICS].logins.labels("ok").inc()
    request[PRINCIPAL] = principal_of(user)
    audit(request, "auth.login", "allowed", resource=f"user/{username}")
    return raw, user


async def create_token(request: web.Request) -> web.Response:
    body = await read_json(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise api_error(400, "username and password are required strings")
    try:
        raw, _user = await _attempt(request, username, password, TokenKind.BEARER)
    except LoginRefused as refused:
        error = api_error(refused.status, refused.message, retry_after=refused.retry_after)
        if refused.retry_after:
            error.headers["Retry-After"] = str(refused.retry_after)
        raise error from None
    ttl = context_of(request).settings.token_ttl_seconds
    return json_response({"access_token": raw, "token_type": "Bearer", "expires_in": ttl})


async def revoke(request: web.Request) -> web.Response:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        raise api_error(401, "send the token to revoke as 'Authorization: Bearer <token>'")
    ctx = context_of(request)
    raw = header[7:].strip()
    if not await ctx.db.run(revoke_token, raw):
        raise api_error(404, "unknown or already revoked token")
    ctx.tokens.revoked([token_hash(raw)])
    return web.Response(status=204)


async def me(request: web.Request) -> web.Response:
    who = principal(request)
    return json_response({"username": who.username, "display_name": who.display_name, "role": who.role,
                          "org_id": who.org_id, "specialty": who.specialty})


@aiohttp_jinja2.template("login.html")
async def login_page(request: web.Request) -> dict:
    return {"next": _safe_next(request.query.get("next")), "error": None}


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    next_url = _safe_next(str(form.get("next", "/")))
    try:
        raw, _user = await _attempt(request, username, password, TokenKind.SESSION)
    except LoginRefused as refused:
        context = {"next": next_url, "error": refused.message, "username": username}
        return aiohttp_jinja2.render_template("login.html", request, context, status=refused.status)
    response = web.HTTPSeeOther(next_url)
    set_session(response, raw, context_of(request).settings)
    raise response


def set_session(response: web.StreamResponse, raw: str, settings) -> None:
    response.set_cookie(SESSION_COOKIE, raw, httponly=True, samesite="Strict", path="/",
                        secure=settings.cookie_secure, max_age=settings.token_ttl_seconds)


async def logout(request: web.Request) -> web.StreamResponse:
    ctx = context_of(request)
    raw = request.cookies.get(SESSION_COOKIE)
    if raw and await ctx.db.run(revoke_token, raw):
        ctx.tokens.revoked([token_hash(raw)])
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def _safe_next(value: str | None) -> str:
    # Only same-site paths: an open redirect after login is a phishing aid.
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    return value


def setup(app: web.Application) -> None:
    app.router.add_post("/api/auth/token", create_token)
    app.router.add_delete("/api/auth/token", revoke)
    app.router.add_get("/api/me", me)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
