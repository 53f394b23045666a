"""The embedded media backend: one server-side aiortc RTCPeerConnection per participant, media
relayed between them (never peer to peer), all on a media event loop in its own thread so that
RTP, DTLS and SRTP work never delays an HTTP request on the application's loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError

from telemed.config import Settings
from webrtc.media import SLOTS, Description, Sample, ice_configuration, slot_layout
from webrtc.passthrough import PASSTHROUGH_CODECS, EncodedTee, codec_of, install_tee, is_keyframe, request_keyframe
from webrtc.recording import ParticipantRecorder, combine

log = logging.getLogger("telemed.webrtc.relay")
T = TypeVar("T")
KINDS = ("audio", "video")
EPOCH = time.monotonic()
VIDEO_TIME_BASE = Fraction(1, 90000)
AUDIO_RATE = 48000  # Opus's RTP clock
AUDIO_FRAME = 960  # 20 ms: the step assumed where a source's timestamps jump


class SlotTrack(MediaStreamTrack):
    """What one viewer receives in one slot: whoever holds the slot now. Its source can change
    (a drop, a rejoin) while the viewer's sender keeps running: no renegotiation. Media is
    passed through encoded when source and viewer use the same codec (VP8, Opus), and decoded
    otherwise."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.source: Peer | None = None
        self.encoded = False
        self._proxy: MediaStreamTrack | None = None
        self._pump: asyncio.Task | None = None
        self._latest: av.VideoFrame | av.AudioFrame | JitterFrame | None = None
        self._ready = asyncio.Event()
        self._await_keyframe = False
        self._samples = 0
        self._last_rtp: int | None = None  # the source's last audio timestamp

    def feed(self, source: Peer | None, relay: MediaRelay, encoded: bool) -> None:
        if (source, encoded) == (self.source, self.encoded):
            return
        self._unfeed()
        self.source, self.encoded = source, encoded
        if source is None:
            return
        if encoded:
            self._await_keyframe, self._last_rtp = self.kind == "video", None
            source.tees[self.kind].viewers.add(self)
            self.request_keyframe()
        elif source.inbound.get(self.kind) is not None:
            # Unbuffered: a slow viewer skips frames instead of queueing them without bound.
            self._proxy = relay.subscribe(source.inbound[self.kind], buffered=False)
            self._pump = asyncio.ensure_future(self._run(self._proxy))

    def _unfeed(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        if self._proxy is not None:
            self._proxy.stop()
        if self.source is not None and self.kind in self.source.tees:
            self.source.tees[self.kind].viewers.discard(self)
        self._pump = self._proxy = self.source = None

    def request_keyframe(self) -> None:
        """Also stands in for the viewer's sender's own key frame logic (a PLI from the viewer)."""
        if self.kind == "video" and self.encoded and self.source is not None:
            request_keyframe(self.source.receivers.get("video"))

    def push_encoded(self, frame: JitterFrame) -> None:
        if self._await_keyframe and not is_keyframe(frame):
            return
        if self.kind == "audio":
            frame = self._audio_step(frame)
        self._await_keyframe = False
        self._latest = frame
        self._ready.set()

    async def _run(self, proxy: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                self._latest = await proxy.recv()
                self._ready.set()

    async def recv(self) -> av.VideoFrame | av.AudioFrame | av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        await self._ready.wait()
        self._ready.clear()
        return self._restamp(self._latest)

    def _audio_step(self, frame: JitterFrame) -> av.Packet:
        """Opus keeps the source's own spacing (a packet may hold 10 to 60 ms); a new source, or a
        jump, counts as one 20 ms frame."""
        step = (frame.timestamp - self._last_rtp) % 2**32 if self._last_rtp is not None else AUDIO_FRAME
        self._last_rtp = frame.timestamp
        self._samples += step if 0 < step <= AUDIO_RATE else AUDIO_FRAME
        packet = av.Packet(frame.data)
        packet.pts, packet.time_base = self._samples, Fraction(1, AUDIO_RATE)
        return packet

    def _restamp(self, frame):
        # Sources change under a running sender: timestamps must keep counting from one clock.
        if isinstance(frame, av.Packet):
            return frame
        if isinstance(frame, JitterFrame):
            packet = av.Packet(frame.data)
            packet.pts, packet.time_base = int((time.monotonic() - EPOCH) * 90000), VIDEO_TIME_BASE
            return packet
        if self.kind == "video":
            frame.pts, frame.time_base = int((time.monotonic() - EPOCH) * 90000), VIDEO_TIME_BASE
            return frame
        copy = av.AudioFrame.from_ndarray(frame.to_ndarray(), format=frame.format.name, layout=frame.layout.name)
        copy.sample_rate, copy.pts, copy.time_base = frame.sample_rate, self._samples, Fraction(1, frame.sample_rate)
        self._samples += frame.samples
        return copy

    def stop(self) -> None:
        self._unfeed()
        super().stop()


@dataclass(eq=False)
class Peer:
    user_id: int
    pc: RTCPeerConnection
    inbound: dict[str, MediaStreamTrack] = field(default_factory=dict)
    codecs: dict[str, str | None] = field(default_factory=dict)  # negotiated, by kind
    tees: dict[str, EncodedTee] = field(default_factory=dict)
    receivers: dict[str, RTCRtpReceiver] = field(default_factory=dict)
    slots: list[dict[str, SlotTrack]] = field(default_factory=list)
    frames: int = 0  # video frames received from this participant
    tasks: list[asyncio.Task] = field(default_factory=list)
    # at, bytes received, frames: for rates; from the join, so that the first sample has them too
    last: tuple[float, int, int] = field(default_factory=lambda: (time.monotonic(), 0, 0))


@dataclass(eq=False)
class Room:
    name: str
    relay: MediaRelay = field(default_factory=MediaRelay)
    peers: dict[int, Peer] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    recorders: dict[int, ParticipantRecorder] | None = None
    recording_folder: Path | None = None
    recording_started: float = 0.0

    def others(self, viewer: int) -> list[int]:
        return [u for u in self.order if u != viewer and u in self.peers]


class MediaLoop:
    """An event loop in its own thread; coroutines are submitted from the application's loop."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class AiortcBackend:
    """``MediaBackend`` on aiortc. VP8 video and Opus audio are passed through encoded (see
    ``passthrough``); media between differing codecs is decoded once per participant, fanned
    out through an unbuffered MediaRelay and encoded per viewer."""

    def __init__(self, settings: Settings, *, passthrough: bool = True) -> None:
        self.settings = settings
        self.passthrough = passthrough
        self.media = MediaLoop("media")
        self.rooms: dict[str, Room] = {}

    receive = "same"

    def on_offer(self, send) -> None:
        pass  # one connection each: the backend never offers

    async def answer(self, room: str, participant: int, answer: Description) -> None:
        pass

    async def warm(self) -> None:
        pass  # the media loop runs from the start

    async def join(self, room: str, participant: int, offer: Description) -> Description:
        return await self.media.call(self._join(room, participant, offer))

    async def leave(self, room: str, participant: int) -> None:
        await self.media.call(self._leave(room, participant))

    def slots(self, room: str, viewer: int) -> list[int | None]:
        current = self.rooms.get(room)
        return slot_layout(current.others(viewer) if current else [], viewer)

    async def stats(self, room: str) -> list[Sample]:
        return await self.media.call(self._stats(room))

    async def start_recording(self, room: str, folder: Path) -> None:
        await self.media.call(self._start_recording(room, folder))

    async def stop_recording(self, room: str) -> Path | None:
        parts = await self.media.call(self._stop_recording(room))
        if not parts:
            return None
        return await asyncio.get_running_loop().run_in_executor(None, _finish_recording, room, parts)

    async def close(self) -> None:
        for name in list(self.rooms):
            for user_id in list(self.rooms[name].peers):
                await self.leave(name, user_id)
        self.media.stop()

    # --- on the media loop ------------------------------------------------------------------

    async def _join(self, name: str, user_id: int, offer: Description) -> Description:
        room = self.rooms.setdefault(name, Room(name))
        if user_id in room.peers:
            await self._leave(name, user_id, keep_room=True)  # a rejoin replaces the old connection
        pc = RTCPeerConnection(ice_configuration(self.settings))
        peer = Peer(user_id, pc)
        pc.on("track", lambda track: peer.inbound.__setitem__(track.kind, track))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type=offer.type))
        for kind in KINDS:
            peer.codecs[kind] = codec_of(pc, kind)
            installed = install_tee(pc, kind, (lambda: _count_frame(peer)) if kind == "video" else _no_count)
            if installed:
                peer.tees[kind], peer.receivers[kind] = installed
        for _ in range(SLOTS):
            slot = {kind: SlotTrack(kind) for kind in KINDS}
            for kind in KINDS:
                sender = pc.addTrack(slot[kind])
                if kind == "video":
                    sender._send_keyframe = slot[kind].request_keyframe  # forward the viewer's PLI
            peer.slots.append(slot)
        # aiortc gathers every candidate here before answering: there is no trickle ICE.
        await pc.setLocalDescription(await pc.createAnswer())
        room.peers[user_id] = peer
        if user_id not in room.order:
            room.order.append(user_id)
        self._tap(room, peer)
        self._rewire(room)
        return Description(pc.localDescription.sdp, pc.localDescription.type)

    def _tap(self, room: Room, peer: Peer) -> None:
        """Keep every inbound track drained (counting frames), and record it when recording."""
        for kind, track in peer.inbound.items():
            peer.tasks.append(asyncio.ensure_future(self._drain(room, peer, kind, track)))

    async def _drain(self, room: Room, peer: Peer, kind: str, track: MediaStreamTrack) -> None:
        proxy = room.relay.subscribe(track, buffered=False)
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await proxy.recv()
                if "video" not in peer.tees and kind == "video":
                    _count_frame(peer)
                if room.recorders is not None:
                    self._recorder(room, peer.user_id).feed(frame)

    def _recorder(self, room: Room, user_id: int) -> ParticipantRecorder:
        if user_id not in room.recorders:
            room.recorders[user_id] = ParticipantRecorder(room.recording_folder, f"{room.name}-{user_id}",
                                                          room.recording_started)
        return room.recorders[user_id]

    def _rewire(self, room: Room) -> None:
        for viewer in room.peers.values():
            others = room.others(viewer.user_id)
            for index, slot in enumerate(viewer.slots):
                source = room.peers[others[index]] if index < len(others) else None
                for kind in KINDS:
                    slot[kind].feed(source, room.relay, self._can_pass(kind, source, viewer))
        self._decide_decoding(room)

    def _can_pass(self, kind: str, source: Peer | None, viewer: Peer) -> bool:
        return (self.passthrough and source is not None and kind in source.tees
                and source.codecs[kind] == viewer.codecs[kind] == PASSTHROUGH_CODECS[kind])

    def _decide_decoding(self, room: Room) -> None:
        """Decode a participant's media only while a recording or a viewer with another codec needs it."""
        for peer in room.peers.values():
            for kind, tee in peer.tees.items():
                needs = room.recorders is not None or any(
                    slot[kind].source is peer and not slot[kind].encoded
                    for other in room.peers.values() for slot in other.slots)
                if needs and not tee.decode and kind == "video":
                    request_keyframe(peer.receivers[kind])  # the decoder starts from a key frame
                tee.decode = needs

    async def _leave(self, name: str, user_id: int, keep_room: bool = False) -> None:
        room = self.rooms.get(name)
        peer = room.peers.pop(user_id, None) if room else None
        if peer is None:
            return
        for task in peer.tasks:
            task.cancel()
        for slot in peer.slots:
            for track in slot.values():
                track.stop()
        await peer.pc.close()
        if not keep_room:
            room.order.remove(user_id)
        self._rewire(room)
        if not room.peers and room.recorders is None and not keep_room and self.rooms.get(name) is room:
            del self.rooms[name]  # the last to leave; two leaving at once both get here

    async def _stats(self, name: str) -> list[Sample]:
        room = self.rooms.get(name)
        return [await _sample(peer) for peer in list(room.peers.values())] if room else []

    async def _start_recording(self, name: str, folder: Path) -> None:
        room = self.rooms.setdefault(name, Room(name))
        if room.recorders is None:
            folder.mkdir(parents=True, exist_ok=True)
            room.recording_folder, room.recording_started, room.recorders = folder, time.monotonic(), {}
            self._decide_decoding(room)

    async def _stop_recording(self, name: str) -> list[ParticipantRecorder]:
        room = self.rooms.get(name)
        if room is None or room.recorders is None:
            return []
        recorders, room.recorders = list(room.recorders.values()), None
        self._decide_decoding(room)
        if not room.peers:
            del self.rooms[name]
        return recorders


def _count_frame(peer: Peer) -> None:
    peer.frames += 1


def _no_count() -> None:
    pass


def _finish_recording(name: str, recorders: list[ParticipantRecorder]) -> Path | None:
    parts = [path for recorder in recorders for path in recorder.close()]
    if not parts:
        return None
    target = parts[0].with_name(f"{name}-{int(time.time())}.mkv")
    combine(parts, target)
    for part in parts:
        part.unlink(missing_ok=True)
    return target


async def _sample(peer: Peer) -> Sample:
    report = await peer.pc.getStats()
    rtt = [s.roundTripTime for s in report.values() if s.type == "remote-inbound-rtp" and s.roundTripTime is not None]
    inbound = [s for s in report.values() if s.type == "inbound-rtp"]
    received = sum(s.bytesReceived for s in report.values() if s.type == "transport")
    now = time.monotonic()
    at, before, frames_before = peer.last
    peer.last = (now, received, peer.frames)
    elapsed = now - at if at else 0.0
    return Sample(
        user_id=peer.user_id,
        rtt_ms=round(1000 * max(rtt), 1) if rtt else None,
        bitrate_kbps=round(8 * (received - before) / elapsed / 1000, 1) if elapsed else None,
        frame_rate=round((peer.frames - frames_before) / elapsed, 1) if elapsed else None,
        packets_lost=sum(s.packetsLost for s in inbound) if inbound else None,
        packets_received=sum(s.packetsReceived for s in inbound) if inbound else None,
    )
