"""Real calls through the server's aiortc relay between two aiortc clients: frames both ways,
chat, statistics, recording, a drop and a rejoin; and who may not join."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import aiohttp
import av
import pytest
from sqlmodel import select

from ehr import store
from telemed.models import AuditEntry
from tests.consults_support import call, media, requested, scheduled, settings  # noqa: F401 - fixtures
from webrtc.client import Participant
from webrtc.models import Consult


async def _join(client, login, cid: str, username: str) -> Participant:
    participant = Participant(str(client.make_url("")).rstrip("/"), await login(username), cid)
    await participant.connect()
    return participant


async def _next(participant: Participant, kind: str) -> dict:
    while (message := await asyncio.wait_for(participant.messages.get(), 5))["type"] != kind:
        pass
    return message


def _in_order(counters: list[int]) -> bool:
    """The sender's frames, forward in time: each step advances the counter (mod 16) a little."""
    steps = [(b - a) % 16 for a, b in zip(counters, counters[1:])]
    return len(steps) > 10 and all(s < 8 for s in steps) and sum(s > 0 for s in steps) > 0.8 * len(steps)


async def test_call_relays_both_ways_records_and_keeps_stats(client, login, context, world, media):
    cid = (await scheduled(client, login, recording=True))["id"]
    doc = await _join(client, login, cid, "doc-a")
    assert (await _next(doc, "state"))["waiting_for"] == ["specialist"]
    spec = await _join(client, login, cid, "spec-1")
    started = time.monotonic()
    await asyncio.gather(doc.wait_live(), spec.wait_live())
    assert doc.state["recording"] is True
    live_at = time.monotonic()  # the recording starts when the call goes live
    await asyncio.gather(doc.call(), spec.call())
    await asyncio.gather(doc.wait_frames(1), spec.wait_frames(1))
    flowing_at = time.monotonic()
    from_spec, from_doc = await asyncio.gather(doc.wait_frames(60), spec.wait_frames(60))
    assert _in_order(from_spec.counters) and _in_order(from_doc.counters)
    await doc.send({"type": "chat", "text": "血压 130/85"})
    for _ in range(50):
        if spec.chat:
            break
        await asyncio.sleep(0.1)
    assert spec.chat[0]["text"] == "血压 130/85" and spec.chat[0]["user_id"] == world.users["doc-a"]
    await doc.send({"type": "frames", "fps": "fast"})  # a page's frame rate report: a number or refused
    assert (await _next(doc, "error"))["error"] == "frames: fps must be a number from 0 to 240"
    await asyncio.sleep(max(0.0, 7.0 - (time.monotonic() - started)))  # two stats samples at least
    await doc.close()
    await spec.close()
    closed_at = time.monotonic()

    consult = await _wait_for(context, cid, lambda c: c.recording_id)
    assert consult.status == "held" and consult.call_started_at and consult.call_ended_at
    document = context.db.call(store.read, "DocumentReference", consult.recording_id).resource
    path = context.settings.data_dir / "recordings" / document["content"][0]["attachment"]["url"].rsplit("/", 1)[1]
    with av.open(str(path)) as recording:
        kinds = sorted(s.type for s in recording.streams)
        seconds = recording.duration / av.time_base
        frames = sum(1 for _ in recording.decode(recording.streams.video[0]))
    assert kinds == ["audio", "audio", "video", "video"]
    # It covers at least the time media flowed, and not more than the time the call was live.
    assert closed_at - flowing_at - 0.5 < seconds <= closed_at - live_at + 0.5
    assert frames > 20 * (closed_at - flowing_at - 1)

    shown = await call(client, "GET", f"/api/consults/{cid}/stats", await login("doc-a"))
    rates = [p["frame_rate"] for p in shown["participants"]]
    assert len(rates) == 2
    assert all(r and r > 10 for r in rates)  # with Janus, as the clients report what they receive
    assert all(p["bitrate_kbps"] and p["bitrate_kbps"] > 50 for p in shown["participants"])
    assert all(p["packets_received"] > 100 for p in shown["participants"])


async def _wait_for(context, cid: str, ready, timeout: float = 15) -> Consult:
    deadline = time.monotonic() + timeout
    while True:
        consult = context.db.call(lambda s: s.get(Consult, cid))
        if ready(consult) or time.monotonic() > deadline:
            return consult
        await asyncio.sleep(0.2)


async def test_a_dropped_participant_rejoins_without_restarting_the_other(client, login, context, world, media):
    cid = (await scheduled(client, login, recording=False))["id"]
    doc = await _join(client, login, cid, "doc-a")
    spec = await _join(client, login, cid, "spec-1")
    await asyncio.gather(doc.wait_live(), spec.wait_live())
    await asyncio.gather(doc.call(), spec.call())
    await asyncio.gather(doc.wait_frames(15), spec.wait_frames(15))
    doc_pc, doc_receiving = doc.pc, doc.receiving  # with Janus, the others' media comes on a second one
    assert (doc_receiving is not None) == (media == "janus")

    await spec.go_silent()
    dropped_at = time.monotonic()
    # The heartbeat drops it after 5 s of silence (aiortc alone would take about 30 s); the
    # margin is for a loaded test machine.
    while len(doc.state["participants"]) != 1:
        assert time.monotonic() - dropped_at < 8, "the silent participant was not dropped in time"
        await asyncio.sleep(0.1)
    # The doctor is told who dropped: no longer "live", so the page does not claim a call.
    assert doc.state["state"] == "waiting" and doc.state["call_started"]
    assert [(a["name"], a["how"]) for a in doc.state["absent"]] == [("spec-1", "dropped")]
    metrics = await (await client.get("/metrics")).text()
    assert "telemed_consult_drops_total 1.0" in metrics and "telemed_consult_participants 1.0" in metrics

    again = await _join(client, login, cid, "spec-1")
    await again.wait_live()
    await again.call()
    await asyncio.gather(doc.wait_frames(30), again.wait_frames(30))
    assert doc.pc is doc_pc and doc_pc.connectionState == "connected"
    # Janus switched the doctor's receiving connection to the rejoined publisher: the same one.
    assert doc.receiving is doc_receiving and (media == "embedded" or doc_receiving.connectionState == "connected")
    assert doc.state["slots"][0] == world.users["spec-1"]
    assert doc.state["state"] == "live" and doc.state["absent"] == []
    await asyncio.gather(doc.close(), again.close(), spec.close())


