"""Consult media benchmark: N concurrent 1:1 calls relayed by the server, each side sending
what a clinic camera sends (640x480 VP8 at 30 fps, about 800 kb/s, and Opus audio), then the
same calls with a 300-report batch running beside them.

    .venv/bin/python bench/consults.py            # N = 1, 2, ... until a stream drops below 25 fps
    .venv/bin/python bench/consults.py --quick    # N = 1, 2 and a 30-report batch
    .venv/bin/python bench/consults.py --backend both   # the embedded relay and Janus side by side:
        # calls at >= 25 fps, server CPU and memory per call, join time (the batch is left out),
        # and the re-encoding relay of the issue's time as a second baseline

The server runs as its own process (``telemed serve``), as in production; the call
participants are aiortc clients in this process. To keep the clients' own cost small they
send pre-encoded VP8 and Opus (``bench/camera.py``: encoded once, looped), but they do decode
the video they receive. Every figure is printed beside the source's measured bitrate, and the
run stops at once if that source is far below a real stream.
Server CPU and memory count every process of the server (its media workers) and Janus's; the
media share is the media workers' or Janus's alone (the rest is the application, which also
answers a doctor's work-list request every 50 ms during each round). That request load costs the
same with no call at all, so each server also runs rounds with zero calls under it (before the
calls and after them): the marginal CPU per call is a round's CPU less that, over N, for the
application and the media separately. Calls slow the requests down, so fewer are made in a
round with calls: the zero-call application CPU is scaled to the round's request rate.
Baseline, same run: the frame rate the looped source gives with no relay at all."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402

from ehr import store  # noqa: E402
from ehr.custody import custody_extension  # noqa: E402
from telemed.accounts import add_org, add_user  # noqa: E402
from telemed.config import Settings  # noqa: E402
from telemed.db import Database  # noqa: E402
from telemed.models import OrgKind, Role, TokenKind, User  # noqa: E402
from telemed.schema import upgrade  # noqa: E402
from telemed.security import issue_token, principal_of  # noqa: E402
from telemed.timeutil import utcnow  # noqa: E402
from tests.janus import BINARY as JANUS_BINARY  # noqa: E402
from tests.janus import MISSING as JANUS_MISSING  # noqa: E402
from tests.janus import JanusServer  # noqa: E402
from webrtc import workflow  # noqa: E402
from bench.camera import LoopedOpusTrack, LoopedVp8Track, Source, camera_source  # noqa: E402
from webrtc.client import Participant  # noqa: E402

TARGET_FPS = 25.0
BATCH_CALLS = 4  # the calls the report batch runs beside: the target load
WARM_UP = 2.0
PASSWORD = "bench-password-2026"


async def source_baseline(source: Source, seconds: float) -> float:
    """Frames per second the looped camera source gives with nothing else in the way."""
    track, count, started = LoopedVp8Track(source.video), 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        await track.recv()
        count += 1
    return count / (time.perf_counter() - started)


# --- the server and its data -------------------------------------------------------------------

@dataclass
class World:
    settings: Settings
    consults: list[str]
    doctor: dict[str, str]
    specialist: dict[str, str]


def seed(settings: Settings, calls: int) -> World:
    db = Database(settings.database_url, threads=2)

    def build(session):
        add_org(session, "bench-fac", "Bench Facility", OrgKind.FACILITY)
        add_org(session, "bench-hosp", "Bench Hospital", OrgKind.HOSPITAL)
        users = {}
        for name, role, org, specialty in (("doctor", Role.FACILITY_DOCTOR, "bench-fac", None),
                                           ("officer", Role.MEDICAL_OFFICER, "bench-fac", None),
                                           ("specialist", Role.SPECIALIST, "bench-hosp", "cardiology")):
            users[name] = add_user(session, name, PASSWORD, role=role, org_id=org, display_name=name,
                                   specialty=specialty)
        doctor, specialist = principal_of(users["doctor"]), principal_of(users["specialist"])
        consults = []
        for n in range(calls):
            patient = store.create(session, {
                "resourceType": "Patient", "gender": "male", "birthDate": "1980-01-01",
                "managingOrganization": {"reference": "Organization/bench-fac"},
                "extension": [custody_extension("bench-fac", "1-01", "2026-01-01")]}, resource_id=f"bench-p{n}").id
            consult = workflow.request_consult(session, doctor, {
                "patient_id": patient, "hospital_id": "bench-hosp", "specialty": "cardiology",
                "urgency": "routine", "question": "benchmark call"}, settings.tz)
            workflow.triage(session, specialist, consult.id, {"decision": "accept",
                                                              "proposed_start": utcnow().isoformat()})
            workflow.confirm(session, doctor, consult.id, {})
            workflow.record_custody_facts(session, doctor, consult.id, {
                "consult_consent": True, "recording_consent": False, "officer_present": True})
            consults.append(consult.id)
        tokens = {name: issue_token(session, session.get(User, users[name].id), TokenKind.BEARER, 86400)[0]
                  for name in ("doctor", "specialist")}
        return consults, tokens

    consults, tokens = db.call(build)
    db.close()
    return World(settings, consults, {"Authorization": f"Bearer {tokens['doctor']}"},
                 {"Authorization": f"Bearer {tokens['specialist']}"})


@dataclass
class Server:
    """The application's process, and Janus's when it forwards the media."""

    process: subprocess.Popen
    janus: JanusServer | None = None

    @property
    def pids(self) -> list[int]:
        """The server, its media workers and audit writer, and Janus: everything the calls cost."""
        pids = tree(self.process.pid)
        return pids + ([self.janus.process.pid] if self.janus else [])

    @property
    def media_pids(self) -> list[int]:
        """The processes that forward the media: the media workers, or Janus."""
        if self.janus:
            return [self.janus.process.pid]
        return [pid for pid in self.pids if b"webrtc.media_worker" in _cmdline(pid)]

    def stop(self) -> None:
        stop(self.process)
        if self.janus:
            self.janus.stop()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def tree(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [pid] + [p for child in children for p in tree(int(child))]


def start_server(settings: Settings, port: int, backend: str = "embedded", passthrough: bool = True,
                 workers: int = 0) -> Server:
    env = {**os.environ, "TELEMED_DATABASE_URL": settings.database_url, "TELEMED_DATA_DIR": str(settings.data_dir),
           "TELEMED_SECRET_KEY": settings.secret_key, "TELEMED_PORT": str(port),
           "TELEMED_WEBRTC_PASSTHROUGH": "1" if passthrough else "0", "TELEMED_MEDIA": backend,
           "TELEMED_MEDIA_WORKERS": str(workers)}
    janus = None
    if backend == "janus":
        janus = JanusServer().start()
        env.update(TELEMED_JANUS_URL=janus.url, TELEMED_JANUS_ADMIN_URL=janus.admin_url,
                   TELEMED_JANUS_ADMIN_SECRET=janus.options.admin_secret)
    log = open(settings.data_dir.parent / f"server-{port}.log", "ab")  # a pipe nobody reads would fill and block it
    process = subprocess.Popen([sys.executable, "-c", "from telemed.cli import main; raise SystemExit(main(['serve']))"],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    return Server(process, janus)


async def wait_healthy(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):  # a minute: a loaded machine starts the server slowly
            try:
                async with session.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not start")


def cpu_seconds(server: Server, media_only: bool = False) -> float:
    """CPU time of the server's processes (or of those forwarding media); a media worker that
    ended meanwhile counts in its parent's."""
    total = 0.0
    for pid in server.media_pids if media_only else server.pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # own and reaped children's
    return total


