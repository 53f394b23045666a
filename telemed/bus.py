"""Messages between the server's processes, over PostgreSQL: a table of events and NOTIFY.

Several ``telemed serve`` processes on one PostgreSQL tell each other what each must know at
once: a push for the browsers connected elsewhere, a revoked token. PostgreSQL rather than
Redis: a cluster needs PostgreSQL already, so there is no second engine to run, secure, watch
and back up, and a message exists only if the transaction that sends it commits.
On SQLite there is one process and nothing to tell: ``LocalBus`` sends nowhere.

A message is a row of ``bus_event`` (origin, topic, payload) under a sequence number, and a
NOTIFY of that number in the same transaction. The NOTIFY only wakes the listeners: each reads
the rows it has not seen yet. So a listener whose connection dropped reads, once it is back,
everything sent meanwhile, and nothing twice (``Seen``). Each process drops its own messages
(it acted on them when it sent them). Rows older than ``KEEP_SECONDS`` are pruned.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable

import orjson
import psycopg

log = logging.getLogger("telemed.bus")
CHANNEL = "telemed"
RECONNECT_SECONDS = 1.0
KEEP_SECONDS = 3600  # a listener away longer than this has missed what was pruned
PRUNE_SECONDS = 60
# A number not seen although a later one was: a transaction still committing, or one rolled
# back (its number is never used). Looked for again until it is this old, then given up.
GAP_SECONDS = 30.0
Handler = Callable[[dict], None]


class LocalBus:
    """One process: nobody else to tell."""

    def __init__(self) -> None:
        self.instance = f"{os.getpid()}:{secrets.token_hex(3)}"
        self.origin = f"{socket.gethostname()}:{self.instance}"
        self.handlers: dict[str, Handler] = {}

    def on(self, topic: str, handler: Handler) -> None:
        """``handler(payload)`` runs on the event loop for each message on ``topic`` from another process."""
        self.handlers[topic] = handler

    def send(self, topic: str, payload: dict) -> None:
        pass

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        pass

    def close(self) -> None:
        pass


class Seen:
    """The sequence numbers a listener has taken: all up to ``floor``, and those in ``above``
    (numbers above a gap). Sequences are handed out in order but committed in any order, so a
    gap may still fill in; it is read again until it is ``GAP_SECONDS`` old."""

    def __init__(self, floor: int) -> None:
        self.floor = floor
        self.above: set[int] = set()
        self.gap_since: float | None = None

    def take(self, seq: int) -> bool:
        """True the first time ``seq`` is offered."""
        if seq <= self.floor or seq in self.above:
            return False
        self.above.add(seq)
        return True

    def settle(self, now: float) -> None:
        """Raise the floor over what is contiguous, and over a gap that has waited long enough."""
        while self.floor + 1 in self.above:
            self.floor += 1
            self.above.remove(self.floor)
        if not self.above:
            self.gap_since = None
        elif self.gap_since is None:
            self.gap_since = now
        elif now - self.gap_since > GAP_SECONDS:
            self.floor = min(self.above) - 1
            self.gap_since = None
            self.settle(now)


class PostgresBus(LocalBus):
    """LISTEN on one connection, send from another, each in a thread of its own: the event loop
    never waits on the network, and messages go out in the order they were sent."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.listening = threading.Event()  # set once LISTEN has been issued and caught up (tests wait on it)
        self.listener_name = f"telemed bus {self.instance}"  # its application_name in pg_stat_activity
        self.seen: Seen | None = None

    def send(self, topic: str, payload: dict) -> None:
        """Queue a message for the other processes (sent in order, by a thread of its own)."""
        self.outbox.put(orjson.dumps(payload) + b"\n" + topic.encode())

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.threads:
            return  # two apps on one context (tests)
        for name, target in (("bus-listen", self._listen), ("bus-send", self._send)):
            thread = threading.Thread(target=target, args=(loop,), name=name, daemon=True)
            thread.start()
            self.threads.append(thread)

    def close(self) -> None:
        self.stopping.set()
        self.outbox.put(None)
        for thread in self.threads:
            thread.join(timeout=5)

    def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, application_name=self.listener_name) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if self.seen is None:  # the first time: from now on, not the history
                        self.seen = Seen(conn.execute("SELECT coalesce(max(seq), 0) FROM bus_event").fetchone()[0])
                    self._catch_up(conn, loop)  # what was sent while this connection was down
                    self.listening.set()
                    while not self.stopping.is_set():
                        woken = any(True for _ in conn.notifies(timeout=0.25, stop_after=1))
                        if woken or self.seen.above:
                            self._catch_up(conn, loop)
            except psycopg.Error:
                self.listening.clear()
                log.exception("lost the bus's listening connection; reconnecting")
                self.stopping.wait(RECONNECT_SECONDS)

    def _catch_up(self, conn: psycopg.Connection, loop: asyncio.AbstractEventLoop) -> None:
        rows = conn.execute("SELECT seq, origin, topic, payload FROM bus_event WHERE seq > %s AND seq <> ALL(%s)"
                            " ORDER BY seq", (self.seen.floor, list(self.seen.above))).fetchall()
        for seq, origin, topic, payload in rows:
            if self.seen.take(seq) and origin != self.origin:
                self._deliver(loop, topic, payload)
        self.seen.settle(time.monotonic())

    def _deliver(self, loop: asyncio.AbstractEventLoop, topic: str, payload: str) -> None:
        handler = self.handlers.get(topic)
        if handler is not None and not loop.is_closed():
            loop.call_soon_threadsafe(handler, orjson.loads(payload))

    def _send(self, _loop: asyncio.AbstractEventLoop) -> None:
        conn: psycopg.Connection | None = None
        pruned = 0.0
        while (data := self.outbox.get()) is not None:
            payload, _, topic = data.rpartition(b"\n")
            try:
                conn = conn if conn is not None and not conn.closed else psycopg.connect(self.dsn, autocommit=True)
                with conn.transaction():
                    seq = conn.execute("INSERT INTO bus_event (origin, topic, payload, sent_at) VALUES"
                                       " (%s, %s, %s, now()) RETURNING seq",
                                       (self.origin, topic.decode(), payload.decode())).fetchone()[0]
                    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(seq)))
                if time.monotonic() - pruned > PRUNE_SECONDS:
                    conn.execute("DELETE FROM bus_event WHERE sent_at < now() - make_interval(secs => %s)",
                                 (KEEP_SECONDS,))
                    pruned = time.monotonic()
            except psycopg.Error:
                log.exception("a bus message was not sent")
                conn = None
        if conn is not None:
            conn.close()


def open_bus(url: str) -> LocalBus:
    return LocalBus() if url.startswith("sqlite") else PostgresBus(url)
