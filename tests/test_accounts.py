"""Accounts against the real server: nobody can lock someone else out, an answer does not tell
whether an account exists, passwords are strong, and a new clinical account waits for a
medical officer of its organisation."""

from __future__ import annotations

import aiohttp
import pytest
from sqlmodel import select

from telemed import security
from telemed.context import Context
from telemed.models import AuditEntry
from telemed.throttle import ADDRESS_FREE, PAIR_FREE
from tests.conftest import PASSWORD, both_databases

STRONG = "tundra-violin-orbit-42"


async def attempt(client, username: str, password: str, source: str = "127.0.0.1") -> aiohttp.ClientResponse:
    """A login from loopback address ``source`` (every 127.x address reaches the server)."""
    url = client.make_url("/api/auth/token")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0))) as session:
        async with session.post(url, json={"username": username, "password": password}) as response:
            await response.read()
            return response


@both_databases
async def test_a_stranger_cannot_lock_a_known_account(client, context, world):
    context.throttle.clock = lambda: 1000.0  # every attempt at one instant: the brake cannot run out
    for _ in range(PAIR_FREE + 5):
        await attempt(client, "doc-a", "wrong-password-x", source="127.0.0.7")
    assert (await attempt(client, "doc-a", PASSWORD, source="127.0.0.7")).status == 429
    own = await attempt(client, "doc-a", PASSWORD, source="127.0.0.8")
    assert own.status == 200


@both_databases
async def test_the_brake_outlives_a_restart(client, context, world, settings):
    """The failures are in the database: a server started afresh (or another process of a
    cluster) brakes the same guesser, and still lets the owner in from elsewhere."""
    context.throttle.clock = lambda: 1000.0
    for _ in range(PAIR_FREE):
        assert (await attempt(client, "doc-a", "wrong-password-x", source="127.0.0.7")).status == 401
    assert (await attempt(client, "doc-a", PASSWORD, source="127.0.0.7")).status == 429
    restarted = Context.open(settings)
    try:
        restarted.throttle.clock = lambda: 1000.0
        assert restarted.throttle.wait("doc-a", "127.0.0.7") >= 1
        assert restarted.throttle.wait("doc-a", "127.0.0.8") == 0
        restarted.throttle.clear_account("doc-a")
        assert context.throttle.wait("doc-a", "127.0.0.7") == 0
    finally:
        restarted.close()


@both_databases
async def test_one_address_guessing_many_accounts_is_slowed_for_every_account(client, context, world):
    context.throttle.clock = lambda: 1000.0
    for n in range(ADDRESS_FREE):
        assert (await attempt(client, f"guess-{n}", "wrong-password-x", source="127.0.0.9")).status == 401
    slowed = await attempt(client, "doc-b", PASSWORD, source="127.0.0.9")
    assert slowed.status == 429 and int(slowed.headers["Retry-After"]) >= 1
    assert (await attempt(client, "doc-b", PASSWORD, source="127.0.0.10")).status == 200


@both_databases
async def test_unknown_and_known_accounts_get_the_same_answers_through_the_same_path(client, context, world):
    """The same status and body for an unknown user, a wrong password, a deactivated and a
    waiting account; each attempt, braked or not, runs exactly one password hash."""
    admin = {"Authorization": (await _bearer(client, "admin"))}
    created = await client.post("/api/admin/users", headers=admin, json={
        "username": "doc-new", "password": STRONG, "role": "facility_doctor", "org_id": "fac-a"})
    assert created.status == 201 and (await created.json())["state"] == "pending"
    deactivated = await client.post(f"/api/admin/users/{world.users['doc-b']}/deactivate", headers=admin)
    assert deactivated.status == 200

    answers = set()
    for username, password in (("nobody", "wrong-password-x"), ("doc-a", "wrong-password-x"),
                               ("doc-b", PASSWORD), ("doc-new", STRONG)):
        before = security.password_checks
        response = await attempt(client, username, password, source="127.0.0.11")
        assert security.password_checks == before + 1
        answers.add((response.status, await response.text()))
    assert answers == {(401, '{"error":"invalid username or password","retry_after":null}')}

    braked = set()
    for username in ("nobody", "doc-a"):
        for _ in range(PAIR_FREE):
            await attempt(client, username, "wrong-password-x", source="127.0.0.12")
        before = security.password_checks
        response = await attempt(client, username, "wrong-password-x", source="127.0.0.12")
        assert security.password_checks == before + 1
        braked.add((response.status, (await response.json())["error"].split(";")[0]))
    assert braked == {(429, "too many failed logins")}


async def _bearer(client, username: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/auth/token", json={"username": username, "password": password})
    assert response.status == 200, await response.text()
    return f"Bearer {(await response.json())['access_token']}"


@pytest.mark.parametrize("password, message", [
    ("short-pw-1", "at least 12 characters"),
    ("password1234", "too common"),
    ("qwertyuiop12", "too common"),
    ("doc-weak2026", "too common"),  # the username and a year
])
async def test_weak_passwords_are_refused(client, world, password, message):
    admin = {"Authorization": await _bearer(client, "admin")}
    response = await client.post("/api/admin/users", headers=admin, json={
        "username": "doc-weak", "password": password, "role": "facility_doctor", "org_id": "fac-a"})
    assert response.status == 422 and message in (await response.json())["error"]


@both_databases
async def test_a_new_clinical_account_waits_for_a_medical_officer_of_its_facility(client, context, world):
    admin = {"Authorization": await _bearer(client, "admin")}
    created = await client.post("/api/admin/users", headers=admin, json={
        "username": "doc-new", "password": STRONG, "role": "facility_doctor", "org_id": "fac-a"})
    new_id = (await created.json())["id"]
    assert (await attempt(client, "doc-new", STRONG)).status == 401

    for who, status in (("admin", 403), ("doc-a", 403), ("officer-b", 404)):
        headers = {"Authorization": await _bearer(client, who)}
        assert (await client.post(f"/api/accounts/{new_id}/approve", headers=headers)).status == status
    other = {"Authorization": await _bearer(client, "officer-b")}
    assert await (await client.get("/api/accounts/pending", headers=other)).json() == []
    assert (await attempt(client, "doc-new", STRONG)).status == 401

    officer = {"Authorization": await _bearer(client, "officer-a")}
    waiting = await (await client.get("/api/accounts/pending", headers=officer)).json()
    assert [u["username"] for u in waiting] == ["doc-new"]
    approved = await client.post(f"/api/accounts/{new_id}/approve", headers=officer)
    assert approved.status == 200 and (await approved.json())["state"] == "active"
    assert (await client.post(f"/api/accounts/{new_id}/approve", headers=officer)).status == 404  # once
    assert (await attempt(client, "doc-new", STRONG)).status == 200

    context.audit.flush()
    trail = context.db.call(lambda s: s.exec(select(AuditEntry).where(AuditEntry.action.in_(
        ["admin.users.create", "account.approve"])).order_by(AuditEntry.seq)).all())
    assert [(e.action, e.outcome, e.username) for e in trail] == [
        ("admin.users.create", "allowed", "admin"), ("account.approve", "denied", "admin"),
        ("account.approve", "denied", "doc-a"), ("account.approve", "denied", "officer-b"),
        ("account.approve", "allowed", "officer-a"), ("account.approve", "denied", "officer-a")]
    assert trail[4].resource == "user/doc-new"


async def test_the_demo_logins_still_work(settings, client):
    from telemed import demo
    from tests.served import cli

    loaded = cli(settings, "demo")
    assert loaded.returncode == 0, loaded.stderr
    for username, password, *_ in demo.USERS:
        assert (await attempt(client, username, password)).status == 200
