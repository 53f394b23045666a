"""Cells and blocks. A cell is written ``<block>-<room>``: ``3-07`` is room 07 of block 3, as the
booking office writes it on the custody extension of a Patient. The officers on a block are told
of the tasks of its detainees."""

from __future__ import annotations


def block_of(cell: str) -> str:
    """The block of ``cell``: what comes before the first ``-``; a cell without one is a block of its own."""
    return cell.strip().partition("-")[0].strip()
