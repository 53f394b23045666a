"""A real call in headless Chromium (fake camera and microphone) between the facility's page
and the specialist's page, through the server's relay and through Janus."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.browser_support import signed_in
from tests.consults_support import CHROMIUM_ARGS, call, observation, scheduled, settings, write_note  # noqa: F401


@pytest.fixture
def media() -> str:
    return "embedded"


PLAYING = "() => { const v = document.getElementById('remote-0'); return v.videoWidth > 0 && v.currentTime > 1; }"
# The badge's frame rate: the page's own inbound video, from getStats, on either backend.
FRAME_RATE = "() => /Frame rate [1-9][0-9.]* /.test(document.querySelector('[data-testid=quality]').title)"


async def _open(browser: Browser, base: str, username: str, room: str) -> Page:
    page = await signed_in(browser, base, username, "en")
    await page.goto(f"{base}{room}", wait_until="domcontentloaded")
    return page


async def _frame_rates_kept(client, login, cid: str) -> None:
    """Both participants' frame rates reach the call's statistics (with Janus: as the pages report them)."""
    for _ in range(50):
        shown = await call(client, "GET", f"/api/consults/{cid}/stats", await login("doc-a"))
        rates = [p["frame_rate"] for p in shown["participants"]]
        if len(rates) == 2 and all(r and r > 5 for r in rates):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"frame rates in the call's statistics: {rates}")


@pytest.mark.browser
@pytest.mark.parametrize("media", ["embedded", "janus"])
async def test_facility_and_specialist_pages_see_each_other(client, login, context, world, media):
    cid = (await scheduled(client, login, recording=True))["id"]
    base = str(client.make_url("")).rstrip("/")
    room = f"/consults/{cid}/room"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            doctor = await _open(browser, base, "doc-a", room)
            await doctor.wait_for_selector("[data-testid=waiting]:not([hidden])")
            specialist = await _open(browser, base, "spec-1", room)
            for page in (doctor, specialist):
                await page.wait_for_function(PLAYING, timeout=15000)
                assert await page.text_content("[data-testid=room-state]") == "In call"
                assert await page.is_visible("[data-testid=rec]")
            for page in (doctor, specialist):
                await page.wait_for_function(FRAME_RATE, timeout=10000)
            await _frame_rates_kept(client, login, cid)
            await doctor.click("[data-tab=chat]")
            await doctor.fill("#chat-form input[name=text]", "BP 130/85")
            await doctor.click("#chat-form button")
            await specialist.click("[data-tab=chat]")
            await specialist.wait_for_selector("[data-testid=chat-log] li:has-text('BP 130/85')", timeout=5000)
            await specialist.click("[data-testid=mute]")
            assert await specialist.text_content("[data-testid=mute]") == "Unmute"
            # A page reload is a drop: the specialist rejoins, the doctor's call goes on and shows them again.
            await specialist.reload(wait_until="domcontentloaded")
            await specialist.wait_for_function(PLAYING, timeout=15000)
            frames = "document.getElementById('remote-0').getVideoPlaybackQuality().totalVideoFrames"
            shown = await doctor.evaluate(frames)
            await doctor.wait_for_function(f"() => {frames} > {shown} + 30", timeout=10000)
            await doctor.click("[data-tab=invite]")
            await doctor.select_option("#invite-form select[name=user_id]", str(world.users["spec-2"]))
            await doctor.click("#invite-form button.primary")
            await doctor.wait_for_selector(".toast:has-text('Invited')")
            assert (await call(client, "GET", f"/api/consults/{cid}", await login("spec-2")))["invited"]
            await _a_third_comes_and_the_first_leaves_for_good(browser, base, room, doctor, specialist)

            await write_note(specialist, note="Stable angina likely.", recommendations="Exercise ECG in 2 weeks.",
                             code="I20.9", medication="Aspirin", dose="100")
            await specialist.select_option("#closing-form select[name=outcome]", "treat-on-site")
            await specialist.click("#closing-form button.primary")
            # The signed advice reaches the doctor's page at once: the room closes on the note.
            await doctor.wait_for_selector("#closed-items li[data-type=Condition]:has-text('Angina pectoris')", timeout=5000)
            assert await doctor.is_visible("#closed-items li[data-type=MedicationRequest]:has-text('once daily')")
        finally:
            await browser.close()


def _playing(slot: int, after: int = 0) -> str:
    return (f"() => {{ const v = document.getElementById('remote-{slot}'); "
            f"return v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > {after}; }}")


async def _a_third_comes_and_the_first_leaves_for_good(browser: Browser, base: str, room: str, doctor: Page,
                                                       specialist: Page) -> None:
    """The invited guest fills the doctor's second slot; the specialist leaves for good and the
    guest's picture moves to the first slot and plays on, the second shown empty; the specialist
    comes back into the second slot."""
    guest = await _open(browser, base, "spec-2", room)
    await guest.wait_for_function(_playing(0), timeout=15000)
    await doctor.wait_for_function(_playing(1), timeout=15000)
    guest_name = await doctor.text_content("#remote-1-name")
    await specialist.click("#leave")
    await specialist.wait_for_url(f"{base}/consults")
    await doctor.wait_for_function(f"() => document.getElementById('remote-0-name').textContent === {guest_name!r}",
                                   timeout=10000)
    await doctor.wait_for_selector("figure.empty #remote-1", state="attached", timeout=10000)
    frames = "document.getElementById('remote-0').getVideoPlaybackQuality().totalVideoFrames"
    await doctor.wait_for_function(f"() => {frames} > {await doctor.evaluate(frames)} + 30", timeout=10000)
    await specialist.goto(f"{base}{room}", wait_until="domcontentloaded")
    await specialist.wait_for_function(PLAYING, timeout=15000)
    await doctor.wait_for_function(_playing(1), timeout=15000)
    assert await doctor.text_content("#remote-0-name") == guest_name
    await guest.close()


@pytest.mark.browser
async def test_request_accept_and_confirm_on_the_work_lists(client, login, context, world):
    context.db.call(observation)
    base = str(client.make_url("")).rstrip("/")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            doctor = await _open(browser, base, "doc-a", "/consults")
            await doctor.fill("[data-testid=request-detainee]", "fac-a-1")  # its booking number
            await doctor.click("#request-form [role=option]")
            await doctor.check("#share-items input[name=share]")
            await doctor.fill("#request-form textarea[name=question]", "Palpitations; Holter result attached")
            await doctor.click("#request-form button.primary")
            await doctor.wait_for_selector("[data-testid=list-awaiting_decision] .consult-row")

            specialist = await _open(browser, base, "spec-1", "/consults")
            row = specialist.locator("[data-testid=list-awaiting_decision] .consult-row")
            await row.locator("button.primary").click()
            await specialist.wait_for_selector("[data-testid=list-scheduled] .consult-row")

            await doctor.reload()
            await doctor.click("[data-testid=list-scheduled] .consult-row button.primary")
            await doctor.wait_for_selector("[data-testid=enter-room]")
        finally:
            await browser.close()