def rss_bytes(server: Server) -> int:
    total = 0
    for pid in server.pids:
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return total


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- one round of N calls ----------------------------------------------------------------------

@dataclass
class Round:
    calls: int
    fps: list[float]  # per received stream, over the measuring window
    worst_second: float  # the lowest one-second frame count of any stream
    gap_p99_ms: float  # 99th percentile of the gaps between received frames
    join_s: list[float]  # offer sent -> first frame of the other side
    server_cores: float  # the application's processes and Janus's
    client_cores: float
    http_ms: list[float]  # latencies of API requests made while the calls ran
    # bytes: the server's memory during the calls less its memory when idle and warm, over N; not
    # clamped at zero, so a server that grows nothing per call shows it (as a small negative).
    memory_per_call: float
    media_cores: float = 0.0  # of server_cores, the media workers' or Janus's
    requests_per_second: float = 0.0  # the work-list requests the round made

    def marginal(self, idle: Load) -> tuple[float, float]:
        """CPU per call beyond the same request load with no call: (application, media) in cores."""
        same_requests = (idle.server_cores - idle.media_cores) * self.requests_per_second / idle.requests_per_second
        app = (self.server_cores - self.media_cores) - same_requests
        return app / self.calls, (self.media_cores - idle.media_cores) / self.calls

    def line(self, label: str, baseline: float, source: Source) -> str:
        low = min(self.fps)
        return (f"{label:<22} N={self.calls}  [{source.label()}]  fps min {low:5.1f} mean {statistics.mean(self.fps):5.1f}"
                f" ({low / baseline:4.0%} of source)  worst 1 s {self.worst_second:3.0f}"
                f"  gap p99 {self.gap_p99_ms:4.0f} ms  join p50 {statistics.median(self.join_s):.2f} s"
                f" max {max(self.join_s):.2f} s  server {self.server_cores / self.calls:5.3f} core/call"
                f" (media {self.media_cores / self.calls:5.3f}) {self.memory_per_call / 2**20:5.1f} MiB/call"
                f"  clients {self.client_cores:4.2f} cores")


