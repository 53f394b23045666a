"""The server's audit writer, in a process of its own.

Every FHIR read is audited. In the server process, sealing and inserting each entry took the
GIL away from the event loop for ~25 us of CPU per read, and the loop lost as much again
waiting to get it back. Here the server only encodes each event (one orjson call) under a
ticket; a sender thread writes what is queued to the child's stdin at once, and the child
commits whatever has arrived in one transaction (group commit: while it commits, the next
group gathers in the pipe), then answers with the last ticket it committed. A reader thread
takes those answers and releases the requests waiting for them (``Commits``).

A writer that dies loses nothing that was answered: the events it had not confirmed stay
queued here and go to the next writer. (It may have committed some before dying: those are
written twice, which a reviewer can see by their request id, rather than lost.)
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import deque
from datetime import datetime

import orjson

from telemed.audit import EVENT_FIELDS, AuditEvent, Commits, Head, Signer, write_batch
from telemed.children import child_engine, retire, spawn

log = logging.getLogger(__name__)
_TS = EVENT_FIELDS.index("ts")
SIGNER_VARIABLE = "TELEMED_CHILD_AUDIT_SIGNER"  # the keys in the environment, never in argv


def encode(event: AuditEvent) -> bytes:
    return orjson.dumps([getattr(event, name) for name in EVENT_FIELDS])


def decode(data: bytes) -> AuditEvent:
    values = orjson.loads(data)
    values[_TS] = datetime.fromisoformat(values[_TS])
    return AuditEvent(*values)


class AuditProcess:
    """``record``, ``durable``, ``flush`` and ``close`` as ``AuditLog`` has them; the writing
    happens in a child process."""

    def __init__(self, url: str, signer: Signer) -> None:
        self.url = url
        self.signer = signer
        self.commits = Commits()
        self._queued: deque[tuple[int, bytes]] = deque()
        self._unconfirmed: deque[tuple[int, bytes]] = deque()  # sent, not yet confirmed
        self._wake = threading.Event()
        self._closing = False
        self._child = self._start_child()
        self._thread = threading.Thread(target=self._run, name="audit-sender", daemon=True)
        self._thread.start()

    @property
    def pid(self) -> int:
        """The writer's process id (it changes when a dead writer is replaced)."""
        return self._child.pid

    def record(self, event: AuditEvent) -> int:
        line = encode(event)
        with self.commits.lock:
            ticket = self.commits.issue()
            self._queued.append((ticket, line))
        self._wake.set()
        return ticket

    async def durable(self, ticket: int) -> bool:
        return await self.commits.durable(ticket)

    def flush(self, timeout: float = 10.0) -> None:
        """Block until every recorded event is in the database."""
        self._wake.set()
        if not self.commits.wait(timeout=timeout):
            log.warning("audit flush timed out")

    def close(self) -> None:
        self.flush()
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=5)
        retire(self._child)

    def _start_child(self):
        child = spawn(__name__, self.url, {SIGNER_VARIABLE: self.signer.to_env()})
        threading.Thread(target=self._read_confirmations, args=(child,), name="audit-confirm", daemon=True).start()
        return child

    def _run(self) -> None:
        while not self._closing:
            self._wake.wait(1.0)
            self._wake.clear()
            with self.commits.lock:
                batch = list(self._queued)
                self._queued.clear()
                self._unconfirmed.extend(batch)
            if batch and not self._send(batch):
                self._replace_child()
            elif self._child.poll() is not None and not self._closing:
                self._replace_child()

    def _send(self, batch: list[tuple[int, bytes]]) -> bool:
        """All of ``batch`` to the writer. The pipe is unbuffered: one write may take only part of
        it (a signal while the pipe is full), and a tail dropped at a line's end would have let
        the next group's confirmation cover events never written."""
        data = memoryview(b"".join(b"%d %s\n" % item for item in batch))
        try:
            while data:
                data = data[self._child.stdin.write(data):]
            return True
        except (OSError, ValueError):
            return False

    def _replace_child(self) -> None:
        """A new writer takes every event the dead one had not confirmed."""
        for _attempt in range(3):
            log.error("audit writer exited with %s; starting another", self._child.poll())
            retire(self._child)
            self._child = self._start_child()
            with self.commits.lock:
                pending = [item for item in self._unconfirmed if item[0] > self.commits.committed]
            if self._send(pending):
                return
        log.error("audit writer: three writers in a row would not start; %d events wait", len(pending))

    def _read_confirmations(self, child) -> None:
        received = b""
        while chunk := _read(child.stdout):
            received += chunk
            if b"\n" not in chunk:
                continue
            complete, _, received = received.rpartition(b"\n")
            ticket = int(complete.rsplit(b"\n", 1)[-1])  # the last: each covers those before it
            with self.commits.lock:
                while self._unconfirmed and self._unconfirmed[0][0] <= ticket:
                    self._unconfirmed.popleft()
            self.commits.advance(ticket)
        if not self._closing:
            self._wake.set()  # the sender sees the writer gone and replaces it


def _read(pipe) -> bytes:
    try:
        return os.read(pipe.fileno(), 4096)
    except (OSError, ValueError):  # closed by ``retire``
        return b""


def _events(buffer: bytes) -> tuple[list[tuple[int, AuditEvent]], bytes]:
    """The whole lines of ``buffer`` as (ticket, event), and what is left of it."""
    complete, _, rest = buffer.rpartition(b"\n")
    events = []
    for line in complete.split(b"\n") if complete else ():
        ticket, _, data = line.partition(b" ")
        events.append((int(ticket), decode(data)))
    return events, rest


def main() -> None:
    """The child: events from stdin into the database, each group in one transaction; the
    last ticket of each committed group on stdout."""
    engine = child_engine()
    connection = engine.connect()
    signer = Signer.from_env(os.environ[SIGNER_VARIABLE])
    stdin, head, buffer = sys.stdin.buffer.fileno(), Head(0, ""), b""
    while chunk := os.read(stdin, 1 << 20):  # whatever has arrived: the group to commit
        events, buffer = _events(buffer + chunk)
        if not events:
            continue
        written = write_batch(connection, [event for _, event in events], signer)
        if written is None:
            sys.exit(1)  # the server replaces this writer and sends the events again
        head = written
        signer.checkpoints.write(signer.keys, head)
        try:
            os.write(sys.stdout.fileno(), b"%d\n" % events[-1][0])
        except BrokenPipeError:
            pass  # the server is gone; what it sent is still committed
    signer.checkpoints.write(signer.keys, head, force=True)
    connection.close()
    engine.dispose()


if __name__ == "__main__":
    main()
