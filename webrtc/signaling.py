"""``/ws/consults/{id}``: the consult room's signaling socket.

One socket per participant (authenticated by the app's middleware: the session cookie in a
browser, a Bearer header for a program). The server holds the room: a waiting room until the
on-site doctor and a specialist are both there and the custody facts are recorded, then the
call. Participants send a heartbeat every second; one silent for ``HEARTBEAT_TIMEOUT`` is
dropped at once (aiortc itself would notice only after about 30 s), and rejoins with a new
socket and a new peer connection while the others' calls go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import av
from aiohttp import WSMsgType, web
from prometheus_client import Counter

from telemed.context import context_of
from telemed.http import api_error, audit, authorize, await_audit, principal
from telemed.metrics import METRICS
from telemed.policy import Capability
from telemed.security import Principal
from telemed.timeutil import utcnow
from webrtc import seeing, stats, turn, views, workflow
from webrtc.endpoints import is_facility_endpoint
from webrtc.media import Description, MediaBackend, Sample, browser_ice_servers
from webrtc.models import Consult, ConsultStatus
from webrtc.backends import make_backend

log = logging.getLogger("telemed.webrtc.signaling")
HEARTBEAT_TIMEOUT = 5.0
WATCH_SECONDS = 0.5
STATS_SECONDS = 3.0
MAX_FPS = 240
JOINABLE = (ConsultStatus.SCHEDULED, ConsultStatus.HELD)
MEDIA = web.AppKey("consult_media", dict)  # "backend": created on first use
ROOMS = web.AppKey("consult_rooms", dict)
DROPS = web.AppKey("consult_drops", Counter)


@dataclass(eq=False)
class Member:
    who: Principal
    part: str  # facility | specialist
    ws: web.WebSocketResponse
    last_seen: float = field(default_factory=time.monotonic)
    frame_rate: float | None = None  # of the video this participant's page receives, as it reports


@dataclass(eq=False)
class ConsultRoom:
    consult_id: str
    app: web.Application
    members: dict[int, Member] = field(default_factory=dict)
    live: bool = False
    recording: bool = False
    consent_given: bool = False
    recording_consent: bool = False
    tasks: list[asyncio.Task] = field(default_factory=list)
    # Who was here and is not now, and how they went ("left" or "dropped"): the others' pages say so.
    absent: dict[int, dict] = field(default_factory=dict)
    closed: bool = False  # the consult was signed: nobody "leaves" any more
    warming: asyncio.Task | None = None  # the media backend getting ready while people wait

    @property
    def media(self) -> MediaBackend:
        return media_of(self.app)

    async def add(self, member: Member) -> None:
        old = self.members.get(member.who.user_id)
        self.members[member.who.user_id] = member
        self.absent.pop(member.who.user_id, None)
        if old is not None:
            await _close(old.ws)
        if not self.tasks:
            self.tasks = [asyncio.ensure_future(self._watch()), asyncio.ensure_future(self._sample())]
        await self.recheck()

    async def recheck(self) -> None:
        """Re-read the custody facts (recorded meanwhile, perhaps) and go live when ready."""
        ctx = context_of(self.app)
        consult = await ctx.db.run(workflow.get_consult, self.consult_id)
        self.consent_given = await ctx.db.run(workflow.consent_given, consult.consult_consent_id)
        self.recording_consent = await ctx.db.run(workflow.consent_given, consult.recording_consent_id)
        parts = {m.part for m in self.members.values()}
        if not self.live and self.consent_given and {"facility", "specialist"} <= parts:
            self.live = True
            await ctx.db.run(workflow.mark_call_started, self.consult_id, ctx.settings.tz)
            if self.recording_consent:
                await self.media.start_recording(self.consult_id, ctx.settings.data_dir / "recordings")
                self.recording = True
        await self.announce()

    async def announce(self) -> None:
        people = [{"user_id": m.who.user_id, "name": m.who.display_name, "part": m.part} for m in self.members.values()]
        waiting_for = self._waiting_for()
        state = "live" if self.live and not waiting_for else "waiting"
        for member in list(self.members.values()):
            await _send(member.ws, {
                "type": "state", "state": state, "call_started": self.live, "waiting_for": waiting_for,
                "participants": people, "absent": list(self.absent.values()), "recording": self.recording,
                "slots": self.media.slots(self.consult_id, member.who.user_id)})

    def _waiting_for(self) -> list[str]:
        parts = {m.part for m in self.members.values()}
        missing = [p for p in ("facility", "specialist") if p not in parts]
        return missing + ([] if self.consent_given else ["consent"])

    async def remove(self, member: Member, how: str = "left") -> None:
        """Drop one participant (``how``: "left", or "dropped" when silent); only their media
        stops. A replaced socket is no departure."""
        if self.members.get(member.who.user_id) is not member:
            return
        del self.members[member.who.user_id]
        if not self.closed:
            self.absent[member.who.user_id] = {"user_id": member.who.user_id, "name": member.who.display_name,
                                               "part": member.part, "how": how}
        await self.media.leave(self.consult_id, member.who.user_id)
        asyncio.ensure_future(_close(member.ws))
        if self.members:
            await self.announce()
        else:
            await self.end()

    async def end(self) -> None:
        self.app[ROOMS].pop(self.consult_id, None)
        for task in self.tasks:
            task.cancel()
        ctx = context_of(self.app)
        if self.live:
            await ctx.db.run(workflow.mark_call_ended, self.consult_id)
        if self.recording:
            await _store_recording(self.app, self.consult_id, await self.media.stop_recording(self.consult_id))

    async def broadcast(self, message: dict) -> None:
        for member in list(self.members.values()):
            await _send(member.ws, message)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            deadline = time.monotonic() - HEARTBEAT_TIMEOUT
            for member in [m for m in self.members.values() if m.last_seen < deadline]:
                log.info("consult %s: user %s silent, dropped", self.consult_id, member.who.username)
                self.app[DROPS].inc()
                await self.remove(member, "dropped")

    async def _sample(self) -> None:
        ctx = context_of(self.app)
        while True:
            await asyncio.sleep(STATS_SECONDS)
            try:
                samples = await self.media.stats(self.consult_id)
            except Exception:  # noqa: BLE001 - one failed sample must not end the call's statistics
                log.exception("consult %s: call statistics failed", self.consult_id)
                continue
            samples = [self._with_frame_rate(s) for s in samples]
            if samples:
                await ctx.db.run(stats.record, self.consult_id, samples)
                await self.broadcast({"type": "quality", "samples": [s.__dict__ for s in samples]})


    def _with_frame_rate(self, sample: Sample) -> Sample:
        """A backend that measures no frame rate (Janus) gets the one the page reported."""
        member = self.members.get(sample.user_id)
        if sample.frame_rate is not None or member is None or member.frame_rate is None:
            return sample
        return replace(sample, frame_rate=member.frame_rate)


async def _store_recording(app: web.Application, consult_id: str, path: Path | None) -> None:
    if path is None:
        return
    ctx = context_of(app)
    duration = await asyncio.get_running_loop().run_in_executor(None, _duration, path)
    url = f"/api/consults/{consult_id}/recording/{path.name}"
    await ctx.db.run(workflow.attach_recording, consult_id, url, path.stat().st_size, duration)


def _duration(path: Path) -> float:
    with av.open(str(path)) as container:
        return (container.duration or 0) / av.time_base


async def _send(ws: web.WebSocketResponse, message: dict) -> None:
    if not ws.closed:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_json(message)


async def _close(ws: web.WebSocketResponse) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
        await asyncio.wait_for(ws.close(), 2)


async def close_room(app: web.Application, consult_id: str) -> None:
    """The consult is signed: every page in its room says so and shows the note; the call ends.
    Each socket's own handler then removes its member, so that signing does not wait for media."""
    room = app[ROOMS].get(consult_id)
    if room is None:
        return
    room.closed = True
    await room.broadcast({"type": "closed"})
    for member in list(room.members.values()):
        asyncio.ensure_future(_close(member.ws))


