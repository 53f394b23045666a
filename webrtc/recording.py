"""Server-side recording, off the event loop: each participant's audio and video are encoded by
that participant's own thread into their own file, and the files are combined (remuxed, not
re-encoded) into one when the call ends. The media loop only hands frames over."""

from __future__ import annotations

import contextlib
import heapq
import logging
import queue
import threading
import time
from fractions import Fraction
from pathlib import Path

import av

log = logging.getLogger("telemed.webrtc.recording")

VIDEO_TIME_BASE = Fraction(1, 1000)
AUDIO_RATE = 48000
GAP_SAMPLES = AUDIO_RATE // 10  # audio more than 100 ms behind the wall clock: a gap (drop, mute)
QUEUE_FRAMES = 90  # about a second of both kinds; beyond that frames are dropped, never the call


class ParticipantRecorder:
    """One participant's recording: a file per kind (a Matroska file cannot take a new stream
    once it is being written, and audio may start before or after video). ``feed`` is called
    on the media loop and never blocks; the encoding is done by this recorder's thread."""

    def __init__(self, folder: Path, stem: str, started: float) -> None:
        self.paths = {kind: folder / f"{stem}-{kind}.mkv" for kind in ("video", "audio")}
        self.started = started
        self.dropped = 0
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        self._thread = threading.Thread(target=self._run, name=f"record-{stem}", daemon=True)
        self._thread.start()

    def feed(self, frame: av.VideoFrame | av.AudioFrame) -> None:
        try:
            self._queue.put_nowait((frame, time.monotonic()))
        except queue.Full:
            self.dropped += 1

    def close(self) -> list[Path]:
        """Finish the files and return those written; blocking: call it off the loop."""
        self._queue.put(None)
        self._thread.join()
        return [p for p in self.paths.values() if p.exists() and p.stat().st_size > 0]

    def _run(self) -> None:
        writers: dict[str, _Writer] = {}
        try:
            while (item := self._queue.get()) is not None:
                frame, arrived = item
                kind = "video" if isinstance(frame, av.VideoFrame) else "audio"
                if kind not in writers:
                    writers[kind] = (_VideoWriter if kind == "video" else _AudioWriter)(self.paths[kind], frame)
                writers[kind].write(frame, arrived - self.started)
        except Exception:  # noqa: BLE001 - a broken recording must not take the call down; it is logged
            log.exception("recording %s failed", self.paths["video"].stem)
        finally:
            for writer in writers.values():
                writer.close()


class _Writer:
    def __init__(self, path: Path, frame) -> None:
        self.container = av.open(str(path), "w", format="matroska")
        self.stream = self._stream(frame)

    def _stream(self, frame):
        raise NotImplementedError

    def write(self, frame, offset: float) -> None:
        raise NotImplementedError

    def close(self) -> None:
        with contextlib.suppress(av.FFmpegError):
            self.container.mux(self.stream.encode(None))
        self.container.close()


class _VideoWriter(_Writer):
    last_pts = -1

    def _stream(self, frame: av.VideoFrame):
        stream = self.container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = frame.width, frame.height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = VIDEO_TIME_BASE
        stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        return stream

    def write(self, frame: av.VideoFrame, offset: float) -> None:
        # Copied: the relay hands the same frame object to every consumer.
        copy = av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"), format="yuv420p")
        if (copy.width, copy.height) != (self.stream.width, self.stream.height):
            copy = copy.reformat(width=self.stream.width, height=self.stream.height)
        self.last_pts = max(int(offset * 1000), self.last_pts + 1)
        copy.pts, copy.time_base = self.last_pts, VIDEO_TIME_BASE
        self.container.mux(self.stream.encode(copy))


class _AudioWriter(_Writer):
    samples = 0

    def _stream(self, frame: av.AudioFrame):
        stream = self.container.add_stream("libopus", rate=AUDIO_RATE)
        stream.layout, stream.format = "stereo", "s16"
        stream.time_base = stream.codec_context.time_base = Fraction(1, AUDIO_RATE)
        self.resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE)
        return stream

    def write(self, frame: av.AudioFrame, offset: float) -> None:
        expected = int(offset * AUDIO_RATE)
        if expected - self.samples > GAP_SAMPLES:  # a gap (drop, mute): keep audio on the wall clock
            self.samples = expected
        copy = av.AudioFrame.from_ndarray(frame.to_ndarray(), format=frame.format.name, layout=frame.layout.name)
        copy.sample_rate = frame.sample_rate
        for chunk in self.resampler.resample(copy):
            chunk.pts, chunk.time_base = self.samples, Fraction(1, AUDIO_RATE)
            self.samples += chunk.samples
            self.container.mux(self.stream.encode(chunk))


def combine(parts: list[Path], target: Path) -> float:
    """Remux every stream of every part into ``target``; returns its duration in seconds."""
    inputs = [av.open(str(p)) for p in parts if p.exists() and p.stat().st_size > 0]
    try:
        with av.open(str(target), "w", format="matroska") as output:
            streams = {}
            for container in inputs:
                for stream in container.streams:
                    streams[stream] = output.add_stream_from_template(stream)
            for packet in heapq.merge(*(_packets(c) for c in inputs), key=_seconds):
                packet.stream = streams[packet.stream]
                output.mux(packet)
    finally:
        for container in inputs:
            container.close()
    with av.open(str(target)) as check:
        return (check.duration or 0) / av.time_base


def _packets(container):
    for packet in container.demux():
        if packet.dts is not None:
            yield packet


def _seconds(packet) -> float:
    return float(packet.dts * packet.time_base)
