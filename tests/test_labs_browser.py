"""The /labs page and the trends chart in headless Chromium, against the real app."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from tests.conftest import PASSWORD
from tests.labs_support import HGB, enter

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


@pytest.mark.browser
async def test_entry_with_live_flags_pushed_alert_and_trend_chart(client, login, context, world):
    doc_a = await login("doc-a")
    await enter(client, doc_a, "fac-a-p1", [(HGB, "150")], when="2026-02-01T08:00:00Z")
    await enter(client, doc_a, "fac-a-p1", [(HGB, "120")], when="2026-03-01T08:00:00Z")
    base = str(client.make_url("")).rstrip("/")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(locale="en-US", viewport={"width": 1366, "height": 768})).new_page()
            await page.goto(f"{base}/login?next=/labs")
            await page.fill("input[name=username]", "doc-a")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{base}/labs", wait_until="domcontentloaded")

            # pick the detainee, type a low haemoglobin: the range and the flag show as you type
            await page.fill("[data-testid=labs-detainee]", "fac-a-1")
            await page.wait_for_selector("#patient-form [role=option]")
            await page.keyboard.press("ArrowDown")
            await page.keyboard.press("Enter")
            await page.wait_for_function("() => document.getElementById('patient-info').textContent.includes('Male')")
            row = page.locator("#entry tr", has=page.locator(f"input[data-loinc='{HGB}']"))
            assert "130 – 175" in await row.locator("td.range").inner_text()
            await page.fill(f"input[data-loinc='{HGB}']", "45")
            await page.wait_for_selector(f"td[data-flag='{HGB}'].flag-LL")

            # the critical result raised by saving is pushed back as a toast and an alert row
            await page.click("#entry-form button[type=submit]")
            await page.wait_for_selector(".toast.critical", timeout=5000)
            await page.wait_for_selector("#alerts tbody tr")
            assert "45" in await page.inner_text("#alerts tbody")
            await page.click("#alerts tbody button")
            await page.wait_for_function("() => document.querySelectorAll('#alerts tbody tr').length === 0")

            # the record page, whose trends section trends.js fills
            await page.goto(f"{base}/detainees/fac-a-1")
            chart = page.locator(f"#lab-trends .lab-chart-box[data-loinc='{HGB}'] svg")
            await chart.wait_for(timeout=5000)
            assert await chart.locator("rect[data-band='130-175']").count() == 1
            assert await chart.locator("circle").count() == 3
            assert await chart.locator("circle[data-flag='LL']").count() == 1
        finally:
            await browser.close()
