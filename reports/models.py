"""Tables of the reports capability."""

from __future__ import annotations
