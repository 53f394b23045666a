"""Tables of the labs capability."""

from __future__ import annotations
