"""Relaying VP8 video and Opus audio without decoding and re-encoding them.

aiortc offers no public hook for the encoded frames a receiver assembles: it puts each one on
the receiver's decoder queue. ``EncodedTee`` takes that queue's place, hands every encoded
frame to the viewers that can take it as it is, and passes it on to the decoder only while
someone needs decoded media (a recording, or a viewer whose codec differs). A viewer's sender
then packs the frame into RTP without encoding (``RTCRtpSender`` packs ``av.Packet`` objects),
and computes no audio level either: aiortc measures the level only of audio it encodes, and
no page reads it.

Key frames: a viewer starts on a key frame, and a viewer's picture-loss report is forwarded
to the source as a PLI, since the server has no encoder of its own to refresh the picture.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Callable

from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.jitterbuffer import JitterFrame

PASSTHROUGH_CODECS = {"audio": "audio/opus", "video": "video/VP8"}
MIDS = {"audio": "0", "video": "1"}  # the participant's own media: slot pair 0 (see ``media``)


def is_keyframe(frame: JitterFrame) -> bool:
    # RFC 6386 9.1: bit 0 of the frame tag is 0 for a key frame.
    return bool(frame.data) and not frame.data[0] & 0x01


class EncodedTee(queue.Queue):
    """Stands in for a receiver's decoder queue; ``put`` is called on the media loop."""

    def __init__(self, on_frame: Callable[[], None]) -> None:
        super().__init__()
        self.viewers: set = set()  # SlotTracks fed with encoded frames
        self.decode = True
        self._on_frame = on_frame

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        if item is not None:
            _codec, frame = item
            self._on_frame()
            for viewer in list(self.viewers):
                viewer.push_encoded(frame)
            if not self.decode:
                return
        super().put(item, block, timeout)


def codec_of(pc: RTCPeerConnection, kind: str) -> str | None:
    """The codec negotiated for the participant's own ``kind`` of media."""
    transceiver = next((t for t in pc.getTransceivers() if t.mid == MIDS[kind]), None)
    return transceiver._codecs[0].mimeType if transceiver and transceiver._codecs else None


def install_tee(pc: RTCPeerConnection, kind: str, on_frame: Callable[[], None]) -> tuple[EncodedTee, RTCRtpReceiver] | None:
    """Put a tee on the participant's own receiver of ``kind``; call after setRemoteDescription
    and before the connection is up (the decoder thread takes the queue when it starts)."""
    transceiver = next((t for t in pc.getTransceivers() if t.mid == MIDS[kind] and t.kind == kind), None)
    if transceiver is None:
        return None
    tee = EncodedTee(on_frame)
    transceiver.receiver._RTCRtpReceiver__decoder_queue = tee  # aiortc has no public hook for this
    return tee, transceiver.receiver


def request_keyframe(receiver: RTCRtpReceiver | None) -> None:
    if receiver is None:
        return
    for source in receiver.getSynchronizationSources():
        asyncio.ensure_future(receiver._send_rtcp_pli(source.source))
