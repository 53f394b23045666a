import re
from datetime import timedelta

from sqlalchemy import update

from telemed.models import AuthToken
from telemed.timeutil import utcnow
from tests.conftest import PASSWORD, bearer


async def test_token_issue_use_and_revoke(client, world):
    response = await client.post("/api/auth/token", json={"username": "doc-a", "password": PASSWORD})
    body = await response.json()
    assert response.status == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0 and len(body["access_token"]) > 30
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = await client.get("/api/me", headers=headers)
    assert (await me.json())["role"] == "facility_doctor"

    assert (await client.delete("/api/auth/token", headers=headers)).status == 204
    after = await client.get("/api/me", headers=headers)
    assert after.status == 401
    assert after.headers["WWW-Authenticate"].startswith("Bearer")


async def test_expired_token_is_refused(client, context, world):
    headers = await bearer(client, "doc-a")
    context.tokens._entries.clear()  # as another process, or after the cache's few seconds, would see it
    context.db.call(lambda s: s.exec(update(AuthToken).values(expires_at=utcnow() - timedelta(seconds=1))))
    assert (await client.get("/api/me", headers=headers)).status == 401


async def test_bad_login_requests(client, world):
    assert (await client.post("/api/auth/token", data=b"{not json")).status == 400
    assert (await client.post("/api/auth/token", json={"username": "doc-a"})).status == 400
    wrong = await client.post("/api/auth/token", json={"username": "doc-a", "password": "nope-nope-nope"})
    assert wrong.status == 401 and (await wrong.json())["error"] == "invalid username or password"


async def test_repeated_failures_are_slowed_with_a_clear_message(client, context, world):
    context.throttle.clock = lambda: 1000.0  # every attempt at one instant: the brake cannot run out
    for _ in range(3):
        await client.post("/api/auth/token", json={"username": "doc-b", "password": "wrong-password"})
    slowed = await client.post("/api/auth/token", json={"username": "doc-b", "password": PASSWORD})
    assert slowed.status == 429
    assert "try again in" in (await slowed.json())["error"]
    assert int(slowed.headers["Retry-After"]) >= 1


async def test_unauthenticated_requests(client, world):
    assert (await client.get("/api/detainees")).status == 401
    fhir = await client.get("/fhir/Patient")
    assert fhir.status == 401 and (await fhir.json())["resourceType"] == "OperationOutcome"
    page = await client.get("/", allow_redirects=False)
    assert page.status == 302 and page.headers["Location"].startswith("/login")
    assert (await client.get("/healthz")).status == 200


async def browser_login(client, username: str) -> str:
    response = await client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"},
                                 allow_redirects=False)
    assert response.status == 303
    cookie = response.cookies["telemed_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    home = await client.get("/")
    return re.search(r'name="csrf-token" content="([^"]+)"', await home.text()).group(1)


async def test_session_cookie_needs_csrf_for_writes(client, world):
    csrf = await browser_login(client, "officer-a")
    body = {"patient_id": "fac-b-p1", "reason": "a long enough reason"}
    no_token = await client.post("/api/break-glass", json=body)
    assert no_token.status == 403 and "CSRF" in (await no_token.json())["error"]
    wrong = await client.post("/api/break-glass", json=body, headers={"X-CSRF-Token": "forged"})
    assert wrong.status == 403
    # With the right token the request reaches the policy, which refuses officers emergency access.
    right = await client.post("/api/break-glass", json=body, headers={"X-CSRF-Token": csrf})
    assert right.status == 403 and "break_glass" in (await right.json())["error"]


async def test_logout_revokes_the_session(client, world):
    csrf = await browser_login(client, "doc-a")
    assert (await client.get("/api/me")).status == 200
    out = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert out.status == 303
    client.session.cookie_jar.clear()
    assert (await client.get("/api/me")).status == 401


async def test_login_page_shows_the_error(client, world):
    page = await client.post("/login", data={"username": "doc-a", "password": "bad-password", "next": "//evil.example"})
    assert page.status == 401
    text = await page.text()
    assert "invalid username or password" in text and "//evil.example" not in text


async def test_language_switch(client, world):
    await browser_login(client, "doc-a")
    zh = await (await client.get("/")).text()
    assert "在押人员" in zh
    await client.get("/lang?to=en&next=/")
    en = await (await client.get("/")).text()
    assert "Detainees" in en and "在押人员" not in en
