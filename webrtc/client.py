"""A headless consult participant on aiortc: synthetic camera and microphone, the signaling
protocol, the heartbeat. Used by the tests and the benchmark; also a smoke check of a server.

The synthetic camera writes a frame counter into the picture, so a receiver can tell that the
frames it decodes are the sender's, in order."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import ssl as ssl_
import time
from dataclasses import dataclass, field

import aiohttp
import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
from aiortc.sdp import SessionDescription

from webrtc.media import ONE_TRANSPORT, SLOTS

HEARTBEAT_SECONDS = 1.0


class CounterVideoTrack(VideoStreamTrack):
    """640x480 at 30 fps; the top-left 32x32 block holds the frame counter (mod 16) as one of 16
    grey levels, far enough apart to survive lossy coding."""

    def __init__(self, width: int = 640, height: int = 480) -> None:
        super().__init__()
        self.width, self.height = width, height
        self.sent = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        image = np.full((self.height, self.width, 3), 90, dtype=np.uint8)
        image[:, (self.sent * 4) % self.width] = 255  # a moving line: real motion for the encoder
        image[:32, :32] = (self.sent % 16) * 16 + 8
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        self.sent += 1
        return frame


def counter_of(frame: av.VideoFrame) -> int:
    """The sender's frame counter, mod 16."""
    return int(np.median(frame.to_ndarray(format="gray")[8:24, 8:24])) // 16


class ToneAudioTrack(AudioStreamTrack):
    """A 440 Hz tone, 20 ms frames of 48 kHz mono s16."""

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()
        start = frame.pts
        samples = np.arange(start, start + frame.samples)
        tone = (3000 * np.sin(2 * np.pi * 440 * samples / frame.sample_rate)).astype(np.int16)
        out = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="s16", layout="mono")
        out.sample_rate, out.pts, out.time_base = frame.sample_rate, frame.pts, fractions.Fraction(1, frame.sample_rate)
        return out


@dataclass
class Received:
    frames: int = 0
    counters: list[int] = field(default_factory=list)
    first_at: float | None = None
    times: list[float] = field(default_factory=list)


