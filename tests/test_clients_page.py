"""The registered hospital systems page: an admin sees each client (name, hospital, scopes, key
ids, times in the facility's zone) and revokes one after confirming, in a real browser against
the real server; other roles are refused and a revoked client gets no token."""

from __future__ import annotations

import urllib.error
import urllib.request

import orjson
import pytest
from playwright.sync_api import sync_playwright
from sqlmodel import select

from telemed import display
from telemed.clients import add_client
from telemed.models import AuditEntry, SmartClient
from tests.browser_support import CHROMIUM_ARGS, VIEWPORT, Watch
from tests.conftest import PASSWORD, both_databases
from tests.served import serve
from tests.test_smart_backend import public_jwks, rsa_key

pytestmark = [pytest.mark.browser]


def register(session) -> None:
    add_client(session, "hosp1-etl", "Hospital 1 engine", "hosp-1", "system/Observation.read system/Patient.rs",
               jwks=public_jwks(rsa_key("key-2026-a")))
    add_client(session, "hosp1-lab", "Hospital 1 lab feed", "hosp-1", "system/Observation.rs",
               jwks_url="https://hospital.example/jwks.json")


def sign_in(browser, base: str, username: str, lang: str, watch: Watch):
    page = browser.new_context(viewport=VIEWPORT, locale=lang).new_page()
    watch.attach(page)
    page.goto(f"{base}/lang?to={lang}&next=/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/", wait_until="domcontentloaded")
    return page


@both_databases
def test_an_admin_sees_the_clients_and_revokes_one_after_confirming(settings, context, world):
    context.db.call(register)
    created = context.db.call(lambda s: s.get(SmartClient, "hosp1-etl").created_at)
    server, base = serve(settings)
    watch = Watch()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = sign_in(browser, base, "admin", "en", watch)
            page.goto(f"{base}/admin/clients")
            row = page.locator("tr[data-client=hosp1-etl]")
            for shown in ("Hospital 1 engine", "Partner Hospital", "system/Observation.read", "key-2026-a",
                          display.when(created, settings.tz, "en"), "Active"):
                assert shown in row.inner_text(), shown
            assert "https://hospital.example/jwks.json" in page.locator("tr[data-client=hosp1-lab]").inner_text()
            assert "telemed clients add" in page.inner_text("main")
            # Cancelled: nothing changes.
            page.click("[data-testid=revoke-hosp1-lab]")
            assert "Hospital 1 lab feed" in page.inner_text("#confirm-text")
            page.click("[data-testid=confirm-cancel]")
            # Confirmed: revoked, with the time, and no revoke button any more.
            page.click("[data-testid=revoke-hosp1-etl]")
            page.click("[data-testid=confirm-ok]")
            page.wait_for_url(f"{base}/admin/clients?revoked=hosp1-etl")
            revoked = context.db.call(lambda s: s.get(SmartClient, "hosp1-etl").revoked_at)
            assert revoked is not None
            row = page.locator("tr[data-client=hosp1-etl]")
            assert display.when(revoked, settings.tz, "en") in row.inner_text()
            assert page.locator("[data-testid=revoke-hosp1-etl]").count() == 0
            assert context.db.call(lambda s: s.get(SmartClient, "hosp1-lab").revoked_at) is None
            # The same page in Chinese.
            zh = sign_in(browser, base, "admin", "zh-CN", watch)
            zh.goto(f"{base}/admin/clients")
            assert "吊销" in zh.inner_text("main") and "合作医院" in zh.inner_text("main")
            browser.close()
        assert not watch.problems, watch.problems
        trail = context.db.call(lambda s: list(s.exec(select(AuditEntry.outcome).where(
            AuditEntry.action == "admin.clients.revoke", AuditEntry.resource == "client/hosp1-etl"))))
        assert trail == ["allowed"]
        # Another role: refused, the page and the revocation alike.
        asked = orjson.dumps({"username": "doc-a", "password": PASSWORD})
        with urllib.request.urlopen(urllib.request.Request(f"{base}/api/auth/token", method="POST", data=asked,
                                                           headers={"Content-Type": "application/json"})) as r:
            bearer = {"Authorization": f"Bearer {orjson.loads(r.read())['access_token']}"}
        for method, path in (("GET", "/admin/clients"), ("POST", "/admin/clients/hosp1-lab/revoke")):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(urllib.request.Request(f"{base}{path}", method=method, headers=bearer))
            assert refused.value.code == 403, path
        assert context.db.call(lambda s: s.get(SmartClient, "hosp1-lab").revoked_at) is None
    finally:
        server.kill()
        server.wait()
