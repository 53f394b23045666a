"""Rounds on a phone (360 x 740) in headless Chromium, in both languages: pick the block, identify
the detainee by the wristband code, confirm the photo, then write at the cell. A note written
while the network is down waits in the browser and is sent when it returns; a note whose answer
is lost is sent again and still written once. The pill line records a dose after the identity
check, with its witness."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import async_playwright

from rounds import qr
from rounds.checkdigit import with_check
from tests.browser_support import CHROMIUM_ARGS, launch, signed_in, watch
from tests.rounds_support import face_png, prescribe

P1 = "fac-a-p1"
PHONE = {"width": 360, "height": 740}


@pytest.fixture
async def browser():
    async with async_playwright() as playwright:
        chromium = await launch(playwright)
        yield chromium
        await chromium.close()


async def notes(client, headers, text: str) -> int:
    import base64
    bundle = await (await client.get(f"/fhir/DocumentReference?patient={P1}", headers=headers)).json()
    return sum(base64.b64decode(c["attachment"]["data"]).decode() == text
               for e in bundle.get("entry", []) for c in e["resource"]["content"])


async def identify(page, booking: str) -> None:
    await page.fill("[data-testid=code]", with_check(booking))
    await page.press("[data-testid=code]", "Enter")
    await page.wait_for_selector("[data-testid=who-card]:not([hidden])")


async def no_overflow(page) -> None:
    wide = await page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
        .map(e => `${e.tagName}.${e.className}#${e.id} ${Math.round(e.getBoundingClientRect().right)}`)""")
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"], wide


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_rounds_on_a_phone_through_a_network_drop(client, login, world, browser, lang):
    doctor = await login("doc-a")
    await client.post(f"/api/rounds/photo/{P1}", data=face_png(), headers={**doctor, "Content-Type": "image/png"})
    await prescribe(client, doctor, P1, "Amlodipine", "qd")
    base = str(client.make_url("")).rstrip("/")
    page = await signed_in(browser, base, "doc-a", lang, viewport=PHONE)
    problems = watch(page)
    await page.goto(f"{base}/rounds")
    await page.click("[data-block='1']")
    await page.wait_for_selector("[data-testid=detainee]")
    assert await page.locator("[data-testid=detainee]").count() == 3
    assert "Amlodipine" in await page.locator("[data-testid=detainees]").inner_text()
    await no_overflow(page)

    # the record opens only through the identity check: photo and two identifiers, then confirmed
    await identify(page, "fac-a-1")
    assert await page.inner_text("[data-testid=who-name]") == "王小明"
    await page.wait_for_function("() => document.getElementById('who-photo').naturalWidth > 0")
    await page.click("[data-testid=who-confirm]")
    await page.wait_for_url(f"{base}/rounds/patient/fac-a-1?via=typed")
    assert await page.locator("[data-testid=photo]").count() == 1
    assert "Amlodipine" in await page.inner_text("[data-testid=summary]")
    await no_overflow(page)

    # the network drops: the note waits in the browser, then goes once the network returns
    await page.context.set_offline(True)
    await page.fill("[data-testid=note-form] textarea", "Offline at cell 1-01")
    await page.click("[data-testid=note-form] button[type=submit]")
    await page.wait_for_function("() => !document.getElementById('queue').hidden")
    assert "1" in await page.inner_text("[data-testid=queue]")
    assert await notes(client, doctor, "Offline at cell 1-01") == 0
    await page.context.set_offline(False)
    await page.wait_for_function("() => document.getElementById('queue').hidden")
    assert await notes(client, doctor, "Offline at cell 1-01") == 1

    # the answer is lost after the server wrote the note: sent again with its key, written once
    lost = []

    async def lose_first_answer(route):
        if lost:
            await route.continue_()
            return
        await route.fetch()
        lost.append(route.request.post_data_json["key"])
        await route.abort()
    await page.route("**/api/rounds/entries", lose_first_answer)
    await page.fill("[data-testid=note-form] textarea", "Answer lost")
    async with page.expect_event("requestfailed"):
        await page.click("[data-testid=note-form] button[type=submit]")
    assert not await page.locator("[data-testid=queue]").is_hidden()
    assert await notes(client, doctor, "Answer lost") == 1  # written, but the browser does not know it
    await page.evaluate("() => roundsQueue.flush()")
    await page.wait_for_function("() => document.getElementById('queue').hidden")
    assert len(lost) == 1 and await notes(client, doctor, "Answer lost") == 1

    await page.reload()
    assert await page.evaluate("() => roundsQueue.load().length") == 0
    unexpected = [p for p in problems if "/api/rounds/entries" not in p]
    assert unexpected == []


