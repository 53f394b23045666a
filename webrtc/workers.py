"""The embedded relay on every core: media worker processes (``media_worker``), each running the
relay for the rooms placed on it, so that calls use all cores (Python threads share one
interpreter lock) and no room's packets wait behind another worker's.

A room stays on the worker it was placed on, the one with the fewest participants, until it
ends. A worker left without rooms is replaced by a fresh one: whatever the calls left behind
in its memory (aiortc's buffers, the codecs' pools) goes back to the system with the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from telemed.config import Settings
from webrtc.media import Description, Sample, slot_layout

log = logging.getLogger("telemed.webrtc.workers")
PASSED = ("ice_servers", "turn_username", "turn_credential", "turn_secret", "turn_ttl_seconds",
          "webrtc_passthrough")  # what a worker needs
SETTINGS_VARIABLE = "TELEMED_MEDIA_WORKER_SETTINGS"  # the environment, not argv: ps shows argv to everyone
STOP_SECONDS = 10


class WorkerGone(RuntimeError):
    """The worker process ended while a request was waiting for it."""


@dataclass(eq=False)
class Worker:
    process: asyncio.subprocess.Process
    participants: int = 0
    rooms: set[str] = field(default_factory=set)
    served: int = 0  # rooms placed here since the process started
    pending: dict[int, asyncio.Future] = field(default_factory=dict)
    reader: asyncio.Task | None = None

    @classmethod
    async def start(cls, settings: Settings) -> Worker:
        passed = json.dumps({name: getattr(settings, name) for name in PASSED})
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "webrtc.media_worker", env={**os.environ, SETTINGS_VARIABLE: passed},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=4 * 1024 * 1024)
        if not await process.stdout.readline():  # {"ready": true}: imported, serving
            raise WorkerGone(f"media worker {process.pid} ended while starting (see the server's log)")
        worker = cls(process)
        worker.reader = asyncio.ensure_future(worker._read())
        return worker

    async def call(self, op: str, **args) -> object:
        request_id = next(_IDS)
        future = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        self.process.stdin.write((json.dumps({"id": request_id, "op": op, **args}) + "\n").encode())
        await self.process.stdin.drain()
        return await future

    async def _read(self) -> None:
        while line := await self.process.stdout.readline():
            reply = json.loads(line)
            future = self.pending.pop(reply["id"], None)
            if future is None or future.done():
                continue
            if "error" in reply:
                future.set_exception(RuntimeError(f"media worker: {reply['error']}"))
            else:
                future.set_result(reply["result"])
        for future in self.pending.values():
            if not future.done():
                future.set_exception(WorkerGone(f"media worker {self.process.pid} ended"))
        self.pending.clear()

    async def stop(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            self.process.stdin.close()  # the worker closes its calls and exits
        try:
            await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
        except asyncio.TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self.reader is not None:
            await self.reader


_IDS = itertools.count(1)


class WorkerBackend:
    """``MediaBackend`` over ``count`` media worker processes (0: one per core)."""

    def __init__(self, settings: Settings, count: int = 0) -> None:
        self.settings = settings
        self.count = count or os.cpu_count() or 1
        self.workers: list[Worker] = []
        self.placed: dict[str, Worker] = {}
        self.order: dict[str, list[int]] = {}  # who is in each room, in the order they came
        self.recording: set[str] = set()
        self._starting: asyncio.Lock | None = None
        self._retiring: set[asyncio.Task] = set()
        self._closed = False

    async def _pool(self) -> list[Worker]:
        self._starting = self._starting or asyncio.Lock()
        async with self._starting:
            missing = 0 if self._closed else self.count - len(self.workers)
            self.workers += await asyncio.gather(*(Worker.start(self.settings) for _ in range(missing)))
        return self.workers

    receive = "same"

    def on_offer(self, send) -> None:
        pass  # one connection each: the backend never offers

    async def answer(self, room: str, participant: int, answer: Description) -> None:
        pass

    async def warm(self) -> None:
        await self._pool()

    async def _place(self, room: str) -> Worker:
        # A worker that is ready will do: a spare still starting (a loaded machine: seconds) must not hold up a join.
        pool = list(self.workers) or await self._pool()
        if room not in self.placed:  # decided after the wait: the room's participants join at once
            worker = min(pool, key=lambda w: (w.participants, len(w.rooms)))
            worker.rooms.add(room)
            worker.served += 1
            self.placed[room] = worker
            self.order[room] = []
        return self.placed[room]

    async def join(self, room: str, participant: int, offer: Description) -> Description:
        worker = await self._place(room)
        answer = await worker.call("join", room=room, participant=participant, sdp=offer.sdp, type=offer.type)
        if participant not in self.order[room]:
            self.order[room].append(participant)
            worker.participants += 1
        return Description(answer["sdp"], answer["type"])

    async def leave(self, room: str, participant: int) -> None:
        worker = self.placed.get(room)
        if worker is None:
            return
        try:
            await worker.call("leave", room=room, participant=participant)
        finally:  # gone from the room even if its worker failed or ended
            if participant in self.order.get(room, []):
                self.order[room].remove(participant)
                worker.participants -= 1
                self._release(room)

    def slots(self, room: str, viewer: int) -> list[int | None]:
        return slot_layout(self.order.get(room, []), viewer)

    async def stats(self, room: str) -> list[Sample]:
        worker = self.placed.get(room)
        return [Sample(**sample) for sample in await worker.call("stats", room=room)] if worker else []

    async def start_recording(self, room: str, folder: Path) -> None:
        worker = await self._place(room)
        await worker.call("start_recording", room=room, folder=str(folder))
        self.recording.add(room)

    async def stop_recording(self, room: str) -> Path | None:
        worker = self.placed.get(room)
        if worker is None:
            return None
        path = await worker.call("stop_recording", room=room)
        self.recording.discard(room)
        self._release(room)
        return Path(path) if path else None

    def _release(self, room: str) -> None:
        """A room with nobody in it and no recording to finish is over; its worker, if that
        leaves it idle, is replaced by a fresh process."""
        if self.order.get(room) or room in self.recording:
            return
        worker = self.placed.pop(room)
        self.order.pop(room, None)
        worker.rooms.discard(room)
        if not worker.rooms and worker in self.workers:
            self.workers.remove(worker)
            task = asyncio.ensure_future(self._retire(worker))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _retire(self, worker: Worker) -> None:
        await worker.stop()
        await self._pool()  # the spare, ready before the next call asks

    async def close(self) -> None:
        self._closed = True
        await asyncio.gather(*self._retiring, return_exceptions=True)
        await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)
        self.workers.clear()
