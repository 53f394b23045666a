"""Janus admits nobody the application did not: every request needs a token the application
added for that participant, a removed token is refused, and rooms need the application's key."""

from __future__ import annotations

from dataclasses import replace

import pytest

from telemed.config import Settings
from webrtc.janus import PLUGIN, Api, JanusBackend, JanusError, Session


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
