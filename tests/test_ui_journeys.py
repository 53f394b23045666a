"""The home pages, the medical officer's and the administrator's work, and the small things, in
headless Chromium at 1366x768 against the demo, in both languages, through the pages only.
Screenshots of the main pages go to docs/screenshots/ (the README shows them)."""

from __future__ import annotations

import re
import subprocess
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, sync_playwright, expect
from sqlalchemy import create_engine, text

from telemed.i18n import translate
from tests.browser_support import CHROMIUM_ARGS, TIMEOUT_MS, VIEWPORT, Watch, login
from tests.demo_server import serve_demo

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
LANGS = ["zh-CN", "en"]
SHANGHAI = ZoneInfo("Asia/Shanghai")
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    yield from serve_demo(tmp_path_factory.mktemp("journeys"))


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def shot(page: Page, name: str, lang: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{lang}.png"))


def count(page: Page, key: str) -> int:
    return int(page.inner_text(f"[data-count='{key}'] b"))


def audited(served, action: str, username: str) -> int:
    """Entries in the trail; the server's writer is a child process, so wait for its flush."""
    engine = create_engine(served.database_url)
    try:
        for _ in range(100):
            with engine.connect() as connection:
                found = connection.execute(text("SELECT count(*) FROM audit_entry WHERE action = :a AND username = :u"),
                                           {"a": action, "u": username}).scalar()
            if found:
                return found
            time.sleep(0.2)
        return 0
    finally:
        engine.dispose()


@pytest.mark.parametrize("lang", LANGS)
def test_each_home_counts_its_work_and_each_count_opens_its_list(served, browser, lang):
    watch = Watch()
    doctor = login(browser, served.base, "doctor", lang, watch)
    assert count(doctor, "critical_results") > 0 and count(doctor, "lab_orders_open") > 0
    shot(doctor, "home-doctor", lang)
    alerts = count(doctor, "critical_results")
    doctor.click("[data-count='critical_results']")
    doctor.wait_for_url("**/labs#alerts")
    expect(doctor.locator("#alerts tbody tr")).to_have_count(alerts)

    specialist = login(browser, served.base, "specialist", lang, watch)
    to_triage = count(specialist, "consults_to_triage")
    shot(specialist, "home-specialist", lang)
    specialist.click("[data-count='consults_to_triage']")
    expect(specialist.locator("[data-list='awaiting_decision'] > :not(p.muted)")).to_have_count(to_triage)

    officer = login(browser, served.base, "officer", lang, watch)
    assert count(officer, "campaigns_running") == 1
    pending, to_review = count(officer, "exams_pending"), count(officer, "exams_to_review")
    assert pending > 0 and to_review > 0
    shot(officer, "home-officer", lang)
    officer.click("[data-count='exams_to_review']")
    expect(officer.locator("#roster-status")).to_have_value("to_review")
    expect(officer.locator("#roster tbody tr")).to_have_count(to_review)
    officer.select_option("#roster-status", "pending")
    expect(officer.locator("#roster tbody tr")).to_have_count(pending)

    admin = login(browser, served.base, "admin", lang, watch)
    assert count(admin, "accounts") >= 4
    shot(admin, "home-admin", lang)
    inactive = count(admin, "inactive_accounts")
    admin.click("[data-count='inactive_accounts']")
    expect(admin.locator("#user-state")).to_have_value("inactive")
    expect(admin.locator("#users tbody tr")).to_have_count(inactive)
    assert not watch.problems, watch.problems


@pytest.mark.parametrize("lang", LANGS)
def test_the_officer_finds_opens_reviews_and_prints_one_exam(served, browser, lang):
    watch = Watch()
    page = login(browser, served.base, "officer", lang, watch)
    page.click("[data-count='exams_to_review']")
    rows = page.locator("#roster tbody tr")
    expect(rows.first).to_be_visible()
    booking = rows.first.get_attribute("data-booking")
    name = rows.first.locator("td.name").inner_text()
    shot(page, "campaign-officer", lang)

    # search by name, then by booking number: one row each time
    page.fill("#roster-search", name)
    expect(rows).to_have_count(1)
    page.fill("#roster-search", booking[-5:])
    expect(rows.filter(has_text=booking)).to_have_count(1)
    rows.filter(has_text=booking).locator("[data-testid=open-exam]").click()
    page.wait_for_url("**/exams/exam/*")
    assert name in page.inner_text("h1")
    shot(page, "exam-officer", lang)

    # mark reviewed: asked first (cancel leaves it), then recorded with who and when, audited
    page.click("#mark-reviewed")
    page.click("[data-testid=confirm-cancel]")
    expect(page.locator("#mark-reviewed")).to_be_visible()
    page.click("#mark-reviewed")
    page.click("[data-testid=confirm-ok]")
    reviewed = page.locator("[data-testid=reviewed]")
    expect(reviewed).to_contain_text("张卫 (Officer Zhang)")
    today = datetime.now(SHANGHAI).strftime("%Y-%m-%d")
    assert today in reviewed.inner_text()
    page.reload()
    expect(reviewed).to_be_visible()
    assert audited(served, "exams.review", "officer") >= 1

    # the printed report is this detainee's, in the page's language, and names the reviewer
    href = page.get_attribute("[data-testid=print]", "href")
    response = page.request.get(served.base + href)
    assert response.ok and response.headers["content-type"] == "application/pdf"
    printed = subprocess.run(["pdftotext", "-layout", "-", "-"], input=response.body(), capture_output=True,
                             check=True).stdout.decode()
    assert booking in printed and translate(lang, "reports.title") in printed
    assert f"{translate(lang, 'reports.reviewer')}: 张卫 (Officer Zhang)" in printed

    # back on the roster, filtered to the reviewed ones, this detainee is there
    page.goto(served.base + "/")
    page.click("[data-count='exams_to_review']")
    page.select_option("#roster-status", "reviewed")
    expect(page.locator(f"#roster tbody tr[data-booking='{booking}']")).to_have_count(1)
    assert not watch.problems, watch.problems


def admin_row(page: Page, username: str):
    return page.locator(f"#users tbody tr[data-user='{username}']")


@pytest.mark.parametrize("lang", LANGS)
def test_the_admin_adds_edits_resets_and_confirms(served, browser, lang):
    watch = Watch()
    page = login(browser, served.base, "admin", lang, watch)
    page.goto(served.base + "/admin")
    username = f"nurse-{lang.lower()}"
    t = lambda key, **values: translate(lang, key, **values)  # noqa: E731

    # add: a refused save is answered next to its field, a good one with a message
    form = page.locator("#user-form")
    form.locator("[name=username]").fill(username)
    form.locator("[name=display_name]").fill("护士 Nurse")
    form.locator("[name=password]").fill("short")
    form.locator("button[type=submit]").click()
    expect(form.locator(".field-error")).to_have_text(t("admin.err.password_short"))
    form.locator("[name=org_id]").select_option("demo-facility")
    form.locator("[name=password]").fill("a-good-long-password")
    form.locator("button[type=submit]").click()
    expect(page.locator(".toast").last.locator(".toast-link, span").first).to_have_text(t("admin.done_create_user"))
    row = admin_row(page, username)
    expect(row).to_contain_text("护士 Nurse")
    shot(page, "admin", lang)

    # a clinical account waits for a medical officer of its facility, who approves it on their home page
    expect(row.locator(".badge")).to_have_text(t("accounts.state_pending"))
    officer = login(browser, served.base, "officer", lang, watch)
    officer.locator(f"#accounts-pending tr[data-username='{username}'] button").click()
    expect(officer.locator(f"#accounts-pending tr[data-username='{username}']")).to_contain_text(t("accounts.approved"))
    officer.context.close()
    page.reload()
    expect(row.locator(".badge")).to_have_text(t("admin.state_active"))

    # edit: the name changes and stays after a reload; a specialist in a facility is refused at the field
    row.locator("[data-action=edit]").click()
    dialog = page.locator("#user-dialog")
    dialog.locator("[name=display_name]").fill("护士长 Head nurse")
    dialog.locator("button[type=submit]").click()
    expect(page.locator(".toast").last.locator(".toast-link, span").first).to_have_text(t("admin.done_update"))
    page.reload()
    expect(admin_row(page, username)).to_contain_text("护士长 Head nurse")
    row = admin_row(page, username)
    row.locator("[data-action=edit]").click()
    dialog.locator("[name=role]").select_option("specialist")
    dialog.locator("button[type=submit]").click()
    expect(dialog.locator(".field-error")).to_have_text(t("admin.err.needs_hospital"))
    shot(page, "admin-edit-error", lang)
    dialog.locator(".close-dialog").click()
    expect(row).to_contain_text(t("role.facility_doctor"))

    # password reset: asked first, shown once; it signs in only to the page where its user replaces it
    row.locator("[data-action=password]").click()
    expect(page.locator("#confirm")).to_contain_text(t("admin.confirm_password", name="护士长 Head nurse"))
    page.click("[data-testid=confirm-ok]")
    expect(page.locator("[data-testid=new-password]")).to_have_text(re.compile(r"^\S{12,}$"))
    password = page.inner_text("[data-testid=new-password]")
    page.locator("#password-dialog .close-dialog").click()
    other = browser.new_context(viewport=VIEWPORT).new_page()
    other.set_default_timeout(TIMEOUT_MS)
    other.goto(served.base + f"/lang?to={lang}&next=/login")
    other.fill("input[name=username]", username)
    other.fill("input[name=password]", password)
    other.click("form[action='/login'] button[type=submit]")
    other.wait_for_url(served.base + "/account/password")
    expect(other.locator("[data-testid=password-forced]")).to_have_text(t("password.forced"))
    other.fill("input[name=current]", password)
    other.fill("input[name=password]", "violet harbour lantern gravel")
    other.fill("input[name=again]", "violet harbour lantern gravel")
    other.click("#password-form button[type=submit]")
    other.wait_for_url(served.base + "/")

    # deactivate: cancel changes nothing; confirmed, the account is inactive and its session ends
    row.locator("[data-action=deactivate]").click()
    page.click("[data-testid=confirm-cancel]")
    expect(row.locator(".badge")).to_have_text(t("admin.state_active"))
    row.locator("[data-action=deactivate]").click()
    page.click("[data-testid=confirm-ok]")
    expect(page.locator(".toast").last.locator(".toast-link, span").first).to_have_text(t("admin.done_deactivate"))
    expect(row.locator(".badge")).to_have_text(t("admin.state_inactive"))
    signed_out = other.request.get(served.base + "/api/detainees?limit=1", max_redirects=0)
    assert signed_out.status == 401
    for action in ("admin.users.create", "admin.users.update", "admin.users.password_reset",
                   "admin.users.deactivate"):
        assert audited(served, action, "admin"), action
    # the administrator cannot lock themself out
    (admin_row(page, "admin")).locator("[data-action=deactivate]").click()
    page.click("[data-testid=confirm-ok]")
    expect(page.locator(".toast.critical").last.locator(".toast-link, span").first).to_have_text(t("admin.err.own_account"))
    # the refusals this test provoked (422) are answers, not failures
    watch.problems = [p for p in watch.problems if not p.startswith("422 ") and "status of 422" not in p]
    assert not watch.problems, watch.problems


@pytest.mark.parametrize("lang", LANGS)
def test_a_refused_campaign_says_why_in_the_readers_words(served, browser, lang):
    watch = Watch()
    page = login(browser, served.base, "officer", lang, watch)
    page.goto(served.base + "/exams")
    form = page.locator("#campaign-form")
    form.locator("[name=name]").fill("2027 上半年体检")
    form.locator("[name=period_start]").fill("2027-01-01")
    form.locator("[name=period_end]").fill("2027-06-30")
    form.locator("[name=booking_numbers]").fill("NO-SUCH-9")
    form.locator("button[type=submit]").click()
    expect(form.locator(".field-error")).to_have_text(
        translate(lang, "reports.campaign_err.unknown_booking").replace("{numbers}", "NO-SUCH-9"))
    expect(form.locator("[name=booking_numbers]")).to_be_focused()
    assert all("status of 400" in p or p.startswith("400 ") for p in watch.problems), watch.problems


@pytest.mark.parametrize("lang", LANGS)
def test_closing_a_campaign_asks_first(served, browser, lang):
    """Last in this module: the demo's campaign stays closed afterwards."""
    watch = Watch()
    page = login(browser, served.base, "officer", lang, watch)
    page.goto(served.base + "/exams")
    page.locator("#campaigns tbody tr").first.click()
    page.wait_for_url("**/exams/c*")
    status = page.locator("#campaign-status")
    if lang == "zh-CN":
        page.click("#close-campaign")
        page.click("[data-testid=confirm-cancel]")
        expect(status).to_have_text(translate(lang, "reports.ui.open"))
        return
    page.click("#close-campaign")
    expect(page.locator("#confirm")).to_be_visible()
    page.click("[data-testid=confirm-ok]")
    expect(status).to_have_text(translate(lang, "reports.ui.closed"))
    expect(page.locator("#close-campaign")).to_be_hidden()
    assert not watch.problems, watch.problems


@pytest.mark.parametrize("lang", LANGS)
def test_favicon_and_error_pages_in_the_layout(served, browser, lang):
    watch = Watch()
    page = login(browser, served.base, "doctor", lang, watch)
    icon = page.request.get(served.base + "/favicon.ico")
    assert icon.ok and icon.headers["content-type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    for path, status in (("/exams/no-such/also-not", 404), ("/admin", 403)):
        response = page.goto(served.base + path)
        assert response.status == status
        expect(page.locator("[data-testid=error-page] h1")).to_have_text(translate(lang, f"error.{status}.title"))
        expect(page.locator("header.topbar nav")).to_be_visible()
    shot(page, "forbidden", lang)
    assert all("status of 40" in p or p.startswith("40") for p in watch.problems), watch.problems
