"""A throwaway Janus for the test session, from Debian's package, with the configuration that
``webrtc.janus_config`` generates, on loopback (like ``tests.pg`` for PostgreSQL)."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from webrtc.janus_config import JanusOptions, write

BINARY = shutil.which("janus")
MISSING = "Janus is not installed (Debian package janus; scripts/system-deps.sh test installs it)"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class JanusServer:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="telemed-janus-"))
        self.rec_dir = self.folder / "recordings"
        self.rec_dir.mkdir()
        self.options = JanusOptions(secrets.token_hex(16), self.rec_dir, port=_free_port(), admin_port=_free_port())
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.options.port}/janus"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.options.admin_port}/admin"

    def start(self) -> JanusServer:
        config = write(self.options, self.folder / "etc")
        log = open(self.folder / "janus.out", "ab")  # a file: a pipe nobody reads would stall it
        command = [BINARY, "-C", str(config), "-F", str(config.parent), "-N", "-L", str(self.folder / "janus.log")]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Janus exited; see {self.folder / 'janus.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/info", timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"Janus did not answer in 30 s; see {self.folder / 'janus.log'}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
