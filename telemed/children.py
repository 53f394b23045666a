"""The server's child processes (the lookup and audit writer processes, the validation and
report workers): each ends when its parent dies, however it dies.

The lookup and audit writer processes run a module of this package with the database URL in
their environment, talk over their stdin and stdout, and end when their stdin closes; the
kernel also kills them when the server dies (``die_with_parent``), in case another process
holds their stdin open. Worker pools call ``die_with_parent`` as their initializer. Linux sends
that signal when the *thread* that started the child ends: children are started from the
main thread or from a thread that lives as long as they should."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

from sqlalchemy import Engine

URL_VARIABLE = "TELEMED_CHILD_DATABASE_URL"  # not argv: a PostgreSQL password would show in ps
PARENT_VARIABLE = "TELEMED_CHILD_PARENT"
_PR_SET_PDEATHSIG = 1


def spawn(module: str, url: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            bufsize=0, env={**os.environ, **(env or {}), URL_VARIABLE: url,
                                            PARENT_VARIABLE: str(os.getpid())})


def die_with_parent(parent: int | None = None) -> None:
    """Ask the kernel to kill this process when its parent dies (Linux; elsewhere a no-op).
    ``parent``: the pid it must still have, for a parent that died before the request."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def retire(child: subprocess.Popen) -> None:
    """Close its pipes (it ends at its input's end, and a last answer no one will read fails
    rather than blocks it), then wait for it."""
    for pipe in (child.stdin, child.stdout):
        try:
            pipe.close()
        except OSError:
            pass  # it had died: the pipe could not take the last bytes
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def child_engine() -> Engine:
    """In the child: the server's logging, Ctrl-C left to the server (the end of stdin stops the
    child), and the database named in the environment."""
    from telemed import logs
    from telemed.db import make_engine

    die_with_parent(int(os.environ.get(PARENT_VARIABLE, os.getppid())))
    logs.configure()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return make_engine(os.environ[URL_VARIABLE])
