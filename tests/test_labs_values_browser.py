"""Censored values, corrections with their history and specimen marks, as a doctor sees them on
the labs page and the record page, in both languages, at 1366x768 (headless Chromium)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from labs import hl7
from tests.conftest import PASSWORD
from tests.labs_support import POTASSIUM, enter
from tests.test_labs_browser import CHROMIUM_ARGS

CRP = "30522-7"
SHOTS = Path(os.environ.get("TELEMED_SCREENSHOTS", "/tmp/telemed-screenshots"))
HAEMOLYSED_K = "\r".join([
    "MSH|^~\\&|LIS^Hospital|LAB||TELEMED|20260301080000||ORU^R01|B1|P|2.5.1||||||UNICODE",
    "PID|1||fac-a-1^^^^MR||王^小明||19800501|M",
    "OBR|1||ACC-9|24326-1^Electrolytes^LN|||20260301080000",
    f"OBX|1|NM|{POTASSIUM}^K^LN||6.8|mmol/L|||||F",
    "NTE|1|L|标本溶血 specimen haemolysed",
])


async def pick(page, booking: str) -> None:
    """The detainee through the labs page's type-ahead picker, as a person does."""
    await page.fill("[data-testid=labs-detainee]", booking)
    await page.wait_for_selector("#patient-form [role=option]")
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("Enter")


@pytest.mark.browser
async def test_censored_corrected_and_haemolysed_values_in_the_labs_page_and_the_record(client, login, context, world):
    doc = await login("doc-a")
    assert (await enter(client, doc, "fac-a-p1", [(CRP, "<0.20")], when="2026-02-27T08:00:00Z")).status == 201
    assert context.db.call(hl7.process, HAEMOLYSED_K, "fac-a", context.settings.tz).code == "AA"
    order = await client.post("/api/labs/orders", json={"patient_id": "fac-a-p1", "tests": [POTASSIUM, CRP, "2951-2"]},
                              headers=doc)
    assert order.status == 201
    base = str(client.make_url("")).rstrip("/")
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(locale="en-US", viewport={"width": 1366, "height": 768})).new_page()
            errors = []  # failed requests of these pages (the favicon, which no page has yet, aside)
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
            await page.goto(f"{base}/login?next=/labs")
            await page.fill("input[name=username]", "doc-a")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{base}/labs", wait_until="domcontentloaded")
            await page.goto(f"{base}/lang?to=en&next=/labs")

            await pick(page, "fac-a-1")
            k_row = page.locator("#results tbody tr", has_text="Potassium")
            await k_row.wait_for()
            assert "6.8" in await k_row.inner_text() and "Haemolysed" in await k_row.locator(".badge.mark").inner_text()
            crp_row = page.locator("#results tbody tr", has_text="CRP")
            assert "<0.2" in await crp_row.locator("td.lab-value").inner_text()
            assert "Normal" in await crp_row.inner_text()
            # the critical alert carries the haemolysis mark beside its value
            assert "Haemolysed" in await page.locator("#alerts tbody tr", has_text="6.8").inner_text()

            # the open order lists its outstanding tests; one is cancelled with a reason
            order_row = page.locator("#orders tbody tr").first
            await order_row.wait_for()
            assert "Na" in await order_row.inner_text()
            await order_row.locator("select[name=loinc]").select_option("2951-2")
            await order_row.locator("input[name=reason]").fill("sample used up")
            await order_row.get_by_role("button", name="Cancel test").click()
            await page.wait_for_selector(".toast >> text=Test cancelled")

            # correct the potassium, with a reason; the mark stays and the history shows both values
            await k_row.get_by_role("button", name="Correct").click()
            form = page.locator("form.correct-form")
            await form.locator("input[name=value]").fill("4.6")
            await form.locator("input[name=reason]").fill("re-run on a fresh sample")
            await form.get_by_role("button", name="Save correction").click()
            await page.wait_for_function(
                "() => [...document.querySelectorAll('#results tbody tr')].some(r => r.textContent.includes('4.6'))")
            k_row = page.locator("#results tbody tr", has_text="Potassium")
            marks = await k_row.locator(".badge.mark").all_inner_texts()
            assert marks == ["Corrected", "Haemolysed"]
            await k_row.get_by_role("button", name="History").click()
            history = page.locator("table.lab-history")
            await history.wait_for()
            text = await history.inner_text()
            assert "6.8 mmol/L" in text and "4.6 mmol/L" in text and "re-run on a fresh sample" in text
            assert await page.locator("#alerts tbody tr", has_text="6.8").count() == 0  # corrected away: closed
            await page.screenshot(path=SHOTS / "labs-corrections-en.png", full_page=True)

            # the record page: the value as written, the marks, the history on demand
            await page.goto(f"{base}/detainees/fac-a-1")
            labs = page.locator("#labs")
            assert "<0.2 mg/L" in await labs.locator("tr", has_text="C reactive protein").inner_text()
            k_record = labs.locator("tbody > tr", has_text="Potassium").first
            assert await k_record.locator(".badge.mark").all_inner_texts() == ["Corrected", "Haemolysed"]
            await k_record.get_by_role("button", name="History").click()
            await labs.locator("table.lab-history").wait_for()
            assert "6.8 mmol/L" in await labs.locator("table.lab-history").inner_text()
            assert "specimen haemolysed" in await k_record.inner_text()  # the lab's comment stays
            chart = page.locator(f"#lab-trends .lab-chart-box[data-loinc='{POTASSIUM}'] svg")
            await chart.wait_for(timeout=5000)  # opened by itself: one of the first three tests
            assert "Corrected" in await chart.locator("text.lab-mark").text_content()
            await page.screenshot(path=SHOTS / "record-corrections-en.png", full_page=True)

            # the same in Chinese
            await page.goto(f"{base}/lang?to=zh-CN&next=/detainees/fac-a-1")
            k_record = page.locator("#labs tbody > tr", has_text="(K)").first
            await k_record.wait_for()
            assert await k_record.locator(".badge.mark").all_inner_texts() == ["已更正", "溶血"]
            await k_record.get_by_role("button", name="修改记录").click()
            assert "结果" in await page.locator("#labs table.lab-history").inner_text()
            await page.screenshot(path=SHOTS / "record-corrections-zh.png", full_page=True)
            await page.goto(f"{base}/labs")
            await pick(page, "fac-a-1")
            k_row = page.locator("#results tbody tr", has_text="钾")
            await k_row.wait_for()
            assert await k_row.locator(".badge.mark").all_inner_texts() == ["已更正", "溶血"]
            assert "<0.2" in await page.locator("#results tbody tr", has_text="CRP").inner_text()
            await page.screenshot(path=SHOTS / "labs-corrections-zh.png", full_page=True)
            assert errors == []
        finally:
            await browser.close()
