"""The media layer's small interface, so that an SFU (Janus, LiveKit) can replace the embedded
aiortc relay, and the pieces every implementation shares: ICE configuration and the slot
layout of an offer.

Slot layout: every participant offers ``SLOTS`` (audio, video) transceiver pairs, in that
order. Pair 0 is sendrecv: the participant's own camera and microphone out, the first other
participant in. Pairs 1.. are recvonly: the further participants (a second specialist, an
interpreter). The server fills each slot with whoever holds it, and refills it when that
person drops and rejoins, so nobody else renegotiates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer

from telemed.config import Settings
from webrtc import turn

SLOTS = 2  # other participants a viewer sees: the counterpart, plus one invited guest
# Everything over one transport. With aiortc's default ("balanced") a second video m-line is
# tied to a transport of its own that BUNDLE then never starts: the third participant's video
# would never flow.
ONE_TRANSPORT = RTCBundlePolicy.MAX_BUNDLE


@dataclass(frozen=True)
class Sample:
    """One participant's inbound path to the server over the last sampling interval (kept by
    ``stats``; here so that a media worker need not load the database layer)."""

    user_id: int
    rtt_ms: float | None
    bitrate_kbps: float | None
    frame_rate: float | None
    packets_lost: int | None
    packets_received: int | None


RELAY_TURN_USER = "telemed-relay"  # the name in the relay's own TURN credentials


def ice_configuration(settings: Settings) -> RTCConfiguration:
    """ICE servers only from configuration, for the relay's side of a call. An empty list, not
    None: with None aiortc falls back to a public STUN server, which stalls every join on a
    network without internet. With a TURN secret, each connection logs in to TURN with a
    credential of its own that expires, as the browsers' do."""
    settings = turn.for_user(settings, RELAY_TURN_USER)
    servers = [RTCIceServer(urls=url, username=settings.turn_username or None,
                            credential=settings.turn_credential or None) if url.startswith("turn")
               else RTCIceServer(urls=url) for url in settings.ice_servers]
    return RTCConfiguration(iceServers=servers, bundlePolicy=ONE_TRANSPORT)


def browser_ice_servers(settings: Settings) -> list[dict]:
    """The same servers for the browser's RTCPeerConnection."""
    servers: list[dict] = []
    for url in settings.ice_servers:
        entry: dict = {"urls": url}
        if url.startswith("turn"):
            entry.update(username=settings.turn_username, credential=settings.turn_credential)
        servers.append(entry)
    return servers


def slot_layout(order: list[int], viewer: int) -> list[int | None]:
    """Who is in each of ``viewer``'s slots: the others present, in the order they came."""
    others = [user for user in order if user != viewer]
    return [others[i] if i < len(others) else None for i in range(SLOTS)]


@dataclass(frozen=True)
class Description:
    sdp: str
    type: str
    # A backend's new offer for a receiving connection the participant already has (its
    # streams changed): answered on that connection, which stays.
    renegotiate: bool = False


class MediaBackend(Protocol):
    """Media for consult rooms. ``participant`` is a user id: one connection per user and room;
    joining again replaces that user's connection (a rejoin) without touching the others."""

    # "same": a participant's one connection carries its own media and the others' (the slot
    # layout above); "separate": it offers only its own, and the backend offers it a second,
    # receiving connection (``on_offer``), answered through ``answer``.
    receive: str

    def on_offer(self, send: Callable[[str, int, Description], Awaitable[None]]) -> None:
        """Where the backend sends a participant an offer of its own: send(room, participant, offer)."""

    async def answer(self, room: str, participant: int, answer: Description) -> None: ...

    async def warm(self) -> None:
        """Get ready for a call soon (a waiting room opened): the first offer should not wait."""

    async def join(self, room: str, participant: int, offer: Description) -> Description: ...

    async def leave(self, room: str, participant: int) -> None: ...

    def slots(self, room: str, viewer: int) -> list[int | None]:
        """Who is in each of ``viewer``'s slots."""

    async def stats(self, room: str) -> list[Sample]: ...

    async def start_recording(self, room: str, folder: Path) -> None: ...

    async def stop_recording(self, room: str) -> Path | None:
        """Stop, combine the participants' files, and return the combined file (None: nothing)."""

    async def close(self) -> None: ...
