"""Helpers for tests that kill a child process."""

from __future__ import annotations

import os
import time
from pathlib import Path


def wait_dead(pid: int, timeout: float = 10.0) -> None:
    """Until ``pid`` has exited and let go of its files, its pipes included: every thread but
    the main one gone, and the main one a zombie. (The main thread alone reads Z while the others
    are still closing the files they share, and the file table empties before the files close.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            exited = os.listdir(f"/proc/{pid}/task") == [str(pid)] and \
                "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return
        if exited:
            return
        time.sleep(0.01)
    raise TimeoutError(f"process {pid} is still running")
