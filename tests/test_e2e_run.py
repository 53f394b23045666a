"""The server as `make run` starts it: migrate, load the demo, serve; then a person logs in."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from telemed.demo import USERS

pytestmark = pytest.mark.slow
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root: Path = tmp_path_factory.mktemp("run")
    port = free_port()
    env = {**os.environ, "TELEMED_DATABASE_URL": f"sqlite:///{root / 'telemed.db'}",
           "TELEMED_DATA_DIR": str(root / "data"), "TELEMED_PORT": str(port)}
    cli = [sys.executable, "-m", "telemed.cli"]
    for step in (["db", "upgrade"], ["demo", "--if-needed"]):
        done = subprocess.run(cli + step, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    assert "user doctor" in done.stdout  # the logins are printed
    server = subprocess.Popen(cli + ["serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail(f"server did not come up: {server.stdout.read().decode()[-2000:]}")
            time.sleep(0.3)
    yield base
    server.terminate()
    server.wait(timeout=20)


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
