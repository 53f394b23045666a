"""The notifications journey through the pages, in headless Chromium at 1366x768, in both
languages: a critical result arrives while the doctor's pages are closed; the bell counts it,
the list shows it in words with the facility's time and opens the record; dismissing it is kept
across a reload; a pop-up's close button dismisses the stored one, in every open tab."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import async_playwright

from telemed.notifications import unread_count
from tests.browser_support import launch, signed_in, watch
from tests.labs_support import POTASSIUM, enter
from tests.test_consults_browser import _shot

pytestmark = pytest.mark.browser
WORDS = {"en": {"kind": "Critical result", "none": "No notifications waiting.",
                "time": re.compile(r"^\d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d$")},
         "zh-CN": {"kind": "危急值", "none": "没有待处理的通知。",
                   "time": re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$")}}


async def _kept(context, user_id: int, count: int) -> None:
    """Wait for the labs pusher (a background task of the server) to have kept ``count``."""
    for _ in range(600):
        if context.db.call(unread_count, user_id) == count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} notification(s) were never kept")


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_a_notification_missed_is_listed_opened_and_dismissed(client, login, context, world, lang):
    words = WORDS[lang]
    base = str(client.make_url("")).rstrip("/")
    doctor = world.users["doc-a"]
    await enter(client, await login("doc-a"), "fac-a-p1", [(POTASSIUM, "7.4")])
    await _kept(context, doctor, 1)  # nobody's page was open: only the store has it
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await signed_in(browser, base, "doc-a", lang)
            problems = watch(page)
            assert await page.text_content("[data-testid=bell-count]") == "1"
            await page.click("[data-testid=bell]")
            await page.wait_for_url(f"{base}/notifications")
            [item] = await page.locator("[data-testid=notice]").all()
            assert words["kind"] in await item.inner_text() and "7.4" in await item.inner_text()
            assert words["time"].match(await item.locator(".nowrap").first.inner_text())
            await _shot(page, "notifications", lang)
            await item.locator("a").click()
            await page.wait_for_url(re.compile(r"/detainees/"))
            await page.go_back()
            await page.click("[data-testid=notice-dismiss]")
            await page.wait_for_selector("[data-testid=no-notices]")
            await page.reload()
            assert await page.inner_text("[data-testid=no-notices]") == words["none"]
            assert "7.4" in await page.inner_text("[data-testid=dismissed]")
            assert await page.text_content("[data-testid=bell-count]") == ""

            # Two tabs open; a pop-up closed in one is dismissed, and leaves the other too.
            other = await page.context.new_page()
            problems += watch(other)
            for tab in (page, other):
                await tab.goto(f"{base}/", wait_until="networkidle")
            await page.wait_for_timeout(500)  # the events sockets are open
            await enter(client, await login("doc-a"), "fac-a-p2", [(POTASSIUM, "7.1")])
            for tab in (page, other):
                await tab.wait_for_selector(".toast.critical[data-notice]")
                assert await tab.text_content("[data-testid=bell-count]") == "1"
            await page.click(".toast.critical .toast-close")
            await other.wait_for_selector(".toast", state="detached")
            await _kept(context, doctor, 0)
            for tab in (page, other):
                await tab.wait_for_function("() => document.querySelector('.bell-count').textContent === ''")
            await page.reload()
            assert await page.text_content("[data-testid=bell-count]") == ""
            assert problems == []
        finally:
            await browser.close()
