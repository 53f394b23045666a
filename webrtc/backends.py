"""Which media backend serves the consult rooms, from configuration (``TELEMED_MEDIA``)."""

from __future__ import annotations

from telemed.config import Settings
from webrtc.janus import JanusBackend
from webrtc.media import MediaBackend
from webrtc.relay import AiortcBackend
from webrtc.workers import WorkerBackend


def make_backend(settings: Settings) -> MediaBackend:
    if settings.media == "janus":
        return JanusBackend(settings)
    if settings.media_workers == -1:
        return AiortcBackend(settings, passthrough=settings.webrtc_passthrough)
    return WorkerBackend(settings, settings.media_workers)
