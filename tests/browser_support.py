"""Chromium for the page tests: launched headless at 1366x768, signed in through the login page,
and watched for script errors and failed requests."""

from __future__ import annotations

from playwright.async_api import Browser, Page

from tests.conftest import PASSWORD

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
VIEWPORT = {"width": 1366, "height": 768}


async def launch(playwright) -> Browser:
    return await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)


async def signed_in(browser: Browser, base: str, user: str, lang: str) -> Page:
    """A new page (browser locale ``lang``) of ``user``, logged in, on the home page."""
    page = await (await browser.new_context(viewport=VIEWPORT, locale=lang)).new_page()
    await page.goto(f"{base}/lang?to={lang}&next=/login")
    await page.fill("input[name=username]", user)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/", wait_until="domcontentloaded")
    return page


def watch(page: Page) -> list[str]:
    """Script errors, console errors and failed requests of the page (the browser's own favicon
    fetch is not the page's: it raises no response event)."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and
            not m.text.startswith("Failed to load resource") else None)
    page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url.split('/', 3)[-1]}") if r.status >= 400 else None)
    return problems
