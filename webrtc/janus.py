"""``MediaBackend`` on a Janus videoroom: the application keeps the signaling, the waiting room,
the policy and the audit; Janus forwards the media.

Only the application talks to Janus's API. For each participant it adds a fresh token through
the admin API (Janus runs with ``token_auth``), opens a Janus session with it, and removes the
token when the participant leaves: no token, no session, no media. A token has
``TOKEN_SECONDS`` to be used: a sweep removes every token of this application's that no
participant in a room holds once that time has passed (a join that failed half-way, a removal
that failed). A process that dies cannot remove its tokens: each process renews a beacon token
at every sweep, and a sweep removes every token of another process whose beacon has not changed
for ``DEAD_SECONDS`` (no clocks are compared: each process times what it sees). Each consult's
room is created with the application's key, a secret (to edit or destroy it) and a pin (to join
it), all random and known only to the application.

Janus takes a participant's camera and microphone on one connection (the publisher) and gives
the others' media on another (the subscriber, offered by Janus). So a participant offers only
its own media (``welcome.receive == "separate"``), and the server then sends it a
``media-offer`` for the receiving connection, answered with ``media-answer``. When a slot
changes hands (somebody dropped and rejoined), the existing receiving connection is switched to
the new publisher (the videoroom's ``switch``); when somebody new fills the next slot, their
streams are added to it (``subscribe``); when somebody leaves for good, the slots move up
(``switch``) and the last one's streams are taken off (``unsubscribe``). Janus renegotiates that
connection and the participant answers on it (``renegotiate``): no new connection, no frozen
picture. A new receiving connection is made only for a participant's first, or where Janus did
not put a new slot's streams on the m-lines the pages expect for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from telemed.config import Settings
from webrtc.media import Description, Sample, slot_layout
from webrtc.recording import combine

log = logging.getLogger("telemed.webrtc.janus")
PLUGIN = "janus.plugin.videoroom"
POLL_SECONDS = 30
RETRIES = 20
RETRY_SECONDS = 0.5  # the longest wait for a publisher's media to start; its start wakes it at once
TOKEN_SECONDS = 120.0  # to join with a token the application added
SWEEP_SECONDS = 30.0
DEAD_SECONDS = 3 * SWEEP_SECONDS  # a beacon unchanged this long: its process is gone
PREFIX = "telemed-"  # every token of this application's; then the process's own 8 hex digits and "-"
BEACON = "alive-"  # after a process's prefix: the token it renews at every sweep
ANSWER_SECONDS = 10
PP_REC = shutil.which("janus-pp-rec") or "janus-pp-rec"  # Debian's janus-tools
Offer = Callable[[str, int, Description], Awaitable[None]]
Listener = Callable[[dict], None]


class JanusError(RuntimeError):
    pass


class Api:
    """Janus's HTTP API and admin API (plain JSON, a transaction per request)."""

    def __init__(self, settings: Settings) -> None:
        self.url, self.admin_url = settings.janus_url.rstrip("/"), settings.janus_admin_url.rstrip("/")
        self.secret = settings.janus_admin_secret
        self.http: aiohttp.ClientSession | None = None

    async def post(self, path: str, body: dict) -> dict:
        self.http = self.http or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=POLL_SECONDS + 10))
        async with self.http.post(path, json={**body, "transaction": secrets.token_hex(8)}) as response:
            reply = await response.json(content_type=None)
        if reply.get("janus") == "error":
            raise JanusError(f"Janus: {reply['error'].get('reason')} ({reply['error'].get('code')})")
        return reply

    async def admin(self, request: str, **args) -> dict:
        return await self.post(self.admin_url, {"janus": request, "admin_secret": self.secret, **args})

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()