async def _offer(app: web.Application, consult_id: str, user_id: int, offer: Description) -> None:
    """The backend's own offer to a participant: its receiving connection (see ``media``)."""
    room = app[ROOMS].get(consult_id)
    member = room.members.get(user_id) if room else None
    if member is not None:
        await _send(member.ws, {"type": "media-offer", "sdp": offer.sdp, "renegotiate": offer.renegotiate})


def media_of(app: web.Application) -> MediaBackend:
    holder = app[MEDIA]
    if "backend" not in holder:
        holder["backend"] = make_backend(context_of(app).settings)
        holder["backend"].on_offer(lambda room, user, offer: _offer(app, room, user, offer))
    return holder["backend"]


async def admit(request: web.Request, consult: Consult) -> str:
    """May the caller join this consult's room, from where they are? Audited either way."""
    who = principal(request)
    ctx = context_of(request)
    part = await ctx.db.run(seeing.role_in, who, consult)
    resource = f"ServiceRequest/{consult.id}"
    refusal = None
    if part not in ("facility", "specialist"):
        refusal = (403, "you are not a participant of this consult")
    elif part == "facility" and not is_facility_endpoint(ctx.settings, who.org_id, request.remote):
        refusal = (403, f"{request.remote} is not a clinic endpoint of {who.org_id}")
    elif consult.status not in JOINABLE:
        refusal = (409, f"consult is {consult.status}; the room opens once it is scheduled")
    if refusal:
        audit(request, "consult.join", "denied", patient_id=consult.patient_id, resource=resource, reason=refusal[1])
        raise api_error(*refusal)
    await authorize(request, Capability.JOIN_CONSULT, consult.patient_id, "consult.join")
    return part


