"""The server's audit writer, in a process of its own.

Every FHIR read is audited. In the server process, hashing and inserting each entry took the
GIL away from the event loop for ~25 us of CPU per read, and the loop lost as much again
waiting to get it back. Here the server only encodes each event (one orjson call) and hands
the child a batch every ``interval``; the child runs the same ``AuditLog`` on its own
connection, so the chain is extended exactly as before.

A killed child loses what it had not yet committed (at most its last batch, as a killed
server does) and is started again on the next batch.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from datetime import datetime

import orjson

from telemed.audit import EVENT_FIELDS, AuditEvent, AuditLog

log = logging.getLogger(__name__)
URL_VARIABLE = "TELEMED_AUDIT_DATABASE_URL"  # not argv: a PostgreSQL password would show in ps
_TS = EVENT_FIELDS.index("ts")


def encode(event: AuditEvent) -> bytes:
    return orjson.dumps([getattr(event, name) for name in EVENT_FIELDS])


def decode(line: bytes) -> AuditEvent:
    values = orjson.loads(line)
    values[_TS] = datetime.fromisoformat(values[_TS])
    return AuditEvent(*values)


class AuditProcess:
    """``record``, ``flush`` and ``close`` as ``AuditLog`` has them; the writing happens in a
    child process fed through a pipe by one sender thread."""

    def __init__(self, url: str, *, interval: float = 0.05) -> None:
        self.url = url
        self.interval = interval
        self._encoded: deque[bytes] = deque()
        self._pipe = threading.Lock()  # the sender and a flush take turns writing to the child
        self._flushes = 0
        self._child = self._spawn()
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="audit-sender", daemon=True)
        self._thread.start()

    @property
    def pid(self) -> int:
        """The writer's process id (it changes when a dead writer is replaced)."""
        return self._child.pid

    def record(self, event: AuditEvent) -> None:
        self._encoded.append(encode(event))

    def flush(self, timeout: float = 10.0) -> None:
        """Block until every recorded event is in the database."""
        with self._pipe:
            self._flushes += 1
            self._send(b'{"flush":%d}\n' % self._flushes)
            self._await_ack(self._flushes, time.monotonic() + timeout)

    def close(self) -> None:
        self.flush()
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=5)
        self._retire(self._child)

    @staticmethod
    def _retire(child: subprocess.Popen) -> None:
        try:
            child.stdin.close()  # the child writes what it holds and exits
        except OSError:
            pass  # it had died: the pipe could not take the last bytes
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                bufsize=0, env={**os.environ, URL_VARIABLE: self.url})

    def _run(self) -> None:
        while not self._closing:
            self._wake.wait(self.interval)
            self._wake.clear()
            with self._pipe:
                self._send()

    def _send(self, trailer: bytes = b"") -> None:
        """Write the queued events (and ``trailer``) to the child; the caller holds ``_pipe``."""
        count = len(self._encoded)  # popleft, not a swap of lists: record() may be appending
        data = b"".join([self._encoded.popleft() + b"\n" for _ in range(count)]) + trailer
        if not data:
            return
        for _ in range(2):  # it died: a new one takes this batch
            try:
                self._child.stdin.write(data)
                return
            except OSError:
                log.error("audit writer exited with %s; starting another", self._child.poll())
                self._retire(self._child)
                self._child = self._spawn()
        log.error("audit writer lost %d events: two writers in a row would not take them", data.count(b"\n"))

    def _await_ack(self, token: int, deadline: float) -> None:
        wanted, received = b"%d\n" % token, b""
        fd = self._child.stdout.fileno()
        while not received.endswith(wanted):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                log.warning("audit flush timed out")
                return
            chunk = os.read(fd, 4096)
            if not chunk:
                log.warning("audit writer exited before writing all events")
                return
            received += chunk


def main() -> None:
    """The child: events from stdin into the database; a flush request is answered on stdout
    once everything before it is committed."""
    from telemed import logs
    from telemed.db import make_engine

    logs.configure()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server; stdin's end stops this
    engine = make_engine(os.environ[URL_VARIABLE])
    writer = AuditLog(engine)
    for line in sys.stdin.buffer:
        if line.startswith(b"{"):
            writer.flush()
            sys.stdout.buffer.write(b"%d\n" % orjson.loads(line)["flush"])
            sys.stdout.buffer.flush()
        else:
            writer.record(decode(line))
    writer.close()
    engine.dispose()


if __name__ == "__main__":
    main()
