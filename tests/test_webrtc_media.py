"""The media layer's configuration pitfalls."""

from __future__ import annotations

from aiortc import RTCPeerConnection

from telemed.config import Settings
from webrtc.endpoints import is_facility_endpoint
from webrtc.media import browser_ice_servers, ice_configuration


async def test_no_ice_servers_means_none_not_a_public_stun_fallback():
    config = ice_configuration(Settings())
    assert config.iceServers == []
    pc = RTCPeerConnection(config)
    pc.addTransceiver("audio")
    await pc.setLocalDescription(await pc.createOffer())
    gatherer = pc.getTransceivers()[0].sender.transport.transport.iceGatherer
    assert gatherer._connection.stun_server is None
    assert "srflx" not in pc.localDescription.sdp
    await pc.close()


def test_configured_ice_servers_carry_turn_credentials():
    settings = Settings(ice_servers=("stun:stun.hosp.example:3478", "turn:turn.hosp.example:3478"),
                        turn_username="telemed", turn_credential="s3cret")
    servers = ice_configuration(settings).iceServers
    assert [s.urls for s in servers] == list(settings.ice_servers)
    assert servers[0].username is None and (servers[1].username, servers[1].credential) == ("telemed", "s3cret")
    assert browser_ice_servers(settings)[1] == {"urls": "turn:turn.hosp.example:3478", "username": "telemed",
                                                "credential": "s3cret"}


def test_facility_endpoints():
    assert is_facility_endpoint(Settings(), "fac-a", "127.0.0.1")
    assert not is_facility_endpoint(Settings(), "fac-a", "192.0.2.7")
    configured = Settings(facility_networks=("fac-a=10.20.0.0/16", "fac-b=10.30.0.0/16"))
    assert is_facility_endpoint(configured, "fac-a", "10.20.3.4")
    assert not is_facility_endpoint(configured, "fac-a", "10.30.3.4")
    assert not is_facility_endpoint(configured, "fac-a", "127.0.0.1")
    assert not is_facility_endpoint(configured, "fac-a", None)
