"""Messages between the server's processes, over PostgreSQL's LISTEN/NOTIFY.

Several ``telemed serve`` processes on one PostgreSQL tell each other what each must know at
once: a push for the browsers connected elsewhere, a revoked token. PostgreSQL rather than
Redis: a cluster needs PostgreSQL already, so there is no second engine to run, secure, watch
and back up, and a notification is delivered only if the transaction that sends it commits.
On SQLite there is one process and nothing to tell: ``LocalBus`` sends nowhere.

A message is JSON ``{"o": origin, "t": topic, "p": payload}``; each process drops its own
(it acted on it when it sent it). A listener that loses its connection reconnects; what was sent
meanwhile is lost, which costs a push (the pages refetch on reconnect) or leaves a revoked token
usable elsewhere for the token cache's few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import secrets
import socket
import threading
from collections.abc import Callable

import orjson
import psycopg

log = logging.getLogger("telemed.bus")
CHANNEL = "telemed"
MAX_PAYLOAD = 7900  # PostgreSQL refuses a notification of 8000 bytes or more
RECONNECT_SECONDS = 1.0
Handler = Callable[[dict], None]


class LocalBus:
    """One process: nobody else to tell."""

    def __init__(self) -> None:
        self.origin = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
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


class PostgresBus(LocalBus):
    """LISTEN on one connection, NOTIFY from another, each in a thread of its own: the event loop
    never waits on the network, and messages go out in the order they were sent."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.listening = threading.Event()  # set once LISTEN has been issued (tests wait on it)

    def send(self, topic: str, payload: dict) -> None:
        """Queue a message for the other processes. One over NOTIFY's limit is not sent (and
        logged as an error): the caller has acted here already and must not fail after its commit."""
        data = orjson.dumps({"o": self.origin, "t": topic, "p": payload})
        if len(data) > MAX_PAYLOAD:
            log.error("a %s message of %d bytes is over NOTIFY's limit; the other processes miss it", topic, len(data))
            return
        self.outbox.put(data)

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
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    while not self.stopping.is_set():
                        for note in conn.notifies(timeout=0.25):
                            self._deliver(loop, note.payload)
            except psycopg.Error:
                self.listening.clear()
                log.exception("lost the bus's listening connection; reconnecting")
                self.stopping.wait(RECONNECT_SECONDS)

    def _deliver(self, loop: asyncio.AbstractEventLoop, raw: str) -> None:
        message = orjson.loads(raw)
        handler = self.handlers.get(message["t"])
        if message["o"] != self.origin and handler is not None and not loop.is_closed():
            loop.call_soon_threadsafe(handler, message["p"])

    def _send(self, _loop: asyncio.AbstractEventLoop) -> None:
        conn: psycopg.Connection | None = None
        while (data := self.outbox.get()) is not None:
            try:
                conn = conn if conn is not None and not conn.closed else psycopg.connect(self.dsn, autocommit=True)
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, data.decode()))
            except psycopg.Error:
                log.exception("a bus message was not sent")
                conn = None
        if conn is not None:
            conn.close()


def open_bus(url: str) -> LocalBus:
    return LocalBus() if url.startswith("sqlite") else PostgresBus(url)
