"""Every page of every role, in both languages, against the demo: no untranslated key, no raw
enum value, no word in the other language's script (names and free text are data), no console
error, no failed request, no button text or name wrapped at 1366x768.

Adding a page is one line in ``PAGES``; ``{campaign}``, ``{exam}``, ``{pending_exam}`` and
``{patient}`` are filled from the demo through the API, as the signed-in user."""

from __future__ import annotations

from collections import deque
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import create_engine, text

from tests.browser_support import CHROMIUM_ARGS, Data, Watch, login, page_problems
from tests.data_words import page_data
from tests.demo_server import serve_demo

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# (user, path, the status the page answers with)
PAGES = (
    ("doctor", "/", 200),
    ("doctor", "/labs", 200),
    ("doctor", "/consults", 200),
    ("doctor", "/exams", 200),
    ("doctor", "/exams/{campaign}", 200),
    ("doctor", "/exams/entry/{pending_exam}", 200),
    ("doctor", "/exams/exam/{exam}", 200),
    ("doctor", "/admin", 403),
    ("doctor", "/no-such-page", 404),
    ("doctor", "/account/password", 200),
    ("doctor", "/notes/drafts", 200),
    ("specialist", "/notes/drafts", 403),
    ("specialist", "/", 200),
    ("specialist", "/consults", 200),
    ("specialist", "/exams", 403),
    ("doctor", "/detainees/{patient}", 200),
    ("officer", "/detainees/{patient}", 200),
    ("officer", "/", 200),
    ("officer", "/exams", 200),
    ("officer", "/exams/{campaign}", 200),
    ("officer", "/exams/{campaign}?status=to_review", 200),
    ("officer", "/exams/exam/{exam}", 200),
    ("admin", "/", 200),
    ("guard", "/", 200),
    ("guard", "/labs", 403),
    ("guard", "/consults", 403),
    ("guard", "/exams", 403),
    ("guard", "/admin", 403),
    ("guard", "/custody", 200),
    ("guard", "/custody/desk", 403),
    ("guard", "/custody/figures", 403),
    ("doctor", "/custody/desk", 200),
    ("doctor", "/custody/figures", 403),
    ("officer", "/custody/figures", 200),
    ("officer", "/custody/desk", 403),
    ("admin", "/admin", 200),
    ("admin", "/admin?state=inactive", 200),
    ("admin", "/admin/clients", 200),
    ("doctor", "/admin/clients", 403),
    ("doctor", "/care", 200),
    ("doctor", "/care/intake/{intake}", 200),
    ("doctor", "/care/intake/{screened}", 200),
    ("doctor", "/care/sick-call/{sick_call}", 200),
    ("doctor", "/care/sick-call/{scheduled_call}", 200),
    ("doctor", "/care/request", 200),
    ("doctor", "/care/rules", 200),
    ("doctor", "/detainees/{flagged}", 200),
    ("officer", "/care", 200),
    ("officer", "/care/rules", 200),
    ("officer", "/care/request", 403),
    ("specialist", "/care", 403),
    ("guard", "/care/request", 200),
    ("guard", "/care", 403),
    ("guard", "/care/intake/1", 403),
    ("kiosk", "/", 200),
    ("kiosk", "/care/request", 200),
    ("kiosk", "/care", 403),
    ("kiosk", "/labs", 403),
    ("admin", "/care", 403),
    ("doctor", "/rounds", 200),
    ("doctor", "/rounds/pills", 200),
    ("doctor", "/rounds/patient/{patient}", 200),
    ("officer", "/rounds/adherence", 200),
    ("officer", "/rounds", 403),
    ("specialist", "/rounds/pills", 403),
    ("guard", "/rounds", 403),
    ("guard", "/rounds/pills", 403),
    ("doctor", "/notifications", 200),
    ("specialist", "/notifications", 200),
    ("officer", "/notifications", 200),
    ("guard", "/notifications", 200),
    ("admin", "/notifications", 200),
)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    yield from serve_demo(tmp_path_factory.mktemp("pages"))


@pytest.fixture(scope="module")
def data(served) -> Data:
    return page_data(served.database_url)


