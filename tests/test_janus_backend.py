"""Janus admits nobody the application did not: every request needs a token the application
added for that participant, a removed token is refused, an unused one expires, and rooms need
the application's key."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from telemed.config import Settings
from webrtc.client import CounterVideoTrack, ToneAudioTrack
from webrtc.janus import PLUGIN, Api, JanusBackend, JanusError, Session
from webrtc.media import Description


@pytest.fixture
def janus_settings(janus_server) -> Settings:
    return replace(Settings(), media="janus", janus_url=janus_server.url, janus_admin_url=janus_server.admin_url,
                   janus_admin_secret=janus_server.options.admin_secret)


async def test_janus_refuses_requests_without_the_applications_token(janus_settings):
    api = Api(janus_settings)
    try:
        with pytest.raises(JanusError, match="403"):
            await api.post(api.url, {"janus": "create"})
        with pytest.raises(JanusError, match="403"):
            await api.post(api.url, {"janus": "create", "token": "guessed"})
        session = await Session(api, "issued-for-one-participant").open()
        assert "issued-for-one-participant" in {t["token"] for t in (await api.admin("list_tokens"))["data"]["tokens"]}
        await session.close()  # the participant left: the token goes with the session
        with pytest.raises(JanusError, match="403"):
            await api.post(api.url, {"janus": "create", "token": "issued-for-one-participant"})
        with pytest.raises(JanusError):
            await Api(replace(janus_settings, janus_admin_secret="wrong")).admin("add_token", token="x", plugins=[PLUGIN])
    finally:
        await api.close()


async def test_rooms_need_the_applications_key_and_their_secret(janus_settings):
    backend = JanusBackend(janus_settings)
    try:
        room = await backend._room("consult-1")
        outsider = await Session(backend.api, "some-participant").open()
        handle = await outsider.attach()
        with pytest.raises(JanusError):  # no admin key: no room
            await outsider.send(handle, {"request": "create", "room": "consult-2"})
        with pytest.raises(JanusError):  # not the room's secret: no destroying it
            await outsider.send(handle, {"request": "destroy", "room": "consult-1", "secret": "guess"})
        with pytest.raises(JanusError):  # not the room's pin: no joining it
            await outsider.send(handle, {"request": "join", "ptype": "publisher", "room": "consult-1", "id": "9"})
        joined = await outsider.send(handle, {"request": "join", "ptype": "publisher", "room": "consult-1",
                                              "pin": room.pin, "id": "9"})
        assert joined["plugindata"]["data"]["videoroom"] == "joined"
        await outsider.close()
    finally:
        await backend.close()


async def _publishing_offer() -> RTCPeerConnection:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(ToneAudioTrack(), direction="sendonly")
    pc.addTransceiver(CounterVideoTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc


async def test_an_unused_token_is_refused_past_its_lifetime_and_a_held_one_is_kept(janus_settings):
    backend = JanusBackend(janus_settings)
    backend.token_seconds = 1.0
    camera = await _publishing_offer()
    try:
        await backend.join("consult-1", 7, Description(camera.localDescription.sdp, "offer"))
        held = backend.rooms["consult-1"].members[7].session.token
        unused = backend._token()  # added for a participant whose join never got further
        await backend.api.admin("add_token", token=unused, plugins=[PLUGIN])
        foreign = "another-application-s-token"  # not this backend's: not its to remove
        await backend.api.admin("add_token", token=foreign, plugins=[PLUGIN])
        assert await backend.sweep() == []  # within its lifetime: still valid
        session = await backend.api.post(backend.api.url, {"janus": "create", "token": unused})
        await backend.api.post(f"{backend.api.url}/{session['data']['id']}", {"janus": "destroy", "token": unused})

        await asyncio.sleep(1.2)
        assert await backend.sweep() == [unused]
        with pytest.raises(JanusError, match="403"):
            await backend.api.post(backend.api.url, {"janus": "create", "token": unused})
        listed = {t["token"] for t in (await backend.api.admin("list_tokens"))["data"]["tokens"]}
        assert held in listed and foreign in listed and unused not in listed
        await backend.leave("consult-1", 7)  # the participant left: its token goes too
        listed = {t["token"] for t in (await backend.api.admin("list_tokens"))["data"]["tokens"]}
        assert held not in listed
    finally:
        await camera.close()
        await backend.close()


async def _tokens(backend: JanusBackend) -> set[str]:
    return {t["token"] for t in (await backend.api.admin("list_tokens"))["data"]["tokens"]}


async def test_a_killed_processs_tokens_are_removed_by_another_and_a_running_ones_kept(janus_settings):
    killed, running, sweeper = (JanusBackend(janus_settings) for _ in range(3))
    sweeper.dead_seconds = 0.5
    try:
        for backend in (killed, running, sweeper):
            await backend.warm()  # each holds its own session's token and a beacon
        left = {t for t in await _tokens(killed) if t.startswith(killed._prefix)}
        assert killed.control.token in left and len(left) == 2
        killed._sweeper.cancel()  # killed: it removes nothing and renews nothing
        await killed.api.close()

        assert await sweeper.sweep() == []  # first seen: nobody is judged on one look
        await asyncio.sleep(0.6)
        await running.sweep()  # renews its beacon
        assert set(await sweeper.sweep()) == left  # the killed one's is unchanged past dead_seconds
        listed = await _tokens(sweeper)
        assert not left & listed
        assert running.control.token in listed and running._beacon in listed and sweeper._beacon in listed
        with pytest.raises(JanusError, match="403"):
            await sweeper.api.post(sweeper.api.url, {"janus": "create", "token": killed.control.token})
    finally:
        killed._sweeper.cancel()
        for backend in (running, sweeper):
            await backend.close()

