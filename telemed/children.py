"""The server's child processes (the lookup and audit writer processes): each runs a module of
this package with the database URL in its environment, talks over its stdin and stdout, and
ends when its stdin closes. Worker pools (a lab import's) instead call ``die_with_parent``."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

from sqlalchemy import Engine

URL_VARIABLE = "TELEMED_CHILD_DATABASE_URL"  # not argv: a PostgreSQL password would show in ps
PR_SET_PDEATHSIG = 1  # linux/prctl.h


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


def die_with_parent(parent_pid: int) -> None:
    """In a child: have the kernel kill it (SIGKILL) the moment ``parent_pid`` dies, whatever it
    is doing; a worker that is busy filing would not notice its parent's pipe close until its
    task ends. (Linux sends the signal when the *thread* that started the child ends: start
    workers from a thread that lives as long as they should.)"""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:  # it died before the line above: no signal will come
        os._exit(1)