@dataclass
class Load:
    """The server's CPU in a round with no call, under the same work-list requests (cores)."""

    server_cores: float
    media_cores: float
    requests_per_second: float


async def idle_round(world: World, base: str, server: Server, seconds: float) -> Load:
    media0, server0, start = cpu_seconds(server, media_only=True), cpu_seconds(server), time.perf_counter()
    requests = len(await probe_http(base, world.doctor, seconds))
    span = time.perf_counter() - start
    return Load((cpu_seconds(server) - server0) / span, (cpu_seconds(server, media_only=True) - media0) / span,
                requests / span)


def mean_load(loads: list[Load]) -> Load:
    return Load(*(statistics.mean(getattr(x, f) for x in loads)
                  for f in ("server_cores", "media_cores", "requests_per_second")))


async def run_round(world: World, base: str, server: Server, calls: int, seconds: float,
                    source: Source, idle_memory: int = 0) -> Round:
    people = []
    for consult_id in world.consults[:calls]:
        for headers in (world.doctor, world.specialist):
            people.append(Participant(base, headers, consult_id, keep_counters=False, video=LoopedVp8Track(source.video),
                                      audio=LoopedOpusTrack(source.audio)))
    try:
        await asyncio.gather(*(p.connect() for p in people))
        await asyncio.gather(*(p.wait_live(20) for p in people))
        await asyncio.gather(*(p.call(20) for p in people))
        await asyncio.gather(*(p.wait_frames(1, timeout=20) for p in people), return_exceptions=True)
        join = [p.video_in().first_at - p.offer_sent_at if p.video_in().first_at else float("inf") for p in people]
        await asyncio.sleep(WARM_UP)
        media0 = cpu_seconds(server, media_only=True)
        server0, client0, start = cpu_seconds(server), own_cpu_seconds(), time.perf_counter()
        http_ms = await probe_http(base, world.doctor, seconds)
        end = time.perf_counter()
        server1, client1 = cpu_seconds(server), own_cpu_seconds()
        media1 = cpu_seconds(server, media_only=True)
        memory_during = rss_bytes(server)
        windows = [[t for t in p.video_in().times if start <= t <= end] for p in people]
    finally:
        await asyncio.gather(*(p.close() for p in people), return_exceptions=True)
        await asyncio.sleep(1.0)  # let the server end the rooms before the next round
    span = end - start
    per_second = [sum(1 for t in times if start + s <= t < start + s + 1) for times in windows
                  for s in range(int(span))]
    gaps = sorted(1000 * (b - a) for times in windows for a, b in zip(times, times[1:])) or [float("inf")]
    return Round(calls, [len(t) / span for t in windows], min(per_second), gaps[int(0.99 * (len(gaps) - 1))],
                 join, (server1 - server0) / span, (client1 - client0) / span, http_ms,
                 (memory_during - idle_memory) / calls, (media1 - media0) / span, len(http_ms) / span)


