"""The server's child processes (the lookup and audit writer processes): each runs a module of
this package with the database URL in its environment, talks over its stdin and stdout, and
ends when its stdin closes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from sqlalchemy import Engine

URL_VARIABLE = "TELEMED_CHILD_DATABASE_URL"  # not argv: a PostgreSQL password would show in ps


def spawn(module: str, url: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            bufsize=0, env={**os.environ, URL_VARIABLE: url})


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

    logs.configure()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return make_engine(os.environ[URL_VARIABLE])
