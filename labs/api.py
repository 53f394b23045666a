"""HTTP routes of the labs capability."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add this capability's routes to the app."""
