"""What a clinic camera and microphone send, pre-encoded once and looped, so that the benchmark's
clients pack RTP instead of encoding: 640x480 VP8 at 30 fps and about 800 kb/s, and Opus.

A flat synthetic picture compresses to a few tens of kb/s, a fifteenth of a real VGA stream,
and a relay that forwards so little looks far better than it is. The picture here is a
textured scene panning under sensor noise, encoded at a constant 800 kb/s, and its measured
bitrate is checked against a floor before any figure is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

WIDTH, HEIGHT, FPS = 640, 480, 30
VIDEO_KBPS = 800  # a VGA call as browsers send it with bandwidth to spare
FLOOR_KBPS = 500  # below this the source is no longer a real camera stream
AUDIO_RATE, AUDIO_FRAME = 48000, 960  # Opus in 20 ms frames
LOOP_SECONDS = 3


class SourceTooThin(RuntimeError):
    """The looped source is far below a real stream: every figure would flatter the server."""


@dataclass(frozen=True)
class Source:
    video: list[bytes]  # VP8 frames, a key frame first
    audio: list[bytes]  # Opus packets of 20 ms

    @property
    def video_kbps(self) -> float:
        return 8 * sum(map(len, self.video)) / (len(self.video) / FPS) / 1000

    @property
    def audio_kbps(self) -> float:
        return 8 * sum(map(len, self.audio)) / (len(self.audio) * AUDIO_FRAME / AUDIO_RATE) / 1000

    def label(self) -> str:
        return f"source {WIDTH}x{HEIGHT} VP8 {FPS} fps {self.video_kbps:.0f} kb/s + Opus {self.audio_kbps:.0f} kb/s"

    def check(self) -> None:
        if self.video_kbps < FLOOR_KBPS:
            raise SourceTooThin(f"the benchmark's video source is {self.video_kbps:.0f} kb/s, far below a real "
                                f"{WIDTH}x{HEIGHT} camera stream (~{VIDEO_KBPS} kb/s; floor {FLOOR_KBPS} kb/s)")


def scene(n: int, texture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Frame ``n``: the texture panned ``n`` steps, sensor noise on top, the frame counter (mod 16)
    as a grey block in the corner (see ``webrtc.client.counter_of``)."""
    x, y = (5 * n) % (texture.shape[1] - WIDTH), (3 * n) % (texture.shape[0] - HEIGHT)
    image = texture[y:y + HEIGHT, x:x + WIDTH].astype(np.int16)
    image += rng.integers(-12, 13, size=image.shape, dtype=np.int16)
    image = np.clip(image, 0, 255).astype(np.uint8)
    image[:32, :32] = (n % 16) * 16 + 8
    return image


def encode_video(frames: int = LOOP_SECONDS * FPS) -> list[bytes]:
    rng = np.random.default_rng(7)
    coarse = rng.integers(0, 256, size=(HEIGHT // 8 + 40, WIDTH // 8 + 60, 3), dtype=np.uint8)
    texture = coarse.repeat(8, axis=0).repeat(8, axis=1)  # blocks a camera would see as objects
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    codec.bit_rate, codec.time_base = VIDEO_KBPS * 1000, Fraction(1, FPS)
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                     "minrate": f"{VIDEO_KBPS}k", "maxrate": f"{VIDEO_KBPS}k", "bufsize": f"{VIDEO_KBPS}k"}
    packets: list[bytes] = []
    for n in range(frames):
        frame = av.VideoFrame.from_ndarray(scene(n, texture, rng), format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = n, Fraction(1, FPS)
        packets += [bytes(p) for p in codec.encode(frame)]
    return packets + [bytes(p) for p in codec.encode(None)]


def encode_audio(seconds: int = LOOP_SECONDS) -> list[bytes]:
    """Speech-like: a voiced tone with a syllable envelope and some breath noise, as Opus."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = AUDIO_RATE, "mono", "s16"
    codec.bit_rate, codec.time_base = 32000, Fraction(1, AUDIO_RATE)
    rng = np.random.default_rng(11)
    packets: list[bytes] = []
    for n in range(seconds * AUDIO_RATE // AUDIO_FRAME):
        t = (n * AUDIO_FRAME + np.arange(AUDIO_FRAME)) / AUDIO_RATE
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
        wave = envelope * (3000 * np.sin(2 * np.pi * 180 * t) + 1500 * np.sin(2 * np.pi * 360 * t))
        samples = (wave + rng.normal(0, 300, AUDIO_FRAME)).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, n * AUDIO_FRAME
        packets += [bytes(p) for p in codec.encode(frame)]
    return packets


def camera_source() -> Source:
    source = Source(encode_video(), encode_audio())
    source.check()
    return source


class LoopedVp8Track(VideoStreamTrack):
    """The pre-encoded video, looped: the sender packs, it does not encode."""

    def __init__(self, packets: list[bytes]) -> None:
        super().__init__()
        self.packets = packets
        self.sent = 0

    def keyframe_requested(self) -> None:
        """A viewer lost the picture (a PLI): jump to the loop's key frame."""
        self.sent = -(-self.sent // len(self.packets)) * len(self.packets)

    async def recv(self) -> av.Packet:
        pts, time_base = await self.next_timestamp()
        packet = av.Packet(self.packets[self.sent % len(self.packets)])
        packet.pts, packet.time_base = pts, time_base
        self.sent += 1
        return packet


class LoopedOpusTrack(AudioStreamTrack):
    """The pre-encoded Opus, looped, paced at 20 ms a packet."""

    def __init__(self, packets: list[bytes]) -> None:
        super().__init__()
        self.packets = packets
        self.sent = 0

    async def recv(self) -> av.Packet:
        await super().recv()  # paces: one 20 ms frame of silence per call
        packet = av.Packet(self.packets[self.sent % len(self.packets)])
        packet.pts, packet.time_base = self.sent * AUDIO_FRAME, Fraction(1, AUDIO_RATE)
        self.sent += 1
        return packet
