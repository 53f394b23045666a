"""The SMART Backend Services token endpoint: ``POST /api/auth/smart/token`` (client credentials,
``private_key_jwt``), with the registered clients' JWKS URLs fetched and cached no longer than
their Cache-Control allows. Every answer, granted or refused, is audited."""

from __future__ import annotations

import re
import time

import aiohttp
from aiohttp import web
from joserfc.jwk import KeySet

from telemed.clients import (ASSERTION_TYPE, TOKEN_SECONDS, Assertion, ClientError, check_key_set, claimed,
                             client_for, grant, principal_for, verify)
from telemed.context import context_of
from telemed.http import PRINCIPAL, audit, json_response, read_form
from telemed.models import SmartClient
from telemed.timeutil import utcnow

TOKEN_PATH = "/api/auth/smart/token"
JWKS_MAX_BYTES = 64 * 1024
_MAX_AGE = re.compile(r"max-age=(\d+)")


class JwksCache:
    """Fetched key sets by URL, each until its response's max-age ran out (no max-age: not kept)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[KeySet, float]] = {}

    async def get(self, url: str) -> KeySet:
        cached = self._entries.get(url)
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http, \
                    http.get(url, allow_redirects=False) as response:
                if response.status != 200:
                    raise ClientError(f"the client's JWKS URL answered {response.status}")
                text = (await response.content.read(JWKS_MAX_BYTES + 1)).decode()
                control = response.headers.get("Cache-Control", "")
        except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError) as exc:
            raise ClientError(f"the client's JWKS URL could not be read: {exc}") from None
        if len(text) > JWKS_MAX_BYTES:
            raise ClientError("the client's JWKS is too large")
        keys = check_key_set(text)
        found = _MAX_AGE.search(control)
        if found and "no-store" not in control and "no-cache" not in control:
            self._entries[url] = (keys, time.monotonic() + int(found.group(1)))
        return keys


JWKS = web.AppKey("smart_jwks", JwksCache)


def token_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}{TOKEN_PATH}"


def oauth_error(error: ClientError) -> web.Response:
    return json_response({"error": error.error, "error_description": str(error)}, status=error.status,
                         headers={"Cache-Control": "no-store"})


async def _form(request: web.Request) -> tuple[str, str, str]:
    if request.content_type != "application/x-www-form-urlencoded":
        raise ClientError("send the token request as application/x-www-form-urlencoded", "invalid_request", 400)
    form = await read_form(request)
    if form.get("grant_type") != "client_credentials":
        raise ClientError("grant_type must be client_credentials", "unsupported_grant_type", 400)
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise ClientError(f"client_assertion_type must be {ASSERTION_TYPE}", "invalid_request", 400)
    assertion, scope = form.get("client_assertion"), form.get("scope")
    if not isinstance(assertion, str) or not assertion:
        raise ClientError("client_assertion is required", "invalid_request", 400)
    if not isinstance(scope, str) or not scope.strip():
        raise ClientError("scope is required", "invalid_scope", 400)
    return assertion, scope, token_url(request)


async def _keys(request: web.Request, client: SmartClient) -> KeySet:
    return check_key_set(client.jwks) if client.jwks else await request.app[JWKS].get(client.jwks_url)


async def issue(request: web.Request) -> web.Response:
    found: Assertion | None = None
    try:
        assertion, scope, url = await _form(request)
        found = claimed(assertion)
        db = context_of(request).db
        client = await db.read(client_for, found)
        claims = verify(assertion, found, await _keys(request, client), url, utcnow())
        raw, granted = await db.run(grant, client, claims, scope)
    except ClientError as refused:
        subject = f"client/{found.client_id}"[:200] if found else "client/?"
        audit(request, "smart.token", "denied", resource=subject, reason=str(refused)[:2000])
        return oauth_error(refused)
    request[PRINCIPAL] = principal_for(client, granted)
    audit(request, "smart.token", "allowed", resource=f"client/{client.client_id}", reason=granted)
    return json_response({"access_token": raw, "token_type": "bearer", "expires_in": TOKEN_SECONDS,
                          "scope": granted}, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def setup(app: web.Application) -> None:
    app[JWKS] = JwksCache()
    app.router.add_post(TOKEN_PATH, issue)
