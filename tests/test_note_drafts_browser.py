"""The doctor's draft journey through the pages, in both languages: a progress note saved as a
draft, found again from the home page's count, reopened, saved again, then signed; once signed it
offers amendment only."""

from __future__ import annotations

import pytest

from telemed.i18n import translate
from tests.browser_support import signed_in, watch
from tests.test_record_browser import BOOKING, browser, submit  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.browser


async def save_draft(page) -> None:
    async with page.expect_navigation():
        await page.click("#note-form [data-save-draft]")


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_a_draft_is_saved_found_from_home_reopened_and_signed(client, world, browser, lang):  # noqa: F811
    base = str(client.make_url("")).rstrip("/")
    page = await signed_in(browser, base, "doc-a", lang)
    problems = watch(page)
    await page.goto(f"{base}/detainees/{BOOKING}")
    await page.click("[data-testid=write-note]")
    await page.fill("#note-form textarea[name=subjective]", "Cough for three days")
    await save_draft(page)
    draft = page.locator("#notes [data-testid=note-draft]")
    assert translate(lang, "ehr.drafts.draft") in await draft.inner_text()

    await page.goto(f"{base}/")
    count = page.locator('a[href="/notes/drafts"]')
    assert "1" in await count.inner_text()
    await count.click()
    await page.wait_for_selector("[data-testid=drafts]")
    assert "Cough for three days" in await page.inner_text("[data-testid=drafts]")
    async with page.expect_navigation():
        await page.click("[data-testid=drafts] a")

    await page.locator("#notes [data-edit-draft]").click()
    assert await page.input_value("#note-form textarea[name=subjective]") == "Cough for three days"
    await page.fill("#note-form textarea[name=plan]", "Review in a week")
    await save_draft(page)
    await page.reload()
    await page.locator("#notes [data-edit-draft]").click()
    assert await page.input_value("#note-form textarea[name=plan]") == "Review in a week"
    await submit(page, "#note-form")

    assert await page.locator("#notes [data-testid=note-draft], #notes [data-edit-draft]").count() == 0
    signed = page.locator("#timeline li[data-kind=progress-note]").first
    await signed.locator(":scope > details > summary").click()
    assert "Review in a week" in await signed.inner_text()
    assert await signed.locator("[data-amend-note]").count() == 1
    await page.goto(f"{base}/notes/drafts")
    assert translate(lang, "ehr.drafts.none") in await page.inner_text("[data-testid=drafts]")
    assert problems == []
