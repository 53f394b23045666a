"""The analyzer and code-map pages, and mapping a held code from the review queue in one action,
in headless Chromium at 1366x768 in both languages, against the real app and a real MLLP listener."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright
from sqlalchemy import select

from labs import analyzers, codemaps
from labs.mllp import serve
from labs.models import LabResult
from tests.conftest import PASSWORD
from tests.labs_support import oru, send_mllp
from tests.test_labs_browser import CHROMIUM_ARGS

TEXT = {"en": ("Analyzers", "Map and file again", "Code map"), "zh-CN": ("检验仪器", "对照并重新归档", "代码对照")}


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_register_map_and_refile_in_the_browser(client, context, world, lang, tmp_path, unused_tcp_port):
    listener = await serve(context.db, context.settings, "127.0.0.1", unused_tcp_port)
    base = str(client.make_url("")).rstrip("/")
    heading, refile, code_map = TEXT[lang]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(locale="en-US" if lang == "en" else lang,
                                                   viewport={"width": 1366, "height": 768})).new_page()
            page.on("dialog", lambda dialog: dialog.accept())
            await page.goto(f"{base}/login?next=/labs/analyzers")
            await page.fill("input[name=username]", "doc-a")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{base}/labs/analyzers", wait_until="domcontentloaded")
            assert heading in await page.inner_text("h2")

            async def register(name: str, addresses: str) -> None:
                form = page.locator("#analyzer-form")
                await form.locator("input[name=name]").fill(name)
                await form.locator("input[name=sending_application]").fill(name)
                await form.locator("input[name=sending_facility]").fill("LAB")
                await form.locator("input[name=addresses]").fill(addresses)
                await form.locator("button[type=submit]").click()

            await register("BS-240", "127.0.0.1, 10.0.0.300")  # refused: nothing registered
            await page.wait_for_selector(".toast.critical")
            assert "10.0.0.300" in await page.inner_text(".toast.critical")
            assert context.db.call(analyzers.listing) == []
            await register("BS-240", "127.0.0.1, 192.168.10.0/24")
            await page.wait_for_selector("#analyzer-list tr[data-analyzer]")
            await register("Retired", "192.168.10.9")
            await page.wait_for_function("() => document.querySelectorAll('#analyzer-list tr[data-analyzer]').length === 2")
            await page.locator("#analyzer-list tr", has_text="Retired").locator("button.remove").click()
            await page.wait_for_function("() => document.querySelectorAll('#analyzer-list tr[data-analyzer]').length === 1")
            row = page.locator("#analyzer-list tr[data-analyzer]")
            assert "192.168.10.0/24" in await row.inner_text()
            await page.screenshot(path=str(tmp_path / f"analyzers-{lang}.png"), full_page=True)

            await row.locator("a").click()
            await page.wait_for_selector("#code-form")
            assert code_map in await page.inner_text("h2")
            await page.fill("#code-form input[name=code]", "01")
            await page.select_option("#code-form select[name=loinc]", "14749-6")
            await page.select_option("#code-form select[name=unit]", "mg/dL")
            await page.click("#code-form button[type=submit]")
            await page.wait_for_selector("#code-list tr[data-code='01']")
            assert "mg/dL" in await page.inner_text("#code-list tr[data-code='01']")
            await page.screenshot(path=str(tmp_path / f"codemap-{lang}.png"), full_page=True)

            # The analyzer sends a code its map lacks: held; mapped and filed again from the review queue.
            message = oru("fac-a-1", [("NM", "01^GLU^99LAB", "90", ""), ("NM", "12^UA^99LAB", "5.1", "mg/dL")],
                          sender="BS-240", control="B1")
            assert "|AE|B1|" in await send_mllp(unused_tcp_port, message)
            await page.goto(f"{base}/labs")
            control = page.locator("#held .map-code[data-code='12']")
            await control.wait_for()
            await control.locator("select[name=loinc]").select_option("14933-1")
            await control.locator("select[name=unit]").select_option(value="mg/dL")
            await page.screenshot(path=str(tmp_path / f"review-queue-{lang}.png"), full_page=True)
            await control.locator("button", has_text=refile).click()
            await page.wait_for_selector(".toast.ok")
            await page.wait_for_function("() => document.querySelectorAll('#held .map-code').length === 0")
            body = await page.inner_text("body")
            assert "labs." not in body  # no untranslated key
        finally:
            await browser.close()
            listener.close()
            await listener.wait_closed()
    filed = {r.loinc: r.value_num for r in context.db.call(lambda s: s.execute(select(LabResult)).scalars().all())}
    assert filed == {"14749-6": pytest.approx(4.9959), "14933-1": pytest.approx(303.35)}
    [analyzer] = context.db.call(analyzers.listing)
    assert [(e.code, e.loinc, e.unit) for e in context.db.call(codemaps.entries, analyzer.id)] == [
        ("01", "14749-6", "mg/dL"), ("12", "14933-1", "mg/dL")]