class Participant:
    def __init__(self, base_url: str, headers: dict[str, str], consult_id: str, *, keep_counters: bool = True,
                 video: MediaStreamTrack | None = None, audio: MediaStreamTrack | None = None,
                 video_codec: str | None = None, ssl: ssl_.SSLContext | bool = True) -> None:
        self.url = f"{base_url.replace('http', 'ws', 1)}/ws/consults/{consult_id}"
        self.headers = headers
        self.ssl = ssl  # a context that trusts a test server's own certificate, say
        self.keep_counters = keep_counters
        self.messages: asyncio.Queue = asyncio.Queue()
        self.state: dict = {}
        self.chat: list[dict] = []
        self.received: dict[str, Received] = {}  # mid -> what arrived there
        self.pc: RTCPeerConnection | None = None
        self.receiving: RTCPeerConnection | None = None  # the backend's own offer ("separate")
        self.receive = "same"
        self.video = video or CounterVideoTrack()
        self.audio = audio or ToneAudioTrack()
        self.video_codec = video_codec  # e.g. "video/H264": offer only that codec
        self.offer_sent_at = 0.0
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._tasks: list[asyncio.Task] = []
        self._live = asyncio.Event()
        self._answer: asyncio.Future | None = None

    async def connect(self) -> None:
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await self._session.ws_connect(self.url, headers=self.headers, ssl=self.ssl)
        except BaseException:  # refused (403, 409) or unreachable: the session must not leak
            await self._session.close()
            raise
        self._tasks = [asyncio.ensure_future(self._read()), asyncio.ensure_future(self._heartbeat())]

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            data = message.json()
            if data["type"] == "welcome":
                self.receive = data.get("receive", "same")
            elif data["type"] == "media-offer":
                self._tasks.append(asyncio.ensure_future(self._accept(data["sdp"], data.get("renegotiate", False))))
            elif data["type"] == "state":
                self.state = data
                if data["state"] == "live":
                    self._live.set()
            elif data["type"] == "answer" and self._answer and not self._answer.done():
                self._answer.set_result(data["sdp"])
            elif data["type"] == "chat":
                self.chat.append(data)
            elif data["type"] == "quality":  # as the room page does: the frame rate it receives
                with contextlib.suppress(ConnectionError):  # the socket closing: the reader ends anyway
                    await self.send({"type": "frames", "fps": self.frame_rate()})
            await self.messages.put(data)

    async def _heartbeat(self) -> None:
        while True:
            await self._ws.send_json({"type": "ping", "t": time.time()})
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def send(self, message: dict) -> None:
        await self._ws.send_json(message)

    async def wait_live(self, timeout: float = 10) -> None:
        await asyncio.wait_for(self._live.wait(), timeout)

    async def call(self, timeout: float = 10) -> None:
        """Offer the slot layout (own media out and the first other in, then receive-only slots)."""
        self.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=ONE_TRANSPORT))
        own = "sendrecv" if self.receive == "same" else "sendonly"
        pc.addTransceiver(self.audio, direction=own)
        video = pc.addTransceiver(self.video, direction=own)
        if self.video_codec:
            video.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs
                                       if c.mimeType in (self.video_codec, "video/rtx")])
        if hasattr(self.video, "keyframe_requested"):  # a pre-encoded source answers PLIs itself
            video.sender._send_keyframe = self.video.keyframe_requested
        for _ in range(SLOTS - 1 if self.receive == "same" else 0):
            pc.addTransceiver("audio", direction="recvonly")
            pc.addTransceiver("video", direction="recvonly")
        pc.on("track", lambda track: self._tasks.append(asyncio.ensure_future(self._consume(pc, track))))
        await pc.setLocalDescription(await pc.createOffer())
        self._answer = asyncio.get_running_loop().create_future()
        self.offer_sent_at = time.perf_counter()
        await self.send({"type": "offer", "sdp": pc.localDescription.sdp})
        sdp = await asyncio.wait_for(self._answer, timeout)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def _accept(self, sdp: str, renegotiate: bool = False) -> None:
        """The backend's receiving connection: the others' media, a pair per slot. A new offer
        (somebody came or went) replaces the connection; a renegotiation is answered on it."""
        if renegotiate and self.receiving is not None:
            same = self.receiving
            await same.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            _route_new_sources(same, sdp)
            await same.setLocalDescription(await same.createAnswer())
            if self.receiving is same:  # not replaced meanwhile by a new connection's offer
                await self.send({"type": "media-answer", "sdp": same.localDescription.sdp})
            return
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=ONE_TRANSPORT))
        old, self.receiving = self.receiving, pc
        pc.on("track", lambda track: self._tasks.append(asyncio.ensure_future(self._consume(pc, track))))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await self.send({"type": "media-answer", "sdp": pc.localDescription.sdp})
        if old is not None:
            await old.close()

    async def _consume(self, pc: RTCPeerConnection, track) -> None:
        mid = next(t.mid for t in pc.getTransceivers() if t.receiver.track is track)
        received = self.received.setdefault(f"{mid}:{track.kind}", Received())
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                now = time.perf_counter()
                received.frames += 1
                received.first_at = received.first_at or now
                if track.kind == "video":
                    received.times.append(now)
                    if self.keep_counters:
                        received.counters.append(counter_of(frame))

    def frame_rate(self, seconds: float = 3.0) -> float:
        """Frames per second arriving in slot 0 over the last ``seconds``."""
        since = time.perf_counter() - seconds
        return round(sum(1 for t in self.video_in().times[-300:] if t >= since) / seconds, 1)

    def video_in(self, slot: int = 0) -> Received:
        """Video arriving in a slot (slot 0 is the transceiver pair 0/1)."""
        return self.received.get(f"{2 * slot + 1}:video", Received())

    async def wait_frames(self, count: int, slot: int = 0, timeout: float = 10) -> Received:
        start = self.video_in(slot).frames
        deadline = time.monotonic() + timeout
        while self.video_in(slot).frames < start + count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.video_in(slot).frames - start} of {count} frames in {timeout} s")
            await asyncio.sleep(0.05)
        return self.video_in(slot)

    async def go_silent(self) -> None:
        """A network cut as the server sees it: no heartbeat, no media, no goodbye."""
        for task in self._tasks:
            task.cancel()
        for pc in (self.pc, self.receiving):
            if pc is not None:
                await pc.close()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for pc in (self.pc, self.receiving):
            if pc is not None:
                await pc.close()
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()


def _route_new_sources(pc: RTCPeerConnection, sdp: str) -> None:
    """Point the sources a renegotiation gives a slot (Janus switched it to another publisher)
    at that slot's receiver. aiortc routes RTP by SSRC, learnt from the first description only,
    and drops a packet of an unknown SSRC when its payload type fits more than one receiver."""
    for media in SessionDescription.parse(sdp).media:
        transceiver = next((t for t in pc.getTransceivers() if t.mid == media.rtp.muxId), None)
        if transceiver is not None and transceiver.receiver.transport is not None:
            for source in media.ssrc:
                transceiver.receiver.transport._rtp_router.ssrc_table[source.ssrc] = transceiver.receiver