async def probe_http(base: str, headers: dict[str, str], seconds: float) -> list[float]:
    """One doctor reloading the work lists (a database query and JSON) every 50 ms: do calls
    slow the application down?"""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(headers=headers) as session:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            async with session.get(f"{base}/api/consults") as response:
                await response.read()
            latencies.append(1000 * (time.perf_counter() - started))
            await asyncio.sleep(0.05)
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


# --- the report batch beside the calls ---------------------------------------------------------

def seed_batch(settings: Settings, detainees: int) -> str | None:
    """A campaign of ``detainees`` exams to print; None when the reports package offers no batch API."""
    try:
        from reports.synthetic import seed_campaign
    except ImportError:
        return None
    db = Database(settings.database_url, threads=2)
    try:
        return seed_campaign(db, "bench-fac", detainees)
    finally:
        db.close()


BATCH_SCRIPT = """
import sys, time
from pathlib import Path
from reports.batch import run_batch
from telemed.config import Settings
settings = Settings(database_url=sys.argv[1], data_dir=Path(sys.argv[2]), report_workers=2, report_nice=int(sys.argv[4]))
started = time.perf_counter()
result = run_batch(settings, sys.argv[3])
print(result.done, time.perf_counter() - started)
"""


async def with_batch(world: World, base: str, server: Server, calls: int, seconds: float, source: Source,
                     campaign_id: str, nice: int) -> tuple[Round, float, int, bool]:
    """The calls with the batch's workers running at ``nice`` (TELEMED_REPORT_NICE); returns the round, the
    batch's duration and size, and whether the batch outlasted the round."""
    settings = world.settings
    batch = await asyncio.create_subprocess_exec(
        sys.executable, "-c", BATCH_SCRIPT, settings.database_url, str(settings.data_dir), campaign_id, str(nice),
        stdout=asyncio.subprocess.PIPE)
    measured = await run_round(world, base, server, calls, seconds, source)
    outlasted = batch.returncode is None
    done, batch_seconds = (await batch.communicate())[0].split()
    return measured, float(batch_seconds), int(done), outlasted


async def compare_transcoding(world: World, port: int, passed: Round, seconds: float, source: Source,
                              baseline: float) -> None:
    """The same single call on a server that decodes and re-encodes all video."""
    server = start_server(world.settings, port, passthrough=False)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}")
        transcoded = await run_round(world, f"http://127.0.0.1:{port}", server, passed.calls, seconds, source)
    finally:
        server.stop()
    print(transcoded.line("re-encoding relay", baseline, source))
    print(f"passthrough: the server spends {passed.server_cores / transcoded.server_cores:.0%} of the CPU "
          f"re-encoding needs for the same call")


