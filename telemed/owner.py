"""Which process holds a lease on shared work (a report batch, a bulk export), and whether a
holder on this host has died: several server processes, or a server and the CLI, share one
database, and work left by a killed process must not look as if it still ran."""

from __future__ import annotations

import os
import socket

OWNER = f"{socket.gethostname()}:{os.getpid()}"


def dead_here(owner: str) -> bool:
    """``owner`` (an OWNER string) is a process of this host that no longer runs."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
        return False
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
