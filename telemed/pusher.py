"""A background pusher of a capability's outbox: rows marked unpushed in the database are claimed
and published over the events hub, at once when woken (something filed here) and every second
otherwise (something filed by another process or an import)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

PUSH_INTERVAL = 1.0
Publish = Callable[[web.Application], Awaitable[int]]


class Pusher:
    def __init__(self, name: str, publish: Publish) -> None:
        self.name = name
        self.publish = publish
        self.wake_key = web.AppKey(f"{name}_push_wake", asyncio.Event)
        self.log = logging.getLogger(f"telemed.{name}.push")

    def wake(self, app: web.Application) -> None:
        """Push now rather than at the next tick."""
        app[self.wake_key].set()

    def setup(self, app: web.Application) -> None:
        app[self.wake_key] = asyncio.Event()

        async def running(app: web.Application):
            task = asyncio.create_task(self._run(app))
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        app.cleanup_ctx.append(running)

    async def _run(self, app: web.Application) -> None:
        event = app[self.wake_key]
        while True:
            try:
                await self.publish(app)
            except Exception:  # noqa: BLE001 - a database hiccup must not end the pusher; retried next tick
                self.log.exception("pushing %s failed", self.name)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), PUSH_INTERVAL)
            event.clear()
