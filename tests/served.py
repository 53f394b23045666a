"""The real server in a process of its own (``telemed serve``), on a test's database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from telemed.config import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    return {**os.environ, "TELEMED_DATABASE_URL": settings.database_url, "TELEMED_DATA_DIR": str(settings.data_dir),
            "TELEMED_SECRET_KEY": settings.secret_key, **extra}


def serve(settings: Settings, **extra: str) -> tuple[subprocess.Popen, str]:
    """Start the server and wait until it answers; returns it and its base URL."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "telemed.cli", "serve", "--port", str(port)],
                              env=environment(settings, **extra), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                return server, base
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError(f"server did not come up: {server.stderr.read().decode()[-2000:]}") from None
            time.sleep(0.2)


def children_of(pid: int) -> list[int]:
    """The process ids of ``pid``'s children (all its threads')."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def cli(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "telemed.cli", *args], input=stdin, capture_output=True,
                          text=True, env=environment(settings), timeout=300)
