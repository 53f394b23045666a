"""The server as `make run` starts it (migrate, load the demo, serve) in a child process, for the
tests that drive it as people do. Untranslated keys show as ⟦key⟧ there (TELEMED_I18N_STRICT)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.served import free_port


@dataclass(frozen=True)
class Served:
    base: str
    database_url: str


def serve_demo(root: Path) -> Iterator[Served]:
    port = free_port()
    database_url = f"sqlite:///{root / 'telemed.db'}"
    env = {**os.environ, "TELEMED_DATABASE_URL": database_url, "TELEMED_DATA_DIR": str(root / "data"),
           "TELEMED_PORT": str(port), "TELEMED_I18N_STRICT": "1"}
    cli = [sys.executable, "-m", "telemed.cli"]
    for step in (["db", "upgrade"], ["demo", "--if-needed"]):
        done = subprocess.run(cli + step, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    assert "user doctor" in done.stdout  # the logins are printed
    log_path = root / "server.log"
    with log_path.open("ab") as log:  # a file, not a pipe: a full pipe stalls the server mid-test
        server = subprocess.Popen(cli + ["serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
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
                pytest.fail(f"server did not come up: {log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.3)
    try:
        yield Served(base, database_url)
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