@pytest.mark.browser
async def test_pill_line_on_a_phone(client, login, world, browser):
    doctor = await login("doc-a")
    await prescribe(client, doctor, P1, "Amlodipine", "qd")
    base = str(client.make_url("")).rstrip("/")
    page = await signed_in(browser, base, "doc-a", "en", viewport=PHONE)
    problems = watch(page)
    await page.goto(f"{base}/rounds/pills")
    await page.select_option("[data-testid=slot]", "morning")
    await page.wait_for_selector("[data-testid=dose]")
    await page.wait_for_function("() => document.querySelector('[data-testid=witness]').options.length > 0")
    assert await page.locator("[data-testid=dose] button[data-outcome]").first.is_disabled()  # identify first
    await page.select_option("[data-testid=witness]", label="guard-a")
    await identify(page, "fac-a-1")
    await page.click("[data-testid=who-confirm]")
    await page.wait_for_selector("[data-testid=identified]:not([hidden])")
    await page.wait_for_selector("[data-testid=dose].mine button[data-outcome=given]:not([disabled])")
    await page.click("[data-testid=dose].mine button[data-outcome=given]")
    await page.wait_for_selector("[data-testid=dose][data-state=given]")
    await no_overflow(page)
    bundle = await (await client.get(f"/fhir/MedicationAdministration?patient={P1}", headers=doctor)).json()
    [given] = [e["resource"] for e in bundle["entry"]]
    assert given["status"] == "completed" and given["performer"][1]["actor"]["display"] == "guard-a"
    assert problems == []


async def doses_of(client, headers, patient_id: str) -> list[dict]:
    bundle = await (await client.get(f"/fhir/MedicationAdministration?patient={patient_id}", headers=headers)).json()
    return [e["resource"] for e in bundle.get("entry", [])]


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_pill_line_through_a_network_drop(client, login, world, browser, lang):
    """Doses recorded while the network is down wait in the browser, shown as waiting; when it
    returns each is sent once with the time it was recorded. One given to the wrong detainee comes
    back refused and shows on its dose, which an override then records."""
    doctor = await login("doc-a")
    await prescribe(client, doctor, P1, "Amlodipine", "qd")
    await prescribe(client, doctor, "fac-a-p2", "Metformin", "bid")
    base = str(client.make_url("")).rstrip("/")
    page = await signed_in(browser, base, "doc-a", lang, viewport=PHONE)
    problems = watch(page)
    await page.goto(f"{base}/rounds/pills")
    await page.select_option("[data-testid=slot]", "morning")
    await page.wait_for_selector("[data-testid=dose]")
    await page.wait_for_function("() => document.querySelector('[data-testid=witness]').options.length > 0")
    await page.select_option("[data-testid=witness]", label="guard-a")
    await identify(page, "fac-a-1")
    await page.click("[data-testid=who-confirm]")
    await page.wait_for_selector("[data-testid=dose].mine button[data-outcome=given]:not([disabled])")

    await page.context.set_offline(True)
    await page.click("[data-testid=dose].mine button[data-outcome=given]")
    await page.wait_for_selector("[data-testid=dose].mine[data-state=waiting]")
    other = "[data-testid=dose]:not(.mine)"
    await page.click(f"{other} button[data-outcome=refused]")
    await page.wait_for_selector(f"{other}[data-state=waiting]")
    waiting = "Waiting to send" if lang == "en" else "等待发送"
    assert await page.inner_text("[data-testid=dose].mine [data-testid=state]") == waiting
    assert "2" in await page.inner_text("[data-testid=queue]")
    await no_overflow(page)
    assert await page.evaluate("() => JSON.parse(localStorage.getItem('telemed.rounds.doses')).length") == 2
    assert await doses_of(client, doctor, P1) == [] and await doses_of(client, doctor, "fac-a-p2") == []

    back = datetime.now(timezone.utc)
    await page.context.set_offline(False)
    await page.wait_for_selector("[data-testid=dose].mine[data-state=given]")
    await page.wait_for_function("() => document.getElementById('queue').hidden")
    [given] = await doses_of(client, doctor, P1)
    assert given["status"] == "completed" and datetime.fromisoformat(given["effectiveDateTime"]) < back

    # the refusal came back against the other detainee's dose: nothing written, its override asked
    refused = page.locator(f"{other} [data-testid=dose-refused]")
    await refused.wait_for()
    assert await doses_of(client, doctor, "fac-a-p2") == []
    assert await page.get_attribute(other, "data-state") in ("due", "missed")  # open again
    await page.fill(f"{other} [data-testid=extra-text]", "Wristband torn; identified by photo")
    await page.click(f"{other} [data-testid=extra-send]")
    await page.wait_for_selector(f"{other}[data-state=refused]")
    [overridden] = await doses_of(client, doctor, "fac-a-p2")
    assert overridden["note"][0]["text"].endswith("Wristband torn; identified by photo")
    assert datetime.fromisoformat(overridden["effectiveDateTime"]) < back  # the time it was recorded

    await page.reload()
    await page.select_option("[data-testid=slot]", "morning")
    await page.wait_for_selector("[data-testid=dose][data-state=given]")
    assert await page.evaluate("() => JSON.parse(localStorage.getItem('telemed.rounds.doses')).length") == 0
    assert len(await doses_of(client, doctor, P1)) == 1 and len(await doses_of(client, doctor, "fac-a-p2")) == 1
    offline = [p for p in problems if p.startswith("failed ")]  # sends tried while the network was down
    assert all(p.endswith("/api/rounds/doses") for p in offline)
    assert [p for p in problems if p not in offline] == ["409 api/rounds/doses"]  # the wrong detainee's dose


