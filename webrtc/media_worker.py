"""A media worker process: the embedded relay (``relay.AiortcBackend``) for the rooms the server
gives it, driven by one JSON request a line on stdin, answered one a line on stdout.

    {"id": 3, "op": "join", "room": "...", "participant": 7, "sdp": "...", "type": "offer"}
    {"id": 3, "result": {"sdp": "...", "type": "answer"}}     or    {"id": 3, "error": "..."}

Its first line says it is ready. It runs as long as its stdin is open: a server that dies takes its workers with it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

from telemed.config import Settings
from webrtc.media import Description
from webrtc.relay import AiortcBackend
from webrtc.workers import SETTINGS_VARIABLE

log = logging.getLogger("telemed.webrtc.worker")


async def handle(backend: AiortcBackend, request: dict) -> object:
    op, room = request["op"], request.get("room", "")
    if op == "join":
        answer = await backend.join(room, request["participant"], Description(request["sdp"], request["type"]))
        return {"sdp": answer.sdp, "type": answer.type}
    if op == "leave":
        return await backend.leave(room, request["participant"])
    if op == "stats":
        return [dataclasses.asdict(sample) for sample in await backend.stats(room)]
    if op == "start_recording":
        return await backend.start_recording(room, Path(request["folder"]))
    if op == "stop_recording":
        path = await backend.stop_recording(room)
        return str(path) if path else None
    raise ValueError(f"unknown operation {op!r}")


async def serve(settings: Settings) -> None:
    backend = AiortcBackend(settings, passthrough=settings.webrtc_passthrough)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=4 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks: set[asyncio.Task] = set()
    sys.stdout.write(json.dumps({"ready": True}) + "\n")  # imported and listening
    sys.stdout.flush()
    while line := await reader.readline():
        task = asyncio.ensure_future(answer(backend, json.loads(line)))
        tasks.add(task)  # requests overlap: a slow join must not hold up another room's stats
        task.add_done_callback(tasks.discard)
    await backend.close()


async def answer(backend: AiortcBackend, request: dict) -> None:
    try:
        reply = {"id": request["id"], "result": await handle(backend, request)}
    except Exception as error:  # noqa: BLE001 - the server gets the error; the worker serves on
        log.exception("media worker: %s failed", request.get("op"))
        reply = {"id": request["id"], "error": f"{type(error).__name__}: {error}"}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    fields = json.loads(os.environ[SETTINGS_VARIABLE])
    asyncio.run(serve(Settings(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})))


if __name__ == "__main__":
    main()
