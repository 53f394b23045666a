"""HTTP routes of the webrtc capability."""

from __future__ import annotations

from aiohttp import web

from webrtc import consult_api, pages, signaling


def setup(app: web.Application) -> None:
    """Add this capability's routes to the app."""
    consult_api.setup(app)
    signaling.setup(app)
    pages.setup(app)
