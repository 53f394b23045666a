"""Pages (filled in below)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Pages."""