async def room_socket(request: web.Request) -> web.WebSocketResponse:
    ctx = context_of(request)
    try:
        consult = await ctx.db.run(workflow.get_consult, request.match_info["consult_id"])
    except workflow.WorkflowError as error:
        raise api_error(error.status, error.message) from None
    part = await admit(request, consult)
    await await_audit(request)  # the socket's answer goes out before any middleware could wait
    ws = web.WebSocketResponse(max_msg_size=1024 * 1024)
    await ws.prepare(request)
    rooms = request.app[ROOMS]
    room = rooms.get(consult.id)
    if room is None:
        room = rooms[consult.id] = ConsultRoom(consult.id, request.app)
        room.warming = asyncio.ensure_future(room.media.warm())
    member = Member(principal(request), part, ws)
    await _send(ws, {"type": "welcome", "user_id": member.who.user_id, "part": part,
                     "ice_servers": browser_ice_servers(turn.for_user(ctx.settings, member.who.username)),
                     "heartbeat_timeout": HEARTBEAT_TIMEOUT, "receive": room.media.receive})
    await room.add(member)
    try:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                break
            member.last_seen = time.monotonic()
            await _handle(room, member, message.json())
    finally:
        # Shielded: aiohttp cancels this handler when the peer goes away, and the leaving
        # (media, recording, the call's end) must still complete.
        await asyncio.shield(room.remove(member))
    return ws


async def _handle(room: ConsultRoom, member: Member, data: dict) -> None:
    kind = data.get("type")
    if kind == "ping":
        await _send(member.ws, {"type": "pong", "t": data.get("t")})
    elif kind == "offer" and room.live:
        answer = await room.media.join(room.consult_id, member.who.user_id,
                                       Description(str(data.get("sdp", "")), "offer"))
        await _send(member.ws, {"type": "answer", "sdp": answer.sdp})
        await room.announce()  # everyone's slots changed
    elif kind == "frames":
        fps = data.get("fps")
        if isinstance(fps, (int, float)) and not isinstance(fps, bool) and 0 <= fps <= MAX_FPS:
            member.frame_rate = round(float(fps), 1)
        else:
            await _send(member.ws, {"type": "error", "error": f"frames: fps must be a number from 0 to {MAX_FPS}"})
    elif kind == "media-answer" and room.live:
        await room.media.answer(room.consult_id, member.who.user_id, Description(str(data.get("sdp", "")), "answer"))
    elif kind == "chat" and str(data.get("text", "")).strip():
        await room.broadcast({"type": "chat", "user_id": member.who.user_id, "name": member.who.display_name,
                              "text": str(data["text"])[:2000], "at": utcnow().isoformat()})
    elif kind == "recheck":
        await room.recheck()


async def _shutdown(app: web.Application) -> None:
    for room in list(app[ROOMS].values()):
        for member in list(room.members.values()):
            await room.remove(member)
    if "backend" in app[MEDIA]:
        await app[MEDIA].pop("backend").close()


def setup(app: web.Application) -> None:
    app[ROOMS] = {}
    app[MEDIA] = {}
    metrics = app[METRICS]
    metrics.gauge("telemed_consult_rooms", "Consult rooms open").set_function(lambda: len(app[ROOMS]))
    metrics.gauge("telemed_consult_participants", "Participants connected to consult rooms").set_function(
        lambda: sum(len(room.members) for room in app[ROOMS].values()))
    app[DROPS] = metrics.counter("telemed_consult_drops_total", "Participants dropped for a silent heartbeat")
    app.router.add_get("/ws/consults/{consult_id}", room_socket)
    app.on_shutdown.append(_shutdown)
