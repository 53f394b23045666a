"""The custody workflows in Chromium against the demo: the officer's tasks on a phone and at
1366x768 in both languages with no clinical text anywhere (page or API); a referral decided on
the doctor's desk, pushed to the officer, marked departed, the emergency clock running and then
stopped; the monthly figures exported as XLSX and read back."""

from __future__ import annotations

import io

import openpyxl
import orjson
import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import create_engine, text

from tests.browser_support import CHROMIUM_ARGS, Data, Watch, login, page_problems
from tests.data_words import page_data
from tests.demo_server import serve_demo

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    yield from serve_demo(tmp_path_factory.mktemp("custody"))


@pytest.fixture(scope="module")
def data(served) -> Data:
    return page_data(served.database_url)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def clinical_texts(database_url: str) -> set[str]:
    """Diagnoses, observation names, referral and consult reasons, report conclusions in the demo."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT type, content FROM fhir_resource WHERE type IN "
                                       "('Condition', 'Observation', 'ServiceRequest', 'DiagnosticReport')")).all()
    engine.dispose()
    found = set()
    for rtype, content in rows:
        resource = orjson.loads(content)
        if rtype in ("Condition", "Observation"):
            code = resource.get("code", {})
            found.update([code.get("text", "")] + [c.get("display", "") for c in code.get("coding", [])])
        found.update(r.get("text", "") for r in resource.get("reasonCode", []))
        found.add(resource.get("conclusion", ""))
    return {t for t in found if len(t) >= 4}


def booking_of(database_url: str, patient_id: str) -> tuple[str, str]:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT booking_number, name FROM detainee WHERE patient_id = :p"),
                                 {"p": patient_id}).one()
    engine.dispose()
    return row[0], row[1]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize("viewport", [PHONE, {"width": 1366, "height": 768}], ids=["phone", "desktop"])
def test_the_officer_sees_tasks_and_no_clinical_data(served, data, browser, lang, viewport):
    watch = Watch()
    page = login(browser, served.base, "guard", lang, watch)
    page.set_viewport_size(viewport)
    page.goto(f"{served.base}/custody", wait_until="networkidle")
    page.wait_for_selector("[data-testid=task]")
    clinical = clinical_texts(served.database_url)
    assert clinical  # the demo holds diagnoses and reasons: the check below can fail
    shown = [page.inner_text("body")]
    shown.append(page.request.get(f"{served.base}/api/custody/tasks").text())
    shown.append(page.request.get(f"{served.base}/api/custody/referrals").text())
    page.click("[data-testid=tab-done]")
    page.wait_for_selector("[data-testid=task]")
    shown.append(page.inner_text("body"))
    page.fill("[data-testid=roster-q]", "KS")
    page.click("#roster-form button")
    page.wait_for_selector("#roster tbody tr")
    shown.append(page.inner_text("body"))
    leaks = sorted(t for t in clinical if any(t in s for s in shown))
    assert not leaks, leaks
    assert not page_problems(page, lang, data) + watch.problems
    for url in ("/fhir/Condition", "/api/detainees", "/fhir/ServiceRequest"):
        assert page.request.get(served.base + url).status == 403, url
    assert page.goto(f"{served.base}/custody/desk").status == 403
    page.context.close()


def test_a_call_to_the_clinic_is_marked_brought_on_a_phone(served, data, browser):
    page = login(browser, served.base, "guard", "en")
    page.set_viewport_size(PHONE)
    page.goto(f"{served.base}/custody", wait_until="networkidle")
    card = page.locator("[data-testid=task]", has=page.locator("[data-action=brought]")).first
    name = card.locator(".name").inner_text()
    card.locator("[data-action=brought]").click()
    page.click("[data-testid=confirm-ok]")
    page.locator("[data-testid=task]", has_text=name).locator("[data-action=brought]").wait_for(state="detached")
    page.click("[data-testid=tab-done]")
    done = page.locator("[data-testid=task]", has_text=name)
    done.first.wait_for()
    assert "Brought" in done.first.inner_text()
    page.context.close()


def test_an_emergency_from_the_desk_to_departure(served, data, browser):
    booking, name = booking_of(served.database_url, "demo-p0150")
    guard = login(browser, served.base, "guard", "zh-CN")
    guard.set_viewport_size(PHONE)
    guard.goto(f"{served.base}/custody", wait_until="networkidle")
    doctor = login(browser, served.base, "doctor", "en")
    doctor.goto(f"{served.base}/custody/desk", wait_until="networkidle")
    doctor.click("#new-referral summary")
    doctor.fill("[data-testid=referral-detainee]", booking)
    doctor.click("#referral-form [role=option]")
    doctor.select_option("[data-testid=referral-urgency]", "emergency")
    doctor.select_option("#referral-form select[name=security_level]", "high")
    doctor.fill("[data-testid=referral-hospital]", "City General")
    doctor.fill("[data-testid=referral-department]", "Emergency")
    doctor.fill("[data-testid=referral-reason]", "Seizure lasting over five minutes")
    doctor.click("[data-testid=referral-create]")
    row = doctor.locator("#referrals-table tr", has_text=name)
    row.wait_for()
    timer = row.locator("[data-testid=timer]")
    first = timer.inner_text()
    doctor.wait_for_function("([sel, was]) => document.querySelector(sel).textContent !== was",
                             arg=["tr[data-referral] [data-testid=timer]", first])  # the clock runs

    # The officer is told at once (pushed), sees the clock, not the reason, and marks the departure.
    toast = guard.locator(".toast", has_text=booking)
    toast.wait_for()
    task = guard.locator("[data-testid=task]", has_text=name)
    task.wait_for()
    assert "Seizure" not in guard.inner_text("body")
    assert task.locator("[data-testid=timer]").count() == 1
    task.locator("[data-action=departed]").click()
    guard.click("[data-testid=confirm-ok]")
    guard.locator("[data-testid=task]", has_text=name).locator("[data-action=arrived]").wait_for()

    doctor.reload(wait_until="networkidle")
    row = doctor.locator("#referrals-table tr", has_text=name)
    assert "On the way out" in row.locator("[data-testid=referral-step]").inner_text()
    stopped = row.locator("[data-testid=timer]").inner_text()
    doctor.wait_for_timeout(1500)
    assert row.locator("[data-testid=timer]").inner_text() == stopped  # stopped at the departure
    guard.context.close()
    doctor.context.close()


def test_the_figures_export_reads_back(served, data, browser):
    page = login(browser, served.base, "officer", "en")
    page.goto(f"{served.base}/custody/figures", wait_until="networkidle")
    total = int(page.locator("[data-series=outside_trips] [data-testid=total]").inner_text())
    assert total >= 6  # the demo's returned trips
    with page.expect_download() as download:
        page.click("[data-testid=export-xlsx]")
    sheet = openpyxl.load_workbook(io.BytesIO(open(download.value.path(), "rb").read())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("Month", "Outside trips", "Emergency transfers", "Trips avoided by video consults")
    assert len(rows) == 13 and sum(r[1] for r in rows[1:]) == total
    page.context.close()
