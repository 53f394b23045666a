"""Helpers for tests that kill a child process."""

from __future__ import annotations

import time
from pathlib import Path


def wait_dead(pid: int, timeout: float = 10.0) -> None:
    """Until ``pid`` has exited (a zombie counts: its pipes are closed)."""
    deadline = time.monotonic() + timeout
    status = Path(f"/proc/{pid}/status")
    while time.monotonic() < deadline:
        try:
            if "\nState:\tZ" in status.read_text():
                return
        except FileNotFoundError:
            return
        time.sleep(0.01)
    raise TimeoutError(f"process {pid} is still running")
