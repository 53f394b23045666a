"""The server as `make run` starts it: migrate, load the demo, serve; then a person logs in."""

import urllib.request

import orjson
import pytest

from telemed.demo import USERS
from tests.demo_server import serve_demo

pytestmark = pytest.mark.slow
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    yield from (s.base for s in serve_demo(tmp_path_factory.mktemp("run")))


def test_demo_user_gets_a_token(served):
    username, password = USERS[0][0], USERS[0][1]
    request = urllib.request.Request(f"{served}/api/auth/token", method="POST",
                                     data=orjson.dumps({"username": username, "password": password}))
    with urllib.request.urlopen(request) as response:
        token = orjson.loads(response.read())["access_token"]
    listing = urllib.request.Request(f"{served}/api/detainees?limit=200", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(listing) as response:
        assert len(orjson.loads(response.read())) == 200


@pytest.mark.browser
def test_demo_user_logs_in_with_a_browser(served, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(served)
        assert "/login" in page.url
        page.fill("input[name=username]", "doctor")
        page.fill("input[name=password]", "doctor-demo-2026")
        page.click("button[type=submit]")
        page.wait_for_selector("#detainees tbody tr")
        assert "王建国" in page.inner_text("[data-testid=who]")
        assert page.locator("#detainees tbody tr").count() == 25
        page.click("text=English")
        page.wait_for_selector("text=Detainees")
        page.screenshot(path=str(tmp_path / "home.png"))
        browser.close()