@dataclass(eq=False)
class Session:
    """One participant's Janus session, opened with their token; events come by long poll."""

    api: Api
    token: str
    on_event: Listener | None = None  # Janus's own events (``webrtcup``...), not answers
    id: int = 0
    waiting: dict[str, asyncio.Future] = field(default_factory=dict)  # transaction -> plugin event
    poller: asyncio.Task | None = None

    async def open(self) -> Session:
        await self.api.admin("add_token", token=self.token, plugins=[PLUGIN])
        try:
            self.id = (await self.api.post(self.api.url, {"janus": "create", "token": self.token}))["data"]["id"]
        except BaseException:
            with contextlib.suppress(JanusError, aiohttp.ClientError):
                await self.api.admin("remove_token", token=self.token)
            raise
        self.poller = asyncio.ensure_future(self._poll())
        return self

    async def attach(self) -> int:
        reply = await self.api.post(f"{self.api.url}/{self.id}", {"janus": "attach", "plugin": PLUGIN,
                                                                   "token": self.token})
        return reply["data"]["id"]

    async def send(self, handle: int, body: dict, jsep: dict | None = None) -> dict:
        """A plugin request; returns the plugin's answer (its event, for asynchronous ones)."""
        transaction = secrets.token_hex(8)
        message = {"janus": "message", "body": body, "token": self.token, "transaction": transaction}
        if jsep:
            message["jsep"] = jsep
        future = asyncio.get_running_loop().create_future()
        self.waiting[transaction] = future
        self.api.http = self.api.http or aiohttp.ClientSession()
        async with self.api.http.post(f"{self.api.url}/{self.id}/{handle}", json=message) as response:
            reply = await response.json(content_type=None)
        if reply.get("janus") == "error":
            self.waiting.pop(transaction, None)
            raise JanusError(f"Janus: {reply['error'].get('reason')}")
        if reply.get("janus") == "success":  # a synchronous request: answered at once
            self.waiting.pop(transaction, None)
            event = reply
        else:
            event = await asyncio.wait_for(future, 20)
        error = event.get("plugindata", {}).get("data", {}).get("error")
        if error:
            raise JanusError(f"Janus videoroom: {error}")
        return event

    async def detach(self, handle: int) -> None:
        with contextlib.suppress(JanusError, aiohttp.ClientError):
            await self.api.post(f"{self.api.url}/{self.id}/{handle}", {"janus": "detach", "token": self.token})

    async def _poll(self) -> None:
        while True:
            try:
                async with self.api.http.get(f"{self.api.url}/{self.id}",
                                             params={"maxev": "10", "token": self.token}) as response:
                    events = await response.json(content_type=None)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                await asyncio.sleep(1)
                continue
            for event in events if isinstance(events, list) else [events]:
                future = self.waiting.pop(event.get("transaction", ""), None)
                if future is not None and not future.done() and event.get("janus") == "event":
                    future.set_result(event)
                elif future is None and self.on_event is not None:
                    self.on_event(event)

    async def close(self) -> None:
        if self.poller is not None:
            self.poller.cancel()
        with contextlib.suppress(JanusError, aiohttp.ClientError):
            await self.api.post(f"{self.api.url}/{self.id}", {"janus": "destroy", "token": self.token})
        with contextlib.suppress(JanusError, aiohttp.ClientError):
            await self.api.admin("remove_token", token=self.token)


@dataclass(frozen=True)
class SubStream:
    """One stream of a receiving connection: its mid there, its kind, and the slot it shows."""

    mid: str
    kind: str
    slot: int

    @property
    def placed(self) -> bool:
        """Where the pages will show it: they take the pair of m-lines 2n, 2n+1 as slot n."""
        return self.mid == str(2 * self.slot + (self.kind == "video"))


@dataclass(eq=False)
class Member:
    session: Session
    publisher: int
    mids: dict[str, str]  # kind -> mid of this member's own media, as Janus publishes it
    subscriber: int | None = None
    # Whom each slot of the current receiving connection carries (None: its publisher left).
    feeds: tuple[int | None, ...] = ()
    streams: tuple[SubStream, ...] = ()
    joined: float = field(default_factory=time.monotonic)
    last: tuple[float, int] | None = None  # at, bytes received: for the bitrate
    answered: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(eq=False)
class Room:
    name: str
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    pin: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    members: dict[int, Member] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one layout change at a time
    started: asyncio.Event = field(default_factory=asyncio.Event)  # some publisher's media started

    def forget(self, participant: int) -> None:
        """``participant``'s media is gone: the slots showing it now show nobody."""
        for member in self.members.values():
            member.feeds = tuple(None if feed == participant else feed for feed in member.feeds)


