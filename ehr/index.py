"""Search-parameter index rows, replaced in the same transaction as each resource write."""

from __future__ import annotations

from sqlmodel import Session


def reindex(session: Session, rtype: str, rid: str, resource: dict) -> None:
    """Replace the index rows of one resource (filled in by the search layer)."""


def remove(session: Session, rtype: str, rid: str) -> None:
    """Drop the index rows of a deleted resource."""
