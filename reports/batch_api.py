"""HTTP routes of report batches (filled in below)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Batch routes."""