class JanusBackend:
    """``MediaBackend`` on Janus (``TELEMED_MEDIA=janus``)."""

    receive = "separate"  # the welcome message tells clients to offer only their own media

    def __init__(self, settings: Settings) -> None:
        self.api = Api(settings)
        self.rooms: dict[str, Room] = {}
        self.control: Session | None = None  # the application's own session: rooms only
        self._control_handle = 0
        self._offer: Offer | None = None
        self._lock = asyncio.Lock()
        self._control_lock = asyncio.Lock()
        self.recordings: dict[str, Path] = {}  # room -> where Janus records it
        self._tasks: set[asyncio.Task] = set()
        self.token_seconds = TOKEN_SECONDS
        self.dead_seconds = DEAD_SECONDS
        self._prefix = f"{PREFIX}{secrets.token_hex(4)}-"  # this backend's tokens, among others' in Janus
        self._issued: dict[str, float] = {}  # token -> when added, until its participant is in a room
        self._beacon: str | None = None
        # Another process's prefix -> its beacons as last seen, and since when (monotonic) unchanged.
        self._others: dict[str, tuple[frozenset[str], float]] = {}
        self._sweeper: asyncio.Task | None = None

    def on_offer(self, send: Offer) -> None:
        self._offer = send

    async def warm(self) -> None:
        await self._control()

    async def _control(self) -> tuple[Session, int]:
        async with self._control_lock:  # warm() and the first join may ask at once
            if self.control is None:
                control = await Session(self.api, self._token()).open()
                self._control_handle = await control.attach()
                self.control = control
                await self._beat()
                self._sweeper = self._sweeper or asyncio.ensure_future(self._sweep_every())
        return self.control, self._control_handle

    def _token(self) -> str:
        token = self._prefix + secrets.token_urlsafe(32)
        self._issued[token] = time.monotonic()
        return token

    async def sweep(self) -> list[str]:
        """Renew this process's beacon, then remove its own tokens that nobody in a room holds and
        that are older than ``token_seconds``, and every token of another process whose beacon
        stopped; returns the removed tokens."""
        await self._beat()
        tokens = [entry["token"] for entry in (await self.api.admin("list_tokens"))["data"]["tokens"]]
        removed = self._unused(tokens) + self._orphaned(tokens)
        for token in removed:
            with contextlib.suppress(JanusError):
                await self.api.admin("remove_token", token=token)
            self._issued.pop(token, None)
        return removed

    async def _beat(self) -> None:
        """A new beacon, then the old one gone: other processes see this one still runs."""
        beacon = f"{self._prefix}{BEACON}{secrets.token_urlsafe(16)}"
        await self.api.admin("add_token", token=beacon, plugins=[PLUGIN])
        old, self._beacon = self._beacon, beacon
        if old is not None:
            with contextlib.suppress(JanusError):
                await self.api.admin("remove_token", token=old)

    def _unused(self, tokens: list[str]) -> list[str]:
        held = {m.session.token for room in self.rooms.values() for m in room.members.values()}
        held |= {self.control.token} if self.control else set()
        held |= {self._beacon} if self._beacon else set()
        now = time.monotonic()
        return [token for token in tokens if token.startswith(self._prefix) and token not in held
                and now - self._issued.get(token, 0.0) > self.token_seconds]

    def _orphaned(self, tokens: list[str]) -> list[str]:
        """The tokens of other processes whose beacon has not changed for ``dead_seconds``."""
        width, now = len(self._prefix), time.monotonic()
        by_owner: dict[str, list[str]] = {}
        for token in tokens:
            if token.startswith(PREFIX) and not token.startswith(self._prefix):
                by_owner.setdefault(token[:width], []).append(token)
        for gone in set(self._others) - set(by_owner):
            del self._others[gone]
        orphaned: list[str] = []
        for owner, held in by_owner.items():
            beacons = frozenset(t for t in held if t[width:].startswith(BEACON))
            seen, since = self._others.get(owner, (None, now))
            if seen != beacons:
                self._others[owner] = (beacons, now)
            elif now - since > self.dead_seconds:
                orphaned += held
                del self._others[owner]
        return orphaned

    async def _sweep_every(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                removed = await self.sweep()
            except (JanusError, aiohttp.ClientError, asyncio.TimeoutError) as error:
                log.warning("janus: sweeping tokens: %s", error)
                continue
            if removed:
                log.info("janus: %d unused token(s) past their lifetime removed", len(removed))

    async def _room(self, name: str) -> Room:
        if name not in self.rooms:
            room = Room(name)
            control, handle = await self._control()
            await control.send(handle, {
                "request": "create", "room": name, "admin_key": self.api.secret, "secret": room.secret,
                "pin": room.pin, "is_private": True, "publishers": 4, "audiocodec": "opus",
                "videocodec": "vp8,h264", "h264_profile": "42e01f", "bitrate": 0, "fir_freq": 0,
                "notify_joining": False, "description": "consult",
                # Recreated (everyone had left) during a recording: it records on.
                **({"record": True, "rec_dir": str(self.recordings[name])} if name in self.recordings else {})})
            self.rooms[name] = room
        return self.rooms[name]

    async def join(self, room: str, participant: int, offer: Description) -> Description:
        async with self._lock:
            current = await self._room(room)
        if participant in current.members:
            await self._drop(current, participant)
        session = await Session(self.api, self._token(), self._listener(current)).open()
        try:
            handle = await session.attach()
            await session.send(handle, {"request": "join", "ptype": "publisher", "room": room, "pin": current.pin,
                                        "id": str(participant)})
            reply = await session.send(handle, {"request": "publish", "audio": True, "video": True},
                                       {"type": offer.type, "sdp": offer.sdp, "trickle": False})
        except BaseException:
            self._issued.pop(session.token, None)
            await session.close()
            raise
        self._issued.pop(session.token, None)  # held now: removed when its participant leaves
        published = reply["plugindata"]["data"].get("streams", [])
        current.members[participant] = Member(session, handle, {s["type"]: s["mid"] for s in published})
        if participant not in current.order:
            current.order.append(participant)
        self._spawn(self._resubscribe(current))
        return Description(reply["jsep"]["sdp"], reply["jsep"]["type"])

    def _listener(self, room: Room) -> Listener:
        def heard(event: dict) -> None:
            if event.get("janus") == "webrtcup":  # a connection is up: a publisher may be ready
                room.started.set()
            elif event.get("jsep", {}).get("type") == "offer":  # Janus renegotiates a receiving connection
                viewer = next((u for u, m in room.members.items() if m.subscriber == event.get("sender")), None)
                if viewer is not None and self._offer is not None:
                    offer = Description(event["jsep"]["sdp"], "offer", renegotiate=True)
                    self._spawn(self._offer(room.name, viewer, offer))
        return heard

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)  # kept: a task nobody holds may be collected mid-way
        task.add_done_callback(self._tasks.discard)

    async def _resubscribe(self, room: Room) -> None:
        """Give every viewer the others now in the room, in slot order: a switch of its
        receiving connection where only who holds a slot changed, else a new one. A publisher
        whose media has not started yet cannot be received: tried again as soon as some
        connection in the room comes up (or after ``RETRY_SECONDS``)."""
        for _ in range(RETRIES):
            room.started.clear()
            async with room.lock:
                done = await asyncio.gather(*(self._update(room, viewer, member)
                                              for viewer, member in list(room.members.items())))
            if all(done):
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(room.started.wait(), RETRY_SECONDS)

    async def _update(self, room: Room, viewer: int, member: Member) -> bool:
        feeds = tuple(u for u in slot_layout(room.order, viewer) if u is not None and u in room.members)
        if feeds == member.feeds or not feeds or room.members.get(viewer) is not member:
            return True
        if member.subscriber is not None and len(feeds) == len(member.feeds):
            return await self._switch(room, viewer, member, feeds)
        if member.subscriber is not None and feeds[:len(member.feeds)] == member.feeds:
            return await self._add(room, viewer, member, feeds)
        if member.subscriber is not None and len(feeds) < len(member.feeds):
            return await self._shrink(room, viewer, member, feeds)
        return await self._subscribe(room, viewer, member, feeds)

    async def _add(self, room: Room, viewer: int, member: Member, feeds: tuple[int, ...]) -> bool:
        """Somebody new fills the next slot: their streams join the existing receiving connection."""
        try:
            reply = await member.session.send(member.subscriber, {
                "request": "subscribe", "streams": [{"feed": str(feed)} for feed in feeds[len(member.feeds):]]})
        except (JanusError, aiohttp.ClientError, asyncio.TimeoutError) as error:
            log.info("janus: adding to %s in %s: %s", viewer, room.name, error)
            return False
        self._received(member, feeds, reply)
        if not all(s.placed for s in member.streams):  # Janus did not reuse the freed m-lines
            return await self._subscribe(room, viewer, member, feeds)
        await self._renegotiate(room, viewer, member, reply)
        return True

    async def _switch(self, room: Room, viewer: int, member: Member, feeds: tuple[int | None, ...],
                      wait: bool = False) -> bool:
        """Point the changed slots of the receiving connection at their new publishers (a slot
        now showing nobody is left as it is)."""
        streams = [{"feed": str(feeds[s.slot]), "mid": room.members[feeds[s.slot]].mids[s.kind], "sub_mid": s.mid}
                   for s in member.streams
                   if feeds[s.slot] is not None and feeds[s.slot] != member.feeds[s.slot]
                   and s.kind in room.members[feeds[s.slot]].mids]
        try:
            reply = await member.session.send(member.subscriber, {"request": "switch", "streams": streams})
        except (JanusError, aiohttp.ClientError, asyncio.TimeoutError) as error:
            log.info("janus: switching %s in %s: %s", viewer, room.name, error)
            return False
        member.feeds = feeds
        await self._renegotiate(room, viewer, member, reply, wait)  # streams Janus had stopped: it renegotiates them
        return True

    async def _shrink(self, room: Room, viewer: int, member: Member, feeds: tuple[int, ...]) -> bool:
        """Somebody left for good: the kept slots switched to whom they now show, then the
        streams of the slots beyond them taken off, on the same connection (a renegotiation
        answered before the next)."""
        beyond = [{"sub_mid": s.mid} for s in member.streams
                  if s.slot >= len(feeds) and member.feeds[s.slot] is not None]
        padded = feeds + (None,) * (len(member.feeds) - len(feeds))
        if padded != member.feeds and not await self._switch(room, viewer, member, padded, wait=True):
            return False
        if beyond:
            try:
                reply = await member.session.send(member.subscriber, {"request": "unsubscribe", "streams": beyond})
            except (JanusError, aiohttp.ClientError, asyncio.TimeoutError) as error:
                log.info("janus: taking slots off %s in %s: %s", viewer, room.name, error)
                return False
            await self._renegotiate(room, viewer, member, reply, wait=True)
        member.feeds = feeds
        member.streams = tuple(s for s in member.streams if s.slot < len(feeds))
        return True

    async def _renegotiate(self, room: Room, viewer: int, member: Member, reply: dict, wait: bool = False) -> None:
        """Janus's new offer for the receiving connection it has, if its reply made one."""
        if reply.get("jsep"):
            offer = Description(reply["jsep"]["sdp"], "offer", renegotiate=True)
            await self._offer_to(room, viewer, member, offer, wait)

    async def _offer_to(self, room: Room, viewer: int, member: Member, offer: Description, wait: bool) -> None:
        """Janus's offer for the viewer's receiving connection; with ``wait``, until answered (or
        ``ANSWER_SECONDS``)."""
        if self._offer is None:
            return
        member.answered.clear()
        await self._offer(room.name, viewer, offer)
        if wait:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(member.answered.wait(), ANSWER_SECONDS)

    @staticmethod
    def _received(member: Member, feeds: tuple[int, ...], reply: dict) -> None:
        """What the receiving connection now carries, from Janus's list of its streams."""
        slot_of = {str(feed): slot for slot, feed in enumerate(feeds)}
        member.feeds = feeds
        member.streams = tuple(SubStream(s["mid"], s["type"], slot_of[s["feed_id"]])
                               for s in reply["plugindata"]["data"].get("streams", []) if s.get("feed_id") in slot_of)

    async def _subscribe(self, room: Room, viewer: int, member: Member, feeds: tuple[int, ...]) -> bool:
        old = member.subscriber
        try:
            handle = await member.session.attach()
            reply = await member.session.send(handle, {
                "request": "join", "ptype": "subscriber", "room": room.name, "pin": room.pin,
                "streams": [{"feed": str(feed)} for feed in feeds]})
        except (JanusError, aiohttp.ClientError, asyncio.TimeoutError) as error:
            log.info("janus: subscribing %s in %s: %s", viewer, room.name, error)
            return False
        member.subscriber = handle
        self._received(member, feeds, reply)
        await self._offer_to(room, viewer, member, Description(reply["jsep"]["sdp"], reply["jsep"]["type"]), wait=True)
        if old is not None:
            await member.session.detach(old)
        return True

    async def answer(self, room: str, participant: int, answer: Description) -> None:
        member = self.rooms[room].members.get(participant) if room in self.rooms else None
        if member is None or member.subscriber is None:
            return
        await member.session.send(member.subscriber, {"request": "start", "room": room},
                                  {"type": answer.type, "sdp": answer.sdp})
        member.answered.set()

    async def leave(self, room: str, participant: int) -> None:
        current = self.rooms.get(room)
        if current is None or participant not in current.members:
            return
        await self._drop(current, participant)
        current.order.remove(participant)
        if not current.members:
            await self._destroy(current)
        else:
            await self._resubscribe(current)

    async def _drop(self, room: Room, participant: int) -> None:
        await room.members.pop(participant).session.close()
        room.forget(participant)

    async def _destroy(self, room: Room) -> None:
        self.rooms.pop(room.name, None)
        control, handle = await self._control()
        with contextlib.suppress(JanusError):
            await control.send(handle, {"request": "destroy", "room": room.name, "secret": room.secret})

    def slots(self, room: str, viewer: int) -> list[int | None]:
        current = self.rooms.get(room)
        return slot_layout(current.order if current else [], viewer)

    async def stats(self, room: str) -> list[Sample]:
        current = self.rooms.get(room)
        return [await self._sample(user, member) for user, member in list(current.members.items())] if current else []

    async def _sample(self, user: int, member: Member) -> Sample:
        """From the admin API's view of the participant's publishing connection: what Janus
        received and its RTCP figures. Janus reports no frame rate: that stays empty."""
        info = (await self.api.admin("handle_info", session_id=member.session.id, handle_id=member.publisher))
        media = info.get("info", {}).get("webrtc", {}).get("media", {}).values()
        received = [m.get("stats", {}).get("in", {}) for m in media]
        rtcp = [m.get("rtcp", {}).get("main", {}) for m in media]
        bytes_in = sum(r.get("bytes", 0) for r in received)
        rtt = [r["rtt"] for r in rtcp if r.get("rtt")]
        now = time.monotonic()
        at, before = member.last or (member.joined, 0)
        member.last = (now, bytes_in)
        elapsed = now - at
        return Sample(user_id=user, rtt_ms=float(max(rtt)) if rtt else None,
                      bitrate_kbps=round(8 * (bytes_in - before) / elapsed / 1000, 1) if elapsed > 0 else None,
                      frame_rate=None, packets_lost=sum(r.get("lost", 0) for r in rtcp),
                      packets_received=sum(r.get("packets", 0) for r in received))

    async def start_recording(self, room: str, folder: Path) -> None:
        """Janus's own recorder writes each participant's streams (.mjr) into a folder of this
        consult's; Janus must see it at the same path (on one host, or a shared volume)."""
        rec_dir = folder / "janus" / room
        rec_dir.mkdir(parents=True, exist_ok=True)
        self.recordings[room] = rec_dir
        async with self._lock:
            current = await self._room(room)
        control, handle = await self._control()
        await control.send(handle, {"request": "edit", "room": room, "secret": current.secret,
                                    "new_rec_dir": str(rec_dir)})
        await control.send(handle, {"request": "enable_recording", "room": room, "secret": current.secret,
                                    "record": True})

    async def stop_recording(self, room: str) -> Path | None:
        rec_dir = self.recordings.pop(room, None)
        if rec_dir is None:
            return None
        current = self.rooms.get(room)
        if current is not None:
            control, handle = await self._control()
            await control.send(handle, {"request": "enable_recording", "room": room, "secret": current.secret,
                                        "record": False})
        return await convert(rec_dir, rec_dir.parent.parent / f"{room}-{int(time.time())}.mkv")

    async def close(self) -> None:
        for room in list(self.rooms.values()):
            for participant in list(room.members):
                await self._drop(room, participant)
            await self._destroy(room)
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self.control is not None:
            await self.control.close()
        if self._beacon is not None:
            with contextlib.suppress(JanusError):
                await self.api.admin("remove_token", token=self._beacon)
        await self.api.close()


async def convert(rec_dir: Path, target: Path) -> Path | None:
    """Each .mjr into its own Matroska file with janus-pp-rec (the codec's packets as they came,
    no transcoding), then every stream remuxed into ``target``: the same file as the relay makes."""
    parts = []
    for mjr in sorted(rec_dir.glob("*.mjr")):
        part = mjr.with_suffix(".mka" if "-audio-" in mjr.name else ".mkv")
        process = await asyncio.create_subprocess_exec(
            PP_REC, mjr.name, part.name, cwd=rec_dir,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        if await process.wait() == 0 and part.exists() and part.stat().st_size > 0:
            parts.append(part)
        else:
            log.warning("janus-pp-rec could not convert %s", mjr)
    if not parts:
        return None
    await asyncio.get_running_loop().run_in_executor(None, combine, parts, target)
    shutil.rmtree(rec_dir, ignore_errors=True)
    return target
