"""What every answer carries, and what the server refuses before it reads a body."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from telemed.app import create_app
from telemed.context import Context
from tests.conftest import both_databases


@both_databases
async def test_pages_and_apis_carry_a_strict_policy_and_no_server_version(client, world, login):
    headers = await login("doc-a")
    for path, extra in (("/login", {}), ("/api/detainees", headers), ("/api/nothing-here", headers)):
        response = await client.get(path, headers=extra)
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["Server"] == "telemed"
        assert "Strict-Transport-Security" not in response.headers  # no secure cookie: plain HTTP


async def test_hsts_when_the_cookie_is_secure(aiohttp_client, settings, world):
    secure = Context.open(dataclasses.replace(settings, cookie_secure=True))
    try:
        client = await aiohttp_client(create_app(context=secure))
        response = await client.get("/login")
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    finally:
        secure.close()


@both_databases
async def test_a_huge_unauthenticated_body_is_refused_before_it_is_sent(client, world):
    """The server answers 413 from the declared length alone, while the client has sent only
    the headers; meanwhile it goes on serving others."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 62914560\r\n\r\n" + b"a" * 1024)
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 30)
    assert status_line.startswith(b"HTTP/1.1 413")
    writer.close()
    assert (await client.get("/healthz")).status == 200


@pytest.mark.parametrize("path, size", [("/api/auth/token", 5000), ("/login", 5000)])
async def test_login_bodies_are_limited_to_a_few_kilobytes(client, world, path, size):
    response = await client.post(path, data=b"x" * size, headers={"Content-Type": "application/json"})
    assert response.status == 413


async def test_an_authenticated_api_body_over_its_limit_is_refused(client, world, login):
    headers = await login("doc-a")
    response = await client.post("/api/consults", data=b"[" + b"1," * 1_100_000 + b"1]",
                                 headers={**headers, "Content-Type": "application/json"})
    assert response.status == 413


@both_databases
async def test_a_login_form_that_is_not_utf8_gets_a_400(client, world):
    response = await client.post("/login", data=b"username=doc-a&password=\xff\xfe\xfa",
                                 headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    assert response.status == 400


async def test_a_method_a_route_does_not_take_is_405(client, world, login):
    headers = await login("officer-a")
    for path in ("/api/detainees", "/api/admin/users", "/api/consults", "/api/campaigns"):
        assert (await client.delete(path, headers=headers)).status == 405