async def test_outsiders_and_wrong_places_cannot_join(client, login, context, world, aiohttp_client):
    cid = (await requested(client, login))["id"]
    base = str(client.make_url("")).rstrip("/")
    with pytest.raises(aiohttp.WSServerHandshakeError) as early:
        await Participant(base, await login("doc-a"), cid).connect()
    assert early.value.status == 409  # not scheduled yet

    cid = (await scheduled(client, login))["id"]
    for outsider in ("spec-2", "doc-b", "officer-a"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await Participant(base, await login(outsider), cid).connect()
        assert refused.value.status == 403

    from telemed.app import create_app
    elsewhere = replace(context, settings=replace(context.settings, facility_networks=("fac-a=10.20.0.0/16",)))
    other = await aiohttp_client(create_app(context=elsewhere))
    token = await login("doc-a")
    with pytest.raises(aiohttp.WSServerHandshakeError) as outside:
        await Participant(str(other.make_url("")).rstrip("/"), token, cid).connect()
    assert outside.value.status == 403
    context.audit.flush()
    refused = context.db.call(lambda s: s.exec(select(AuditEntry.username, AuditEntry.reason).where(
        AuditEntry.action == "consult.join", AuditEntry.outcome == "denied")).all())
    assert {"spec-2", "doc-b", "officer-a"} <= {name for name, _ in refused}
    assert any(name == "doc-a" and "not a clinic endpoint" in reason for name, reason in refused)


async def test_an_invited_third_participant_fills_the_second_slot(client, login, context, world, media):
    cid = (await scheduled(client, login, recording=False))["id"]
    await call(client, "POST", f"/api/consults/{cid}/invite", await login("spec-1"),
               {"user_id": world.users["spec-2"], "kind": "interpreter"})
    pair = [await _join(client, login, cid, name) for name in ("doc-a", "spec-1")]
    await asyncio.gather(*(p.wait_live() for p in pair))
    await asyncio.gather(*(p.call() for p in pair))
    await asyncio.gather(*(p.wait_frames(15, timeout=30) for p in pair))
    receiving = [p.receiving for p in pair]  # with Janus, the others' media comes on a second one
    guest = await _join(client, login, cid, "spec-2")
    await guest.wait_live()
    await guest.call()
    people = [*pair, guest]
    doc = pair[0]
    # Everyone sees the two others, one in each slot (the relay: without any renegotiation; Janus:
    # the guest's streams join the receiving connections the pair already had).
    await asyncio.gather(*(p.wait_frames(15, slot=s, timeout=60) for p in people for s in (0, 1)))
    assert [p.receiving for p in pair] == receiving and (media == "embedded" or None not in receiving)
    assert set(doc.state["slots"]) == {world.users["spec-1"], world.users["spec-2"]}
    assert set(guest.state["slots"]) == {world.users["doc-a"], world.users["spec-1"]}
    # The specialist leaves for good: the doctor and the guest go on seeing each other in slot 0,
    # on the connections they had (Janus switches the doctor's first slot to the guest and takes
    # the second off; the guest's second slot is taken off).
    kept = [doc.receiving, guest.receiving]
    await pair[1].close()
    await asyncio.gather(doc.wait_frames(30, timeout=30), guest.wait_frames(30, timeout=30))
    assert doc.state["slots"] == [world.users["spec-2"], None]
    assert guest.state["slots"] == [world.users["doc-a"], None]
    assert [doc.receiving, guest.receiving] == kept
    # They come back: into the second slot, on the same connections again.
    back = await _join(client, login, cid, "spec-1")
    await back.wait_live()
    await back.call()
    people = [doc, guest, back]
    await asyncio.gather(*(p.wait_frames(15, slot=s, timeout=60) for p in people for s in (0, 1)))
    assert doc.state["slots"] == [world.users["spec-2"], world.users["spec-1"]]
    assert [doc.receiving, guest.receiving] == kept
    await asyncio.gather(*(p.close() for p in people))


@pytest.mark.parametrize("media", ["janus"])
async def test_janus_passes_h264_through(client, login, context, world, media):
    cid = (await scheduled(client, login, recording=False))["id"]
    base = str(client.make_url("")).rstrip("/")
    people = [Participant(base, await login(name), cid, video_codec="video/H264") for name in ("doc-a", "spec-1")]
    for person in people:
        await person.connect()
    await asyncio.gather(*(p.wait_live() for p in people))
    await asyncio.gather(*(p.call() for p in people))
    received = await asyncio.gather(*(p.wait_frames(30, timeout=20) for p in people))
    assert all(_in_order(r.counters) for r in received)
    for person in people:  # sent and received as H.264: nobody transcoded it to VP8
        sent = next(t for t in person.pc.getTransceivers() if t.kind == "video")
        got = next(t for t in person.receiving.getTransceivers() if t.kind == "video")
        assert sent._codecs[0].mimeType == got._codecs[0].mimeType == "video/H264"
    await asyncio.gather(*(p.close() for p in people))
