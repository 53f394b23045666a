"""Cell blocks: a cell is written ``<block>-<cell>`` ("3-15" is cell 15 of block 3)."""

from __future__ import annotations


def block_of(cell: str) -> str:
    return cell.split("-", 1)[0] if cell else ""
