"""Cluster benchmark: 50 concurrent API users against one process, then against two behind
nginx, on PostgreSQL, while consult calls run; p50, p99 and throughput of each, same run.

    .venv/bin/python bench/cluster.py                 # 20 s per phase, 2 calls
    .venv/bin/python bench/cluster.py --seconds 5 --calls 1

The topology is deploy/debian.py's (the shape shipped): its PostgreSQL (durable settings), two
``telemed serve`` processes, nginx with TLS. "One process" is the first process asked directly;
"two processes" is nginx over both (so it also pays for TLS and the proxy hop). Each user loops
over a roster read (audited), a token check and the alert list. The calls are aiortc clients
through nginx, relayed by the process their consult hashes to, running through both phases.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402

from bench.common import LoadResult  # noqa: E402
from deploy import debian  # noqa: E402
from tests.conftest import PASSWORD, _migrate_and_seed  # noqa: E402
from tests.consults_support import scheduled  # noqa: E402
from webrtc.client import Participant  # noqa: E402

USERS = 50
PATHS = ("/api/detainees", "/api/me", "/api/labs/alerts")


async def token(base: str, username: str, tls: ssl.SSLContext | bool) -> dict[str, str]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/api/auth/token", json={"username": username, "password": PASSWORD},
                                ssl=tls) as answer:
            return {"Authorization": f"Bearer {(await answer.json())['access_token']}"}


async def users(base: str, headers: list[dict[str, str]], seconds: float, tls: ssl.SSLContext | bool) -> LoadResult:
    """``USERS`` clients, each with its own connection and token, looping over ``PATHS``."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def user(n: int) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1, ssl=tls)) as session:
            i = n
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(base + PATHS[i % len(PATHS)], headers=headers[n % len(headers)]) as answer:
                    body = await answer.read()
                    if answer.status != 200:
                        raise RuntimeError(f"{answer.status}: {body[:200]!r}")
                latencies.append((time.perf_counter() - started) * 1000)
                i += 1

    started = time.perf_counter()
    await asyncio.gather(*(user(n) for n in range(USERS)))
    return LoadResult(len(latencies), time.perf_counter() - started, latencies)


async def start_calls(cluster: debian.Cluster, tls: ssl.SSLContext, count: int) -> list[Participant]:
    async def login(username: str) -> dict[str, str]:
        return await token(cluster.url, username, tls)

    participants = []
    async with aiohttp.ClientSession(base_url=cluster.url, connector=aiohttp.TCPConnector(ssl=tls)) as proxied:
        for _ in range(count):
            consult = (await scheduled(proxied, login))["id"]
            pair = [Participant(cluster.url, await login(u), consult, ssl=tls, keep_counters=False)
                    for u in ("doc-a", "spec-1")]
            for p in pair:
                await p.connect()
            await asyncio.gather(*(p.wait_live(60) for p in pair))
            await asyncio.gather(*(p.call(60) for p in pair))
            await asyncio.gather(*(p.wait_frames(10, timeout=60) for p in pair))
            participants += pair
    return participants


async def run(cluster: debian.Cluster, seconds: float, calls: int) -> None:
    tls = ssl.create_default_context(cafile=str(cluster.certificate))
    participants = await start_calls(cluster, tls, calls)
    try:
        one = cluster.app_url(0)
        direct = [await token(one, name, True) for name in ("doc-a", "doc-b")]
        proxied = [await token(cluster.url, name, tls) for name in ("doc-a", "doc-b")]
        frames = sum(p.video_in().frames for p in participants)
        single = await users(one, direct, seconds, True)
        double = await users(cluster.url, proxied, seconds, tls)
        frames = sum(p.video_in().frames for p in participants) - frames
    finally:
        for p in participants:
            await p.close()
    print(f"load average before: {load_before}; after: {os.getloadavg()[0]:.2f} (machine of {os.cpu_count()} cores)")
    print(f"{USERS} users, {calls} calls running ({frames / (2 * seconds) / max(1, len(participants)):.1f} "
          f"frames/s received per participant), {seconds:.0f} s per phase, PostgreSQL")
    print(single.line("one process (direct)"))
    print(double.line("two processes (nginx, TLS)") + f"   {double.rate / single.rate:4.2f}x one process")


def main() -> int:
    global load_before
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--calls", type=int, default=2)
    args = parser.parse_args()
    load_before = f"{os.getloadavg()[0]:.2f}"
    with tempfile.TemporaryDirectory(prefix="telemed-cluster-bench-") as root:
        os.chmod(root, 0o755)  # PostgreSQL's own user works below it
        postgres = debian.Postgres(Path(root) / "postgres")
        try:
            url = postgres.start()
            _migrate_and_seed(url)
            cluster = debian.start(url, Path(root), apps=2, turn=False)
            try:
                asyncio.run(run(cluster, args.seconds, args.calls))
            finally:
                cluster.stop()
        finally:
            postgres.stop()
    return 0


load_before = ""

if __name__ == "__main__":
    sys.exit(main())
