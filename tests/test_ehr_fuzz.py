"""Malformed input to /fhir answers 4xx, never a server error: hypothesis (fixed seeds) mutates
valid bodies and queries and sends them over a real socket to the running server."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from urllib.parse import quote

import orjson
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import PASSWORD
from tests.ehr_support import observation

pytestmark = pytest.mark.slow

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)
FUZZ = settings(max_examples=250, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class Live:
    """The app on a loopback port, in its own thread and event loop."""

    def __init__(self, context) -> None:
        from telemed.app import create_app
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(create_app(context=context))
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.headers = {"Authorization": f"Bearer {self.call('POST', '/api/auth/token', {'username': 'doc-a', 'password': PASSWORD})[1]['access_token']}"}

    def call(self, method: str, path: str, body: object = None, content_type: str = "application/fhir+json"):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {**getattr(self, "headers", {}), "Content-Type": content_type}
        data = None if body is None else json.dumps(body).encode()  # json: orjson refuses integers past 64 bits
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        connection.close()
        try:
            return response.status, (orjson.loads(raw) if raw else None)
        except orjson.JSONDecodeError:
            return response.status, raw[:200]

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def live(context, world) -> Iterator[Live]:
    server = Live(context)
    yield server
    server.close()


def paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON document, as a key/index path."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            found += paths(item, (*prefix, n))
    return found


@st.composite
def mutated(draw, seed: dict) -> object:
    """``seed`` with one to three places replaced by arbitrary JSON (or the whole of it)."""
    document = orjson.loads(orjson.dumps(seed))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(paths(document)))
        value = draw(JSON)
        if not where:
            return value
        parent = document
        for step in where[:-1]:
            parent = parent[step]
        parent[where[-1]] = value
    return document


def transaction() -> dict:
    first, second = observation("fac-a-p1"), observation("fac-a-p1", value=80)
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:a", "resource": first, "request": {"method": "POST", "url": "Observation"}},
        {"resource": second, "request": {"method": "PUT", "url": "Observation?code=8867-4"}},
        {"request": {"method": "GET", "url": "Observation?patient=fac-a-p1"}}]}


TRANSFER = {"resourceType": "Parameters", "parameter": [
    {"name": "destination", "valueReference": {"reference": "Organization/fac-a"}}, {"name": "cell", "valueString": "1"}]}
WRITES = (("POST", "/fhir/Observation", observation("fac-a-p1")), ("PUT", "/fhir/Observation/fuzz-1", observation("fac-a-p1")),
          ("POST", "/fhir", transaction()), ("POST", "/fhir/Observation/$validate",
                                                {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": observation("x")}]}),
          ("POST", "/fhir/Patient/fac-a-p1/$transfer", TRANSFER), ("PUT", "/fhir/Observation?code=8867-4", observation("fac-a-p1")))


def assert_no_server_error(status: int, outcome: object, what: str) -> None:
    assert status < 500, f"{what}: {status} {outcome}"
    if status >= 400:
        assert isinstance(outcome, dict) and outcome.get("resourceType") == "OperationOutcome", what


@pytest.mark.parametrize("method,path,seed", WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_mutated_bodies_never_answer_5xx(live, method, path, seed):
    @FUZZ
    @given(mutated(seed))
    def check(body):
        assert_no_server_error(*live.call(method, path, body), f"{method} {path} {body!r}"[:400])
    check()


def test_mutated_json_patches_never_answer_5xx(live):
    created = live.call("POST", "/fhir/Observation", observation("fac-a-p1"))[1]["id"]
    seed = [{"op": "replace", "path": "/valueQuantity/value", "value": 70}, {"op": "test", "path": "/status", "value": "final"}]

    @FUZZ
    @given(mutated({"ops": seed}))
    def check(body):
        ops = body.get("ops") if isinstance(body, dict) else body
        status, outcome = live.call("PATCH", f"/fhir/Observation/{created}", ops, "application/json-patch+json")
        assert_no_server_error(status, outcome, f"PATCH {ops!r}"[:400])
    check()


NAMES = ("patient", "subject", "code", "date", "value-quantity", "_id", "_lastUpdated", "_count", "_sort", "_include",
         "_revinclude", "_summary", "_elements", "_cursor", "_total", "_has:Observation:patient:code",
         "subject:Patient.identifier", "code-value-quantity", "code:not", "_include:iterate", "status", "_since")


def test_random_search_queries_never_answer_5xx(live):
    values = st.text(max_size=20) | st.sampled_from(("0", "1", "-1", "99999999999999999999", "ge2026", "Patient/fac-a-p1"))

    @FUZZ
    @given(st.lists(st.tuples(st.sampled_from(NAMES) | st.text(max_size=10), values), max_size=4),
           st.sampled_from(("/fhir/Observation", "/fhir/Patient", "/fhir/Observation/_history", "/fhir/_history",
                            "/fhir/Patient/fac-a-p1/$everything", "/fhir/AuditEvent")))
    def check(query, path):
        url = path + "?" + "&".join(f"{quote(k, safe=':')}={quote(v)}" for k, v in query)
        assert_no_server_error(*live.call("GET", url), url)
    check()
