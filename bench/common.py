"""Shared benchmark plumbing: a real server on loopback, concurrent clients, percentiles."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import ClientSession, TCPConnector, web


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def line(self, label: str) -> str:
        return (f"{label:<34} {self.rate:>9.0f} req/s   p50 {self.percentile(50):6.2f} ms"
                f"   p99 {self.percentile(99):6.2f} ms")


async def serve(app: web.Application, port: int = 0) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{bound}"


async def load(url_for: Callable[[int], str], *, concurrency: int, seconds: float,
               headers: dict[str, str] | None = None,
               check: Callable[[int, bytes], Awaitable[None] | None] | None = None) -> LoadResult:
    """``concurrency`` clients, each looping GETs for ``seconds``; every answer must be 200."""
    latencies: list[float] = []
    count = 0
    deadline = time.perf_counter() + seconds

    async def worker(session: ClientSession, wid: int) -> None:
        nonlocal count
        i = wid
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            async with session.get(url_for(i), headers=headers) as response:
                body = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{response.status}: {body[:200]!r}")
            latencies.append((time.perf_counter() - started) * 1000)
            count += 1
            i += concurrency

    async with ClientSession(connector=TCPConnector(limit=concurrency)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session, w) for w in range(concurrency)))
        elapsed = time.perf_counter() - started
    return LoadResult(count, elapsed, latencies)


def constant_app(body: bytes = b'{"resourceType":"Observation","id":"x","status":"final"}') -> web.Application:
    """The framework's ceiling: the same server stack answering a constant JSON body."""

    async def constant(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", constant)
    return app


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:5.2f}x baseline" if baseline else "n/a"


def median(values: list[float]) -> float:
    return statistics.median(values)
