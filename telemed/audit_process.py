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

import contextlib
import logging
import os
import select
import sys
import threading
import time
from collections import deque
from datetime import datetime

import orjson

from telemed.audit import EVENT_FIELDS, AuditEvent, AuditLog
from telemed.children import child_engine, retire, spawn

log = logging.getLogger(__name__)
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
        self._child = spawn(__name__, url)
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
        retire(self._child)

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
                retire(self._child)
                self._child = spawn(__name__, self.url)
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
    engine = child_engine()
    writer = AuditLog(engine)
    for line in sys.stdin.buffer:
        if line.startswith(b"{"):
            writer.flush()
            with contextlib.suppress(BrokenPipeError):  # a flush that timed out: no one reads
                sys.stdout.buffer.write(b"%d\n" % orjson.loads(line)["flush"])
                sys.stdout.buffer.flush()
        else:
            writer.record(decode(line))
    writer.close()
    engine.dispose()


if __name__ == "__main__":
    main()
