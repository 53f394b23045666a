"""Intake screening and sick call in headless Chromium against the real app: the doctor screens
an arrival and sees the flags its answers raise on the record; an officer on a phone-width page
enters a request and sees nothing clinical; the doctor triages, schedules and closes it; a
breached clock shows on the work list."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from playwright.async_api import async_playwright

from care.models import SickCall
from care.questionnaire import QUESTIONS
from tests.browser_support import launch, signed_in, watch
from tests.care_support import arrive

pytestmark = pytest.mark.browser
PHONE = {"width": 360, "height": 740}


async def test_the_doctor_screens_an_arrival_and_the_record_shows_its_flags(client, context, world):
    _, intake_id = context.db.call(arrive)
    base = str(client.make_url("")).rstrip("/")
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await signed_in(browser, base, "doc-a", "en")
            problems = watch(page)
            await page.goto(f"{base}/care")
            row = page.locator(f"[data-intake='{intake_id}']")
            assert "赵新来" in await row.inner_text()
            await row.locator("a").click()
            await page.wait_for_selector("#screening-form")
            for link, question in QUESTIONS.items():
                if question.kind == "boolean":
                    yes = link in ("suicide_thoughts", "tb_cough")
                    await page.check(f"input[name={link}][value={'true' if yes else 'false'}]")
            await page.select_option("select[name=pregnant]", "not-applicable")
            await page.click("[data-testid=save-screening]")
            await page.wait_for_selector("[data-testid=answers]")
            flags = await page.locator("[data-testid=flag]").all_inner_texts()
            assert sorted(flags) == ["Airborne isolation", "Suicide watch"]
            assert "Coughing up blood: No" in " ".join((await page.inner_text("[data-testid=answers]")).split())

            await page.goto(f"{base}/detainees/A-900")  # arrive()'s booking number
            shown = await page.locator("[data-testid=record-flag]").all_inner_texts()
            assert sorted(shown) == ["Airborne isolation", "Suicide watch"]
            await page.goto(f"{base}/care")
            follow = await page.inner_text("[data-testid=follow-ups]")
            assert "Urgent doctor review" in follow
            assert not problems, problems
        finally:
            await browser.close()


async def test_an_officer_enters_a_request_the_doctor_triages_and_closes_it(client, context, world):
    base = str(client.make_url("")).rstrip("/")
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            guard = await signed_in(browser, base, "guard-a", "zh-CN")
            await guard.set_viewport_size(PHONE)
            problems = watch(guard)
            await guard.goto(f"{base}/care/request")
            await guard.fill("[data-testid=booking]", "fac-a-1")
            await guard.select_option("select[name=category]", "dental")
            await guard.fill("[data-testid=words]", "牙疼了三天，晚上睡不着")
            await guard.click("[data-testid=submit-request]")
            await guard.wait_for_selector("[data-testid=receipt]:not([hidden])")
            assert "王小明" in await guard.inner_text("[data-testid=receipt]")
            width = await guard.evaluate("() => document.documentElement.scrollWidth")
            assert width <= PHONE["width"]
            await guard.reload()
            mine = await guard.inner_text("[data-testid=mine]")
            assert "王小明" in mine and "待分诊" in mine and "牙疼" not in mine
            assert not problems, problems

            doctor = await signed_in(browser, base, "doc-a", "en")
            await doctor.goto(f"{base}/care")
            await doctor.locator("[data-testid=sick-calls] a").first.click()
            assert "牙疼了三天" in await doctor.inner_text("[data-testid=words]")
            visit = (datetime.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
            await doctor.fill("input[name=visit_at]", visit)
            await doctor.click("[data-testid=schedule]")
            await doctor.wait_for_selector("#visit-form")
            await doctor.select_option("select[name=outcome]", "seen")
            await doctor.fill("textarea[name=note]", "Dental caries; referred to the visiting dentist.")
            await doctor.click("[data-testid=save-visit]")
            await doctor.wait_for_selector("[data-testid=outcome]")
            assert await doctor.inner_text("[data-testid=outcome]") == "Seen on site"

            await guard.reload()
            mine = await guard.inner_text("[data-testid=mine]")
            assert "已结案" in mine and "caries" not in mine
        finally:
            await browser.close()


async def test_a_breached_triage_clock_shows_on_the_work_list(client, login, context, world):
    doc = await login("doc-a")
    response = await client.post("/api/care/sick-calls", headers=doc,
                                 json={"patient_id": "fac-a-p2", "words": "发烧", "category": "illness"})
    made = await response.json()

    def backdate(session):
        row = session.get(SickCall, made["id"])
        for name in ("received_at", "triage_due", "visit_due"):
            setattr(row, name, getattr(row, name) - timedelta(hours=25))
        session.add(row)
    base = str(client.make_url("")).rstrip("/")
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await signed_in(browser, base, "doc-a", "zh-CN")
            await page.goto(f"{base}/care")
            row = page.locator(f"[data-call='{made['id']}']")
            assert await row.locator("[data-testid=triage-late]").count() == 0
            context.db.call(backdate)
            await page.reload()
            assert await row.locator("[data-testid=triage-late]").inner_text() == "已超时"
            assert await row.locator("[data-testid=visit-late]").count() == 0
        finally:
            await browser.close()
