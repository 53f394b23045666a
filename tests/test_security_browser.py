"""In headless Chromium against the real app: every page works under the Content-Security-Policy
(no console error, no refusal), and a medical officer approves a new account from the home page."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from tests.conftest import PASSWORD
from tests.test_accounts import STRONG
from tests.test_labs_browser import CHROMIUM_ARGS

PAGES = {
    "doc-a": ["/", "/labs", "/consults", "/exams", "/detainees/fac-a-1"],
    "officer-a": ["/", "/exams", "/detainees/fac-a-1"],
    "spec-1": ["/", "/consults"],
    "admin": ["/"],
}


async def sign_in(browser, base: str, username: str, locale: str = "en-US"):
    page = await (await browser.new_context(locale=locale, viewport={"width": 1366, "height": 768})).new_page()
    problems: list[str] = []
    # A console error, but a failed load by its address (the console names no address).
    page.on("console", lambda message: problems.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource") else None)
    page.on("response", lambda response: problems.append(f"{response.status} {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    await page.goto(f"{base}/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/", wait_until="domcontentloaded")
    return page, problems


@pytest.mark.browser
async def test_every_page_runs_under_the_policy(client, world):
    base = str(client.make_url("")).rstrip("/")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            for username, paths in PAGES.items():
                page, problems = await sign_in(browser, base, username)
                for path in paths:
                    response = await page.goto(f"{base}{path}", wait_until="networkidle")
                    assert response.status == 200, path
                    assert "script-src 'self'" in response.headers["content-security-policy"]
                assert problems == [], f"{username}: {problems}"
        finally:
            await browser.close()


@pytest.mark.browser
@pytest.mark.parametrize("locale, approve", [("en-US", "Approve"), ("zh-CN", "批准")])
async def test_a_medical_officer_approves_a_new_account_from_the_home_page(client, world, login, locale, approve):
    admin = await login("admin")
    created = await client.post("/api/admin/users", headers=admin, json={
        "username": "doc-new", "password": STRONG, "role": "facility_doctor", "org_id": "fac-a",
        "display_name": "Dr New"})
    assert created.status == 201
    base = str(client.make_url("")).rstrip("/")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page, problems = await sign_in(browser, base, "officer-a", locale)
            if locale == "zh-CN":
                await page.goto(f"{base}/lang?to=zh-CN&next=/")
            row = page.locator("#accounts-pending tr[data-username='doc-new']")
            await row.wait_for()
            shown = await row.inner_text()
            assert "Dr New" in shown and "fac-a" not in shown  # the facility by name, never its id
            assert ("甲看守所" if locale == "zh-CN" else "Facility A") in shown
            await row.locator("button", has_text=approve).click()
            await row.locator("button").wait_for(state="detached")
            assert problems == []
        finally:
            await browser.close()
    signed_in = await client.post("/api/auth/token", json={"username": "doc-new", "password": STRONG})
    assert signed_in.status == 200