async def main(quick: bool, backends: list[str]) -> None:
    seconds = 4.0 if quick else 10.0
    max_calls = 2 if quick else 8
    folder = Path(tempfile.mkdtemp(prefix="bench-consults-"))
    settings = Settings(database_url=f"sqlite:///{folder / 'bench.db'}", data_dir=folder / "data",
                        secret_key="bench-secret-key-0123456789", report_workers=2)
    upgrade(settings.database_url)
    world = seed(settings, max_calls)
    source = await asyncio.get_running_loop().run_in_executor(None, camera_source)
    baseline = await source_baseline(source, 3.0)
    print(f"machine: {os.cpu_count()} cores, load {' '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"{seconds:.0f} s per round after {WARM_UP:.0f} s warm-up; clients on the same machine")
    print(f"baseline: {source.label()}, no server: {baseline:.1f} fps")
    port = 18000 + os.getpid() % 1000
    results: dict[str, Measured] = {}
    # With both: the relay as it was when issue 17 was filed too (decoding and re-encoding all
    # media, on a thread of the server's own process), for 1 and 2 calls.
    runs = [(b, b, True, 0, max_calls) for b in backends]
    runs += [(REENCODING, "embedded", False, -1, 2)] if len(backends) == 2 else []
    for n, (label, backend, passthrough, workers, most) in enumerate(runs):
        server = start_server(settings, port + 2 * n, backend, passthrough, workers)
        base = f"http://127.0.0.1:{port + 2 * n}"
        try:
            await wait_healthy(base)
            results[label] = await call_rounds(world, base, server, label, seconds, most, source, baseline)
            if backends == ["embedded"]:
                await beside_the_calls(world, base, server, port + 1, results[label].rounds, seconds, source,
                                       baseline, reports=30 if quick else 300)
        finally:
            server.stop()
    if len(results) == 3:
        side_by_side(results, source)


REENCODING = "re-encoding relay"


@dataclass
class Measured:
    rounds: list[Round]
    idle: Load  # the zero-call rounds' mean


async def call_rounds(world: World, base: str, server: Server, label: str, seconds: float, max_calls: int,
                      source: Source, baseline: float) -> Measured:
    """Zero calls, then N = 1, 2, ... calls until a stream drops below the target frame rate,
    then zero calls again."""
    await run_round(world, base, server, 1, 1.0, source)  # warm-up, not counted: media workers started
    await asyncio.sleep(3.0)
    idle = rss_bytes(server)  # the server ready for calls, with none
    loads = [await idle_round(world, base, server, seconds)]
    rounds: list[Round] = []
    for calls in range(1, max_calls + 1):
        rounds.append(await run_round(world, base, server, calls, seconds, source, idle))
        app, media = rounds[-1].marginal(loads[0])
        print(f"{rounds[-1].line(f'{label} calls', baseline, source)}  {rounds[-1].requests_per_second:4.1f} req/s"
              f"  marginal per call: application {app:5.3f} media {media:5.3f} core", flush=True)
        if min(rounds[-1].fps) < TARGET_FPS:
            break
    await asyncio.sleep(1.0)
    loads.append(await idle_round(world, base, server, seconds))
    print(f"{label}: largest N with every stream >= {TARGET_FPS:.0f} fps: {best_of(rounds)}; zero calls: server "
          + ", ".join(f"{x.server_cores:5.3f} core (media {x.media_cores:5.3f}, {x.requests_per_second:4.1f} req/s)"
                      for x in loads) + " before and after the calls")
    return Measured(rounds, mean_load(loads))


def best_of(rounds: list[Round]) -> int:
    return max((r.calls for r in rounds if min(r.fps) >= TARGET_FPS), default=0)


def side_by_side(results: dict[str, Measured], source: Source) -> None:
    """The two backends on the same calls, from the same run; and Janus against the re-encoding
    relay. Whole-server figures include the work-list load; marginal ones do not."""
    embedded, janus, old = results["embedded"], results["janus"], results[REENCODING]
    common = min(len(embedded.rounds), len(janus.rounds))
    print(f"\nside by side [{source.label()}]")
    print(f"{'':44}{'embedded':>10}{'janus':>10}{'janus/embedded':>16}")
    rows = [("calls with every stream >= 25 fps", best_of(embedded.rounds), best_of(janus.rounds), "{:10d}"),
            ("zero calls: server CPU (core)", embedded.idle.server_cores, janus.idle.server_cores, "{:10.3f}")]
    for at in sorted({1, common}):
        e, j = embedded.rounds[at - 1], janus.rounds[at - 1]
        (e_app, e_media), (j_app, j_media) = e.marginal(embedded.idle), j.marginal(janus.idle)
        rows += [(f"server CPU per call at N={at} (core)", e.server_cores / at, j.server_cores / at, "{:10.3f}"),
                 (f"  media workers | Janus at N={at}", e.media_cores / at, j.media_cores / at, "{:10.3f}"),
                 (f"marginal CPU per call at N={at} (core)", e_app + e_media, j_app + j_media, "{:10.3f}"),
                 ("  application", e_app, j_app, "{:10.3f}"),
                 ("  media workers | Janus", e_media, j_media, "{:10.3f}"),
                 (f"server memory per call at N={at} (MiB)", e.memory_per_call / 2**20, j.memory_per_call / 2**20,
                  "{:10.1f}")]
    rows.append(("join p50 (s)", statistics.median(t for r in embedded.rounds for t in r.join_s),
                 statistics.median(t for r in janus.rounds for t in r.join_s), "{:10.2f}"))
    for label, e, j, form in rows:
        ratio = f"{j / e:15.2f}x" if e > 0 else f"{'-':>16}"
        print(f"{label:44}{form.format(e)}{form.format(j)}{ratio}")
    print(f"\nJanus against the {REENCODING} (video and audio decoded and re-encoded, in the server's own "
          f"process, as when issue 17 was filed) [{source.label()}]")
    print(f"{'':44}{'re-encoding':>12}{'janus':>10}{'janus/re-encoding':>19}")
    for at in range(1, min(len(old.rounds), len(janus.rounds)) + 1):
        o, j = old.rounds[at - 1], janus.rounds[at - 1]
        o_total, j_total = sum(o.marginal(old.idle)), sum(j.marginal(janus.idle))
        for label, a, b in ((f"server CPU per call at N={at} (core)", o.server_cores / at, j.server_cores / at),
                            (f"marginal CPU per call at N={at} (core)", o_total, j_total),
                            (f"min fps at N={at}", min(o.fps), min(j.fps))):
            ratio = f"{b / a:18.2f}x" if a > 0 else f"{'-':>19}"
            print(f"{label:44}{a:12.3f}{b:10.3f}{ratio}")


async def beside_the_calls(world: World, base: str, server: Server, port: int, rounds: list[Round], seconds: float,
                           source: Source, baseline: float, reports: int) -> None:
    """The application's own latency beside the calls, re-encoding against passthrough, and a
    report batch beside the calls."""
    idle_http = await probe_http(base, world.doctor, 3.0)
    for measured in rounds:
        print(f"GET /api/consults beside {measured.calls} call(s): p50 {percentile(measured.http_ms, 50):5.1f} ms"
              f"  p99 {percentile(measured.http_ms, 99):5.1f} ms   (no calls: p50 {percentile(idle_http, 50):.1f}"
              f" ms, p99 {percentile(idle_http, 99):.1f} ms)")
    await compare_transcoding(world, port, rounds[0], seconds, source, baseline)
    campaign_id = seed_batch(world.settings, reports)
    if campaign_id is None:
        print("report batch: reports.synthetic/reports.batch not available; hook seed_batch() skipped")
        return
    calls = min(max(best_of(rounds), 1), BATCH_CALLS, len(rounds))
    alone = rounds[calls - 1]
    for nice, label in ((0, "at normal priority"), (Settings().report_nice, "at the default TELEMED_REPORT_NICE")):
        measured, batch_seconds, done, outlasted = await with_batch(
            world, base, server, calls, seconds, source, campaign_id, nice)
        print(measured.line(f"calls + batch (nice {nice})", baseline, source))
        cost = 1 - statistics.mean(measured.fps) / statistics.mean(alone.fps)
        print(f"report batch {label}: {done} reports in {batch_seconds:.1f} s beside {calls} call(s); the calls "
              f"lost {cost:.1%} of their mean frame rate (min {min(measured.fps):.1f} vs {min(alone.fps):.1f} fps "
              f"alone){'' if outlasted else '; the batch ended before the round did'}", flush=True)


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--backend", choices=("embedded", "janus", "both"), default="embedded",
                        help="the media backend(s); both: side by side in one run (Janus from Debian's package)")
    args = parser.parse_args()
    chosen = ["embedded", "janus"] if args.backend == "both" else [args.backend]
    if "janus" in chosen and JANUS_BINARY is None:
        raise SystemExit(JANUS_MISSING)
    asyncio.run(main(args.quick, chosen))
