"""``/ws/events``: one WebSocket per browser tab, carrying what the hub publishes to its user."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSMsgType, web

from telemed.context import context_of
from telemed.http import principal


async def events_socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    hub = context_of(request).hub
    sub = hub.subscribe(principal(request))
    sender = asyncio.create_task(_forward(ws, sub.queue))
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and msg.data == "ping":
                await ws.send_str("pong")
    finally:
        hub.unsubscribe(sub)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    return ws


async def _forward(ws: web.WebSocketResponse, queue: asyncio.Queue) -> None:
    while not ws.closed:
        await ws.send_json(await queue.get())


def setup(app: web.Application) -> None:
    app.router.add_get("/ws/events", events_socket)
