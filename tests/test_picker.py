"""The shared type-ahead look-ups: ICD-10 by code or words in either language, and detainees by
booking number, name or cell within what the caller may see; then the picker in Chromium."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from tests.browser_support import launch, signed_in
from tests.conftest import both_databases
from tests.test_ehr_access import audit_rows
from tests.test_record_browser import SHOTS


async def test_icd10_by_code_and_by_words_in_both_languages(client, login):
    doc = await login("doc-a")

    async def found(q: str, lang: str) -> list[dict]:
        response = await client.get("/api/terminology/icd10", params={"q": q, "lang": lang}, headers=doc)
        assert response.status == 200, await response.text()
        return await response.json()

    assert (await found("e11.9", "en"))[0] == {"code": "E11.9", "title": "Type 2 diabetes mellitus without complications"}
    assert [e["code"] for e in await found("I1", "en")][:2] == ["I10", "I11"]
    assert {"code": "E11", "title": "2型糖尿病"} in await found("糖尿病", "zh-CN")
    assert {"code": "E11", "title": "Type 2 diabetes mellitus"} in await found("type 2 diabetes", "en")
    assert {"code": "E11", "title": "2型糖尿病"} in await found("type 2 diabetes", "zh-CN")  # English words, Chinese answer
    assert {"code": "B86", "title": "疥疮"} in await found("疥疮", "zh-CN")
    assert await found("no such disease at all", "en") == []
    assert (await client.get("/api/terminology/icd10", headers=doc)).status == 400
    assert (await client.get("/api/terminology/icd10?q=I10", headers=await login("admin"))).status == 403
    assert (await client.get("/api/terminology/icd10?q=I10")).status == 401


@both_databases
async def test_detainee_search_sees_only_what_the_caller_may(client, login, context, world):
    doc = await login("doc-a")

    async def found(headers: dict, **params) -> list[dict]:
        response = await client.get("/api/detainees/search", params=params, headers=headers)
        assert response.status == 200, await response.text()
        return await response.json()

    rows = await found(doc, q="fac-a-2", lang="zh-CN")
    assert rows == [{"ref": "fac-a-p2", "name": "王小明", "booking_number": "fac-a-2", "cell": "1-01",
                     "facility": "甲看守所", "own_facility": True, "sex": "female", "birth_date": "1980-05-01"}]
    assert len(await found(doc, q="小明")) == 3  # by name; cell "1-01" too
    assert len(await found(doc, q="1-01")) == 3
    assert await found(doc, q="fac-b") == []  # another facility's detainees are not listed
    assert await found(await login("spec-1"), q="fac-a") == []  # no consult, no detainee
    emergency = await found(doc, q="fac-b-3", scope="emergency", lang="en")
    assert [(r["ref"], r["facility"], r["own_facility"]) for r in emergency] == [("fac-b-p3", "Facility B", False)]
    for refused, headers, params in ((400, doc, {"q": "fa", "scope": "emergency"}),
                                     (400, doc, {"q": "x", "scope": "everyone"}),
                                     (403, await login("officer-a"), {"q": "fac-b-3", "scope": "emergency"}),
                                     (403, await login("admin"), {"q": "fac-a"})):
        assert (await client.get("/api/detainees/search", params=params, headers=headers)).status == refused, params
    assert audit_rows(context, username="doc-a", action="detainee.search", patient_id="fac-a-p2")
    flagged = audit_rows(context, username="doc-a", action="detainee.search.emergency", patient_id="fac-b-p3")
    assert flagged and "outside your facility" in flagged[0].reason
    assert audit_rows(context, username="admin", action="detainee.search", outcome="denied")


@pytest.mark.browser
async def test_break_glass_form_picks_a_detainee_by_keyboard(client, world, context):
    base = str(client.make_url("")).rstrip("/")
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await signed_in(browser, base, "doc-a", "en")
            await page.click("details.break-glass summary")
            picker = page.locator("[data-testid=break-glass-detainee]")
            await picker.fill("fac-b-")
            options = page.locator("#break-glass-form [role=option]")
            await options.first.wait_for()
            assert await options.count() == 3
            await page.screenshot(path=str(SHOTS / "picker-break-glass-en.png"))
            assert "Facility B" in await options.first.inner_text()
            assert "fac-b-p" not in await page.locator("#break-glass-form").inner_html()  # the ref stays hidden
            await picker.press("ArrowDown")
            await picker.press("ArrowDown")
            await picker.press("Enter")
            assert await picker.input_value() == "王小明 · fac-b-2"
            await page.fill("#break-glass-form textarea", "Transferred in overnight, chest pain")
            await page.click("#break-glass-form button[type=submit]")
            await page.wait_for_url(f"{base}/detainees/fac-b-2", wait_until="domcontentloaded")
        finally:
            await browser.close()
    assert audit_rows(context, username="doc-a", action="break_glass.open", patient_id="fac-b-p2")
