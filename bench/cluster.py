"""Cluster benchmark: 50 concurrent API users against one process behind nginx, then two
behind nginx, on PostgreSQL, while consult calls run; p50, p99, throughput and where the cores
went, per phase, same run.

    .venv/bin/python bench/cluster.py                 # 20 s per phase, 2 calls
    .venv/bin/python bench/cluster.py --seconds 5 --calls 1
    .venv/bin/python bench/cluster.py --profile one.svg   # py-spy on the one process (pip install py-spy);
                                                          # .txt: collapsed stacks instead of a flame graph

The topology is deploy/debian.py's (the shape shipped): its PostgreSQL (durable settings), two
``telemed serve`` processes, nginx with TLS; and a second nginx, the same configuration over the
first process alone. Like is compared with like: one process behind nginx with TLS against two
behind nginx with TLS; the first process asked directly is printed too, as a reference.

The users are Debian's wrk (bench/cluster.lua): 50 connections over two threads of native code,
each request the next of a roster read (audited), ``/api/me`` and the alert list, with the next
of ten bearer tokens. A Python client doing TLS ate a core of its own, which the server then
lacked. The calls are aiortc clients in this process, through nginx, relayed by the process
their consult hashes to, running through every phase.

Beside each phase: the cores each part kept busy (CPU seconds per second, from /proc): each app
process with its children (audit writer, lookups, media workers), PostgreSQL, nginx, wrk, the
calls' clients, the rest of the machine (other work), and the machine's total, out of its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402

from bench import cpu  # noqa: E402
from deploy import debian  # noqa: E402
from tests.conftest import PASSWORD, _migrate_and_seed  # noqa: E402
from tests.consults_support import scheduled  # noqa: E402
from webrtc.client import Participant  # noqa: E402

USERS = 50
THREADS = 2
TOKENS = ("doc-a", "doc-b") * 5
SCRIPT = Path(__file__).with_name("cluster.lua")
GENERATOR, CALLS = "wrk", "calls"
SATURATED = 0.9  # of the machine's cores


@dataclass
class Phase:
    label: str
    rate: float
    p50_ms: float
    p99_ms: float
    cores: dict[str, float]


async def token(base: str, username: str, tls: ssl.SSLContext | bool) -> str:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/api/auth/token", json={"username": username, "password": PASSWORD},
                                ssl=tls) as answer:
            return (await answer.json())["access_token"]


async def start_calls(cluster: debian.Cluster, tls: ssl.SSLContext, count: int) -> list[Participant]:
    async def login(username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {await token(cluster.url, username, tls)}"}

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


async def phase(label: str, url: str, tokens: Path, seconds: float, groups: dict[str, list[int]],
                profile: Path | None = None, profiled: int = 0) -> Phase:
    """wrk against ``url`` for ``seconds``; the calls keep running on this process's loop meanwhile."""
    spy = None
    if profile:
        spy = subprocess.Popen(["py-spy", "record", "--pid", str(profiled), "--duration", str(int(seconds)),
                                "--subprocesses", "--nonblocking", "--output", str(profile),
                                "--format", "raw" if profile.suffix == ".txt" else "flamegraph"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = cpu.snapshot(groups)
    wrk = await asyncio.create_subprocess_exec(
        "wrk", f"-t{THREADS}", f"-c{USERS}", f"-d{seconds:.0f}s", "--timeout", "10s", "-s", str(SCRIPT), url,
        "--", str(tokens), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await wrk.communicate()
    after = cpu.snapshot(groups)
    if spy:
        await asyncio.to_thread(spy.wait)
    if wrk.returncode:
        raise RuntimeError(f"wrk: {err.decode()}")
    figures = json.loads(out.decode().strip().splitlines()[-1])
    if figures["bad_status"] or figures["socket_errors"]:
        raise RuntimeError(f"{label}: {figures['bad_status']} answers not 200, {figures['socket_errors']} socket errors")
    return Phase(label, figures["requests"] / (figures["duration_us"] / 1e6), figures["p50_us"] / 1000,
                 figures["p99_us"] / 1000, cpu.cores_used(before, after, GENERATOR, CALLS))


def report(phases: list[Phase], frames: float, seconds: float, calls: int, load_before: float) -> None:
    cores = os.cpu_count() or 1
    print(f"machine: {cores} cores; load average before {load_before:.2f}, after {os.getloadavg()[0]:.2f}")
    print(f"{USERS} users (wrk, {THREADS} threads), {calls} calls running ({frames:.1f} frames/s received per "
          f"participant), {seconds:.0f} s per phase, PostgreSQL")
    columns = list(phases[0].cores)
    print(f"{'':36} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}  | cores used: " + "  ".join(columns))
    for p in phases:
        print(f"{p.label:36} {p.rate:7.0f} {p.p50_ms:7.1f} {p.p99_ms:7.1f}  |             "
              + "  ".join(f"{p.cores[c]:>{len(c)}.2f}" for c in columns))
    one, two = phases[1], phases[2]
    print(f"two processes behind nginx: {two.rate / one.rate:.2f}x one process behind nginx")
    if one.cores["machine"] >= SATURATED * cores:
        print(f"with one process the machine's {cores} cores were already busy ({one.cores['machine']:.2f} of "
              f"{cores}): a second process could only share them, not add throughput")


async def run(cluster: debian.Cluster, postgres: debian.Postgres, root: Path, args: argparse.Namespace) -> None:
    tls = ssl.create_default_context(cafile=str(cluster.certificate))
    single = root / "nginx-one"
    single.mkdir()
    shutil.copytree(cluster.directory / "tls", single / "tls")
    one_port = debian.free_port()
    one_nginx = debian.start_nginx(single, cluster.app_ports[:1], one_port, cluster.env)
    participants = await start_calls(cluster, tls, args.calls)
    try:
        tokens = root / "tokens"
        tokens.write_text("".join([f"{await token(cluster.url, name, tls)}\n" for name in TOKENS]))
        postmaster = int((postgres.directory / "data" / "postmaster.pid").read_text().split()[0])
        nginxes = [p.pid for p in cluster.processes if p.args[0] == "nginx"] + [one_nginx.pid]
        groups = {"app 1": [cluster.processes[0].pid], "app 2": [cluster.processes[1].pid],
                  "PostgreSQL": [postmaster], "nginx": nginxes}
        frames = sum(p.video_in().frames for p in participants)
        phases = [await phase("one process, direct (reference)", cluster.app_url(0), tokens, args.seconds, groups),
                  await phase("one process behind nginx (TLS)", f"https://127.0.0.1:{one_port}", tokens,
                              args.seconds, groups, args.profile, cluster.processes[0].pid),
                  await phase("two processes behind nginx (TLS)", cluster.url, tokens, args.seconds, groups)]
        frames = (sum(p.video_in().frames for p in participants) - frames) / (3 * args.seconds) / max(1, len(participants))
    finally:
        for p in participants:
            await p.close()
        one_nginx.terminate()
        one_nginx.wait()
    report(phases, frames, args.seconds, args.calls, args.load_before)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--calls", type=int, default=2)
    parser.add_argument("--profile", type=Path, help="write py-spy's flame graph of the one process (behind nginx) here")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        parser.error("needs Debian's wrk (scripts/system-deps.sh test)")
    if args.profile and not shutil.which("py-spy"):
        parser.error("--profile needs py-spy (pip install py-spy)")
    args.load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="telemed-cluster-bench-") as root:
        os.chmod(root, 0o755)  # PostgreSQL's own user works below it
        postgres = debian.Postgres(Path(root) / "postgres")
        try:
            url = postgres.start()
            _migrate_and_seed(url)
            cluster = debian.start(url, Path(root) / "cluster", apps=2, turn=False)
            try:
                asyncio.run(run(cluster, postgres, Path(root), args))
            finally:
                cluster.stop()
        finally:
            postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
