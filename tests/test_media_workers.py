"""The embedded relay's media on every core: rooms spread across worker processes, audio and
video passed through without decoding, and memory back at its starting level after calls."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from tests.consults_support import scheduled
from webrtc.client import Participant
from webrtc.relay import AiortcBackend
from webrtc.signaling import media_of
from webrtc.workers import WorkerBackend

MIB = 1024 * 1024


@pytest.fixture
def workers() -> int:
    return 1


@pytest.fixture
def settings(settings, workers: int):
    return replace(settings, media_workers=workers)


async def _call(client, login, cid: str, frames: int = 15) -> tuple[Participant, Participant]:
    base = str(client.make_url("")).rstrip("/")
    people = [Participant(base, await login(name), cid) for name in ("doc-a", "spec-1")]
    for person in people:
        await person.connect()
    await asyncio.gather(*(p.wait_live(20) for p in people))
    await asyncio.gather(*(p.call(20) for p in people))
    await asyncio.gather(*(p.wait_frames(frames, timeout=30) for p in people))
    return people[0], people[1]


async def _hang_up(*people: Participant) -> None:
    await asyncio.gather(*(p.close() for p in people))


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.mark.parametrize("workers", [-1])
async def test_opus_and_vp8_pass_through_without_decoding(client, login, world):
    cid = (await scheduled(client, login, recording=False))["id"]
    doc, spec = await _call(client, login, cid)
    backend = media_of(client.app)
    assert isinstance(backend, AiortcBackend)
    room = backend.rooms[cid]
    # Not recording, both on VP8 and Opus: the server passes both through and decodes nothing.
    assert all(set(p.tees) == {"audio", "video"} for p in room.peers.values())
    assert not any(tee.decode for p in room.peers.values() for tee in p.tees.values())
    assert all(p.slots[0][kind].encoded for p in room.peers.values() for kind in ("audio", "video"))
    for person in (doc, spec):
        heard = person.received["0:audio"].frames
        await asyncio.sleep(1)
        assert person.received["0:audio"].frames > heard + 20  # Opus at 50 packets a second, decoded by the client
    await _hang_up(doc, spec)


@pytest.mark.parametrize("workers", [2])
async def test_rooms_are_spread_across_worker_processes(client, login, world):
    first = (await scheduled(client, login, recording=False))["id"]
    second = (await scheduled(client, login, recording=False))["id"]
    calls = [await _call(client, login, first), await _call(client, login, second)]
    backend = media_of(client.app)
    assert isinstance(backend, WorkerBackend)
    pids = {backend.placed[cid].process.pid for cid in (first, second)}
    assert len(pids) == 2  # one room on each core's worker
    # Both calls flow at once, each through its own process.
    await asyncio.gather(*(p.wait_frames(30) for call in calls for p in call))
    await _hang_up(*calls[0], *calls[1])


async def test_memory_returns_to_its_starting_level_after_twenty_calls(client, login, world):
    backend = media_of(client.app)
    assert isinstance(backend, WorkerBackend)
    started = [w.process.pid for w in await backend._pool()]  # started, and ready
    before = sum(_rss(pid) for pid in started)
    peak = before
    for _ in range(10):  # 20 calls, two at a time
        cids = [(await scheduled(client, login, recording=False))["id"] for _ in range(2)]
        calls = await asyncio.gather(*(_call(client, login, cid) for cid in cids))
        peak = max(peak, sum(_rss(w.process.pid) for w in backend.placed.values() if w.process.returncode is None))
        await _hang_up(*(p for call in calls for p in call))
        await _wait(lambda: not backend.placed)
    await _wait(lambda: len(backend.workers) == 1 and not backend._retiring)
    after = sum(_rss(w.process.pid) for w in backend.workers)
    assert peak > before + 5 * MIB  # the calls did cost memory...
    assert after < before + 5 * MIB, f"{before / MIB:.0f} MiB before the calls, {after / MIB:.0f} MiB after"
    assert started[0] not in {w.process.pid for w in backend.workers}  # ...given back with the process


async def _wait(ready, timeout: float = 20) -> None:
    for _ in range(int(timeout / 0.1)):
        if ready():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")
