"""The consult journeys through the pages only, in headless Chromium at 1366x768, in both
languages: the on-site doctor requests with the detainee picker, the specialist sees the shared
potassium with its flag and range, keeps a draft across a reload, is warned of empty fields,
signs; each side sees the other leave; the signed room is closed and shows the note; the history
finds it; notifications are dismissed and lead where they say. The journey's call goes through
the embedded relay and through Janus."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.browser_support import signed_in, watch
from tests.consults_support import CHROMIUM_ARGS, call, requested, settings, write_note  # noqa: F401 - fixture
from tests.labs_support import POTASSIUM, enter

ARGS = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]  # the ring's tone may sound
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
LIVE = "() => { const v = document.getElementById('remote-0'); return v.videoWidth > 0 && v.currentTime > 1; }"
WORDS = {
    "en": {"time": "05 Mar 2026 08:00", "anonymous": "Male, born 1980", "left": "left the call",
           "critical": "↑↑ critically high", "closed": "signed and closed", "recommendations": "Recommendations",
           "outcome": "Treat on site", "note_outcome": "Outcome: Treat on site"},
    "zh-CN": {"time": "2026-03-05 08:00", "anonymous": "男，1980 年生", "left": "已离开通话",
              "critical": "↑↑ 危急高值", "closed": "已签署", "recommendations": "处理建议",
              "outcome": "所内治疗", "note_outcome": "处置结果：所内治疗"},
}


@pytest.fixture
def media() -> str:
    """The embedded relay, unless a test asks for both backends (``settings`` reads it)."""
    return "embedded"


class Watched:
    """A signed-in page and the script errors and failed requests seen on it. A fetch cut short
    because the test moved the page on (net::ERR_ABORTED) is not a failure a user would see."""

    def __init__(self, page: Page) -> None:
        self.page, self._seen = page, watch(page)
        self._cut: list[str] = []
        page.on("requestfailed", lambda r: r.failure == "net::ERR_ABORTED" and self._cut.append(f"failed {r.url}"))

    @property
    def errors(self) -> list[str]:
        return [e for e in self._seen if e not in self._cut]


async def _open(browser: Browser, base: str, username: str, path: str, lang: str) -> Watched:
    page = await signed_in(browser, base, username, lang)
    await page.wait_for_load_state("networkidle")  # the home page's own requests done, none cut short
    watched = Watched(page)
    await page.goto(f"{base}{path}", wait_until="domcontentloaded")
    return watched


async def _shot(page: Page, name: str, lang: str, media: str = "embedded") -> None:
    if media != "embedded":  # the same pages: the documentation's pictures come from one run
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}-{lang}.png"))


async def _request_on_the_page(doctor: Page, lang: str, media: str) -> str:
    """Pick the detainee by booking number, tick the shared panels, send: the new consult's id."""
    await doctor.fill("[data-testid=request-detainee]", "fac-a-1")
    await doctor.click("#request-form [role=option]")
    await doctor.wait_for_selector("#share-items input[name=share]")
    for box in await doctor.locator("#share-items input[name=share][value^=DiagnosticReport]").all():
        await box.check()
    await doctor.fill("#request-form textarea[name=question]", "K 6.9 mmol/L, ECG peaked T waves?")
    await _shot(doctor, "consults", lang, media)
    async with doctor.expect_response(lambda r: r.url.endswith("/api/consults") and r.request.method == "POST") as sent:
        await doctor.click("#request-form button.primary")
    return (await (await sent.value).json())["id"]


async def _schedule(client, login, cid: str) -> None:
    await call(client, "POST", f"/api/consults/{cid}/triage", await login("spec-1"),
               {"decision": "accept", "proposed_start": "2026-03-05T10:00:00+08:00"})
    doc = await login("doc-a")
    await call(client, "POST", f"/api/consults/{cid}/confirm", doc, {})
    await call(client, "POST", f"/api/consults/{cid}/custody", doc, {
        "consult_consent": True, "recording_consent": False, "officer_present": True, "security_note": ""})