@pytest.fixture(scope="module")
def ids(served) -> set[str]:
    """Every Patient id of the demo: none may reach a person."""
    engine = create_engine(served.database_url)
    try:
        with engine.connect() as connection:
            return set(connection.execute(text("SELECT patient_id FROM detainee")).scalars())
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def signed_in(served):
    """One browser for the module, and one signed-in page per (user, language), made on first use."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        pages: dict[tuple[str, str], tuple] = {}

        def page_of(user: str, lang: str):
            if (user, lang) not in pages:
                watch = Watch()
                page = login(browser, served.base, user, lang, watch)
                pages[user, lang] = page, watch, placeholders(page, served.base)
            return pages[user, lang]
        try:
            yield page_of
        finally:
            browser.close()


def placeholders(page, base: str) -> dict[str, str]:
    def get(path: str):
        response = page.request.get(base + path)
        return response.json() if response.ok else None

    values: dict[str, str] = {}
    campaigns = get("/api/campaigns")
    if campaigns:
        values["campaign"] = campaigns[0]["id"]
        exams = get(f"/api/campaigns/{campaigns[0]['id']}")["exams"]
        values["exam"] = str(next(x["exam_id"] for x in exams if x["status"] == "examined"))
        values["pending_exam"] = str(next(x["exam_id"] for x in exams if x["status"] == "pending"))
    work = get("/api/care/worklist")
    if work:
        values["intake"] = str(next(i["id"] for i in work["intakes"] if i["screened_at"] is None))
        values["screened"] = str(next(i["id"] for i in work["intakes"] if i["screened_at"]))
        values["flagged"] = quote(next(f["booking_number"] for f in work["follow_ups"] if f["kind"] == "urgent_review"),
                                  safe="")
        values["sick_call"] = next(c["id"] for c in work["sick_calls"] if c["stage"] == "received")
        values["scheduled_call"] = next(c["id"] for c in work["sick_calls"] if c["stage"] == "scheduled")
    detainees = get("/api/detainees?limit=200")
    if detainees:  # the demo's first detainee: labs, a consult and an exam, so the record page is full
        first = min((d for d in detainees if d["patient_id"].startswith("demo-p")), key=lambda d: d["patient_id"])
        values["patient"] = first["record"].removeprefix("/detainees/")  # by booking number, as people see it
    return values


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize(("user", "path", "status"), PAGES)
def test_page(served, data, ids, signed_in, lang, user, path, status):
    page, watch, values = signed_in(user, lang)
    watch.problems.clear()
    url = path.format(**values)
    response = page.goto(served.base + url, wait_until="networkidle")
    assert response.status == status
    assert urlsplit(page.url).path != "/login", "signed out: the page checked would be the login page"
    problems = page_problems(page, lang, data) + patient_ids_shown(page, ids)
    if status != 200:  # the page itself was asked for and answered as expected
        watch.problems = [p for p in watch.problems if f"status of {status}" not in p and not p.startswith(str(status))]
    assert not problems + watch.problems, "\n".join(problems + watch.problems)


# What a person sees of a page's addresses and words (data-* attributes and API calls are not seen).
SEEN = """() => ({links: [...document.querySelectorAll("a[href]")].map(a => a.getAttribute("href")),
  actions: [...document.querySelectorAll("form[action]")].map(f => f.getAttribute("action")),
  text: document.body.innerText})"""
NOT_PAGES = ("/static/", "/api/", "/fhir", "/lang", "/logout", "/ws/")
FILES = (".pdf", ".csv", ".zip")
CRAWL_LIMIT = 40  # pages per role, nearest first: every page of the navigation and what they link to


def patient_ids_shown(page, ids: set[str]) -> list[str]:
    seen = page.evaluate(SEEN)
    places = [("address", page.url), *(("link", h) for h in seen["links"]), *(("form", a) for a in seen["actions"]),
              ("text", seen["text"])]
    return [f"Patient id {pid} in the {kind} {value[:120]!r}" for kind, value in places for pid in ids if pid in value]


def _followed(base: str, href: str) -> str | None:
    parts = urlsplit(href)
    if parts.netloc and f"{parts.scheme}://{parts.netloc}" != base:
        return None
    if not parts.path.startswith("/") or parts.path.startswith(NOT_PAGES) or parts.path.endswith(FILES):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.mark.parametrize("user", sorted({user for user, _, _ in PAGES} | {"kiosk"}))
def test_no_patient_id_on_any_page_a_role_reaches(served, ids, signed_in, user):
    """From every page of the role's list, follow every link (breadth first): no address, link,
    form or visible text names a Patient id."""
    page, watch, values = signed_in(user, "zh-CN")
    queue = deque(["/", *(path.format(**values) for who, path, status in PAGES if who == user and status == 200)])
    visited: set[str] = set()
    problems: list[str] = []
    while queue and len(visited) < CRAWL_LIMIT:
        path = queue.popleft()
        if path in visited:
            continue
        visited.add(path)
        response = page.goto(served.base + path, wait_until="networkidle")
        assert urlsplit(page.url).path != "/login", f"signed out on the way to {path}"
        if response is None or response.status != 200:
            continue
        problems += patient_ids_shown(page, ids)
        queue.extend(p for p in map(lambda h: _followed(served.base, h), page.evaluate(SEEN)["links"]) if p)
    assert len(visited) > 2, visited  # the crawl went beyond the home page
    assert not problems, "\n".join(problems)
