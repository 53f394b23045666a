"""Tables of the webrtc capability."""

from __future__ import annotations
