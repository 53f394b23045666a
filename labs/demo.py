"""Demo data of the labs capability."""

from __future__ import annotations

from telemed.demo import DemoContext


def load(ctx: DemoContext) -> None:
    """Add this capability's demo data."""