async def _write_the_note(page: Page) -> None:
    row = await write_note(page, note="Hyperkalaemia with ECG changes.", recommendations="Calcium gluconate; repeat K in 2 h.",
                           code="E87.5", medication="Calcium gluconate 10%", dose="10")
    await row.locator("[name=dose_unit]").select_option("mL")
    await row.locator("[name=route]").select_option("iv")
    await row.locator("[name=frequency]").select_option("once")
    await page.select_option("#closing-form select[name=outcome]", "treat-on-site")
    await page.click("#save-draft")
    await page.wait_for_selector(".toast:not(.critical)")


async def _draft_is_back(page: Page) -> None:
    await page.click("[data-tab=closing]")
    await page.wait_for_selector("[data-testid=diagnoses] li[data-code='E87.5']")
    assert await page.input_value("#closing-form textarea[name=note]") == "Hyperkalaemia with ECG changes."
    row = page.locator("#prescriptions .rx-row").first
    assert [await row.locator(f"[name={k}]").input_value() for k in ("medication", "dose_value", "dose_unit", "route", "frequency")] \
        == ["Calcium gluconate 10%", "10", "mL", "iv", "once"]
    assert await page.input_value("#closing-form select[name=outcome]") == "treat-on-site"


@pytest.mark.browser
@pytest.mark.parametrize("media", ["embedded", "janus"])
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_consult_journey(client, login, context, world, lang, media):
    words = WORDS[lang]
    doc = await login("doc-a")
    for when, k in (("2026-03-01T00:00:00Z", "4.6"), ("2026-03-05T00:00:00Z", "6.9")):
        await enter(client, doc, "fac-a-p1", [(POTASSIUM, k), ("2951-2", "139")], when=when)
    base = str(client.make_url("")).rstrip("/")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            doctor = await _open(browser, base, "doc-a", "/consults", lang)
            cid = await _request_on_the_page(doctor.page, lang, media)
            await _schedule(client, login, cid)
            room = f"/consults/{cid}/room"
            await doctor.page.goto(f"{base}{room}", wait_until="domcontentloaded")
            specialist = await _open(browser, base, "spec-1", room, lang)
            d, s = doctor.page, specialist.page
            for page in (d, s):
                await page.wait_for_function(LIVE, timeout=20000)

            # The shared potassium: value, unit, range, flag, local time, and its trend.
            k_row = s.locator(f"#items table.results tr[data-loinc='{POTASSIUM}']").last
            await k_row.wait_for()
            cells = await k_row.locator("td").all_inner_texts()
            assert cells[1:4] == ["6.9 mmol/L", "3.5–5.3", words["critical"]]
            assert await k_row.get_attribute("title") == words["time"]
            assert await k_row.locator("svg.spark[data-points='2']").count() == 1
            await _shot(s, "consult-room", lang, media)

            # The draft survives a reload, diagnoses and prescriptions included.
            await _write_the_note(s)
            await s.reload(wait_until="domcontentloaded")
            await _draft_is_back(s)

            # The specialist leaves: the doctor's page says so; back again, the call resumes.
            await s.click("#leave")
            await d.wait_for_selector(f"[data-testid=room-state]:has-text('{words['left']}')", timeout=8000)
            assert await d.is_visible("[data-testid=waiting]")
            await _shot(d, "consult-peer-left", lang, media)
            await s.goto(f"{base}{room}", wait_until="domcontentloaded")
            await d.wait_for_selector("[data-testid=room-state].ok", timeout=20000)
            await s.wait_for_function(LIVE, timeout=20000)

            # Signing with an empty field asks first; going back changes nothing.
            await s.click("[data-tab=closing]")
            await s.wait_for_selector("[data-testid=diagnoses] li[data-code='E87.5']")
            await s.fill("#closing-form textarea[name=recommendations]", "")
            await s.click("#closing-form button.primary")
            await s.wait_for_selector("[data-testid=sign-check][open]")
            assert await s.inner_text("#sign-check-list") == words["recommendations"]
            await _shot(s, "consult-sign-check", lang, media)
            await s.click("#sign-back")
            assert (await call(client, "GET", f"/api/consults/{cid}", doc))["status"] == "held"
            await s.click("#closing-form button.primary")
            await s.click("#sign-anyway")

            # Both rooms close and show the signed note, in the page's language.
            for page in (s, d):
                await page.wait_for_selector("[data-testid=room-closed]:not([hidden]) pre.doc", timeout=10000)
                assert words["note_outcome"] in await page.inner_text("[data-testid=room-closed] pre.doc")
            await d.goto(f"{base}{room}", wait_until="domcontentloaded")
            await d.wait_for_selector("[data-testid=room-closed]:not([hidden]) pre.doc")
            assert words["closed"] in await d.inner_text("[data-testid=room-closed] h2")
            await d.wait_for_timeout(1500)  # a closed room does not try to reconnect
            assert await d.text_content("[data-testid=room-state]") not in ("Reconnecting…", "正在重新连接…")
            await _shot(d, "consult-closed", lang, media)

            # The history finds it by booking number and opens the signed note.
            await d.goto(f"{base}/consults/history")
            await d.fill("[data-testid=history-q]", "fac-a-1")
            await d.press("[data-testid=history-q]", "Enter")
            await d.click(f"#history tr[data-consult='{cid}'] a")
            await d.wait_for_url(f"{base}/consults/{cid}")
            await d.wait_for_selector("[data-testid=consult-items] pre.doc")
            assert await d.inner_text("[data-testid=outcome]") == words["outcome"]
            await _shot(d, "consult-detail", lang, media)
            await d.goto(f"{base}/consults/history?q=fac-a-1")
            await d.wait_for_selector(f"#history tr[data-consult='{cid}']")
            await _shot(d, "consult-history", lang, media)

            for page in (d, s):
                await page.close()
            for watched in (doctor, specialist):
                assert watched.errors == []
        finally:
            await browser.close()


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_notifications_are_dismissed_and_lead_to_their_page(client, login, context, world, lang):
    words = WORDS[lang]
    base = str(client.make_url("")).rstrip("/")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            specialist = await _open(browser, base, "spec-1", "/consults", lang)
            s = specialist.page
            await s.wait_for_timeout(500)  # the events socket is open
            await requested(client, login, urgency="routine")
            toast = s.locator(".toast:has(a.toast-link)")
            await toast.wait_for()
            assert set((await toast.get_attribute("class")).split()) == {"toast"}  # quiet: neither critical nor ringing
            await toast.locator(".toast-close").click()
            assert await s.locator(".toast").count() == 0
            # The list refreshed itself; before accepting, the specialist sees who, not whom.
            row = s.locator("[data-testid=list-awaiting_decision] .consult-row")
            await row.wait_for()
            assert words["anonymous"] in await row.inner_text() and "王小明" not in await row.inner_text()

            await requested(client, login, urgency="emergency")
            ringing = s.locator(".toast.ringing.critical")
            await ringing.wait_for()
            await ringing.locator("a.toast-link").click()
            await s.wait_for_url(f"{base}/consults")

            # A critical result: the doctor's pop-up is dismissible and opens the record.
            doctor = await _open(browser, base, "doc-a", "/consults", lang)
            d = doctor.page
            await d.wait_for_timeout(500)
            await enter(client, await login("doc-a"), "fac-a-p1", [(POTASSIUM, "7.4")])
            alert = d.locator(".toast.critical:has(a[href='/detainees/fac-a-1'])")
            await alert.wait_for(timeout=5000)
            assert "7.4 mmol/L" in await alert.inner_text()
            await _shot(d, "notification", lang)
            await alert.locator("a.toast-link").click()
            await d.wait_for_url(f"{base}/detainees/fac-a-1")
            for watched in (specialist, doctor):
                assert watched.errors == []
        finally:
            await browser.close()
