"""Behind nginx: time-limited TURN credentials as coturn checks them, and the client's own
address (X-Real-IP) believed only from a configured proxy."""

from __future__ import annotations

import base64
import subprocess
from dataclasses import replace

import pytest

from telemed.config import ConfigError, load_settings
from telemed.context import Context
from telemed.throttle import PAIR_FREE
from tests.conftest import seed_world
from webrtc import turn


def test_turn_credentials_are_coturns_rest_scheme_and_expire():
    settings = load_settings({"TELEMED_ICE_SERVERS": "turn:turn.hosp.example:3478", "TELEMED_TURN_SECRET": "n0t-a-real-secret",
                              "TELEMED_TURN_TTL": "3600"})
    given = turn.for_user(settings, "doc-a", now=1_800_000_000)
    assert given.turn_username == "1800003600:doc-a"
    mac = subprocess.run(["openssl", "dgst", "-sha1", "-hmac", "n0t-a-real-secret", "-binary"], input=b"1800003600:doc-a",
                         capture_output=True, check=True).stdout  # independent of Python's hmac
    assert given.turn_credential == base64.b64encode(mac).decode()
    assert turn.for_user(load_settings({}), "doc-a") == load_settings({})  # no secret: settings as they are


@pytest.mark.parametrize("env, named", [
    ({"TELEMED_TURN_SECRET": "a", "TELEMED_TURN_CREDENTIAL": "b"}, "TELEMED_TURN_SECRET"),
    ({"TELEMED_TURN_TTL": "0"}, "TELEMED_TURN_TTL"),
    ({"TELEMED_TRUSTED_PROXIES": "10.0.0.0/33"}, "TELEMED_TRUSTED_PROXIES"),
])
def test_cluster_settings_are_checked(env, named):
    with pytest.raises(ConfigError, match=named):
        load_settings(env)


@pytest.mark.parametrize("trusted, braked", [(("127.0.0.1/32",), "10.9.8.7"), ((), "127.0.0.1")])
async def test_the_login_brake_sees_the_address_a_trusted_proxy_names(aiohttp_client, settings, trusted, braked):
    from telemed.app import create_app

    context = Context.open(replace(settings, trusted_proxies=trusted))
    try:
        context.db.call(seed_world)
        context.throttle.clock = lambda: 1000.0
        client = await aiohttp_client(create_app(context=context))
        for _ in range(PAIR_FREE):
            answer = await client.post("/api/auth/token", json={"username": "doc-a", "password": "wrong-password-x"},
                                       headers={"X-Real-IP": "10.9.8.7"})
            assert answer.status == 401
        assert context.throttle.wait("doc-a", braked) >= 1
        other = "127.0.0.1" if braked != "127.0.0.1" else "10.9.8.7"
        assert context.throttle.wait("doc-a", other) == 0
        bad = await client.post("/api/auth/token", json={"username": "doc-a", "password": "x"},
                                headers={"X-Real-IP": "not-an-address"})
        assert bad.status == (400 if trusted else 429)  # untrusted: the header is not even read
    finally:
        context.close()