def camera_file(path: Path, text: str) -> Path:
    """A Y4M video of a wristband's QR code, for Chromium's fake camera."""
    side = 480
    picture = Image.new("L", (640, side), 255)
    code = Image.open(io.BytesIO(qr.png(text, scale=10))).convert("L")
    code.thumbnail((side - 40, side - 40))
    picture.paste(code, ((640 - code.width) // 2, (side - code.height) // 2))
    chroma = bytes([128]) * (640 * side // 4)
    frame = b"FRAME\n" + picture.tobytes() + chroma + chroma
    path.write_bytes(f"YUV4MPEG2 W640 H{side} F5:1 Ip A1:1 C420jpeg\n".encode() + frame * 10)
    return path


@pytest.mark.browser
async def test_scan_with_the_device_camera(client, login, world, tmp_path):
    """The camera shows a wristband: the page finds the code (Chromium on Linux has no
    BarcodeDetector, so its frames are decoded by the server) and shows whom it names."""
    video = camera_file(tmp_path / "wristband.y4m", with_check("fac-a-2"))
    base = str(client.make_url("")).rstrip("/")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
            *CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"])
        try:
            page = await signed_in(chromium, base, "doc-a", "en", viewport=PHONE)
            await page.context.grant_permissions(["camera"])
            problems = watch(page)
            decoded = []
            page.on("request", lambda r: decoded.append(r.url) if "/api/rounds/decode" in r.url else None)
            await page.goto(f"{base}/rounds")
            in_browser = await page.evaluate("() => 'BarcodeDetector' in window")
            await page.click("[data-testid=scan-start]")
            await page.wait_for_selector("[data-testid=who-card]:not([hidden])")
            assert await page.inner_text("[data-testid=who-name]") == "王小明"
            assert in_browser or decoded  # read by the browser where it can, else by the server
            await page.click("[data-testid=who-confirm]")
            await page.wait_for_url(f"{base}/rounds/patient/fac-a-2?via=scanned")
            assert [p for p in problems if "api/rounds/decode" not in p] == []
        finally:
            await chromium.close()
