"""Malformed requests against the real server: 5,320 per database, 10,640 in all (hypothesis,
derandomized: the same requests on every run; ``TELEMED_FUZZ_EXAMPLES`` sends more per target), across the auth, admin, consult, exam and labs endpoints. No answer
may be a server error, and a refused request must change nothing: every table but the audit
trail's keeps its row count. (The FHIR endpoints are not in it yet.)"""

from __future__ import annotations

import http.client
import os
import json
import urllib.parse
from dataclasses import dataclass

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings as hsettings, strategies as st
from sqlalchemy import inspect, text

from tests.conftest import PASSWORD, both_databases
from tests.served import serve

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("TELEMED_FUZZ_EXAMPLES", 280))  # per target: 19 targets, 5,320 requests
# What a refusal is meant to write: its audit entry, and a failed login's count for the login brake.
UNCOUNTED = {"audit_entry", "audit_patient", "alembic_version", "login_failure"}

scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
           | st.text(max_size=24) | st.sampled_from(["", "fac-a-p1", "fac-b-p1", "1e308", "-1", "2026-13-45",
                                                     "2026-06-01T10:00:00+08:00", "\x00", "../../etc", "☃" * 40]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def shaped(*keys: str) -> st.SearchStrategy:
    """Objects with the endpoint's own keys holding values of every type, or anything at all."""
    objects = st.fixed_dictionaries({}, optional={key: json_values for key in keys})
    return st.one_of(objects, objects, objects, json_values)


def _dumps(value) -> bytes:
    return json.dumps(value).encode()  # the standard library's: integers of any size


def encoded(values: st.SearchStrategy) -> st.SearchStrategy[bytes]:
    return st.one_of(values.map(_dumps), values.map(_dumps), st.binary(max_size=300))


@dataclass(frozen=True)
class Target:
    method: str
    path: str  # {consult}, {exam}, {campaign}, {user}: the fixture's ids; {any}: fuzzed text
    who: str | None
    body: st.SearchStrategy[bytes]
    content_type: str = "application/json"


form_pairs = st.lists(st.tuples(st.sampled_from(["username", "password", "next", "csrf_token"]) | st.text(max_size=6),
                                st.text(max_size=30)), max_size=4).map(lambda pairs: urllib.parse.urlencode(pairs).encode())
TARGETS = [
    Target("POST", "/api/auth/token", None, encoded(shaped("username", "password"))),
    Target("POST", "/login", None, st.one_of(form_pairs, st.binary(max_size=300)), "application/x-www-form-urlencoded"),
    Target("POST", "/api/admin/users", "admin",
           encoded(shaped("username", "password", "role", "org_id", "display_name", "specialty", "on_duty"))),
    Target("POST", "/api/admin/orgs", "admin", encoded(shaped("id", "name", "kind", "name_zh"))),
    Target("POST", "/api/admin/users/{user}/{any}", "admin", encoded(json_values)),
    Target("POST", "/api/break-glass", "doc-a", encoded(shaped("patient_id", "reason"))),
    Target("POST", "/api/accounts/{any}/approve", "officer-a", encoded(json_values)),
    Target("POST", "/api/consults", "doc-a",
           encoded(shaped("patient_id", "hospital_id", "urgency", "specialty", "question", "share"))),
    Target("POST", "/api/consults/{consult}/triage", "spec-1",
           encoded(shaped("decision", "proposed_start", "reason", "note"))),
    Target("POST", "/api/consults/{consult}/{any}", "doc-a", encoded(shaped("start", "kind", "user_id", "outcome"))),
    Target("PUT", "/api/consults/{consult}/draft", "spec-1", encoded(shaped("outcome", "findings", "plan", "content"))),
    Target("POST", "/api/campaigns", "officer-a",
           encoded(shaped("facility_id", "name", "period_start", "period_end", "cohort_date", "patient_ids"))),
    Target("PUT", "/api/exams/{exam}/sections/{any}", "doc-a", encoded(json_values)),
    Target("PUT", "/api/exams/{exam}/sections/vitals", "doc-a",
           encoded(shaped("systolic", "diastolic", "pulse", "temperature", "weight", "height", "values"))),
    Target("POST", "/api/labs/orders", "doc-a", encoded(shaped("patient_id", "panels", "tests", "note"))),
    Target("POST", "/api/labs/results", "doc-a", encoded(shaped("patient_id", "order_id", "effective_at", "results"))),
    Target("POST", "/api/labs/check", "doc-a", encoded(shaped("patient_id", "results"))),
    Target("GET", "/api/detainees?{any}", "doc-a", st.just(b"")),
    Target("GET", "/api/detainees?q={any}&status={any}&after={any}", "doc-a", st.just(b"")),
]


class Server:
    """One keep-alive connection to the server, and the row counts it must not change."""

    def __init__(self, base: str, engine) -> None:
        self.host, self.port = urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        tables = [t for t in inspect(engine).get_table_names() if t not in UNCOUNTED]
        self.count_sql = text("SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in tables))
        self.engine = engine
        self.tokens: dict[str, str] = {}
        self.sent = 0

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, bytes]:
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=body, headers=headers or {})
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()  # the server closed it (after a 413, say): a new one
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, who: str, body: dict) -> dict:
        status, data = self.request(method, path, orjson.dumps(body), {
            "Authorization": self.tokens[who], "Content-Type": "application/json"})
        assert status < 300, (path, status, data)
        return orjson.loads(data)

    def counts(self) -> tuple:
        with self.engine.connect() as conn:
            return tuple(conn.execute(self.count_sql).one())


@pytest.fixture
def server(settings, context, world):
    process, base = serve(settings)
    fuzzed = Server(base, context.db.engine)
    for who in ("doc-a", "officer-a", "admin", "spec-1"):
        status, data = fuzzed.request("POST", "/api/auth/token", orjson.dumps({"username": who, "password": PASSWORD}),
                                      {"Content-Type": "application/json"})
        fuzzed.tokens[who] = f"Bearer {orjson.loads(data)['access_token']}"
    consult = fuzzed.json("POST", "/api/consults", "doc-a", {
        "patient_id": "fac-a-p1", "hospital_id": "hosp-1", "urgency": "routine", "specialty": "cardiology",
        "question": "Chest pain on exertion"})
    campaign = fuzzed.json("POST", "/api/campaigns", "officer-a", {
        "name": "Fuzz", "period_start": "2026-01-01", "period_end": "2026-12-31", "patient_ids": ["fac-a-p1", "fac-a-p2"]})
    exam = fuzzed.json("GET", f"/api/campaigns/{campaign['id']}", "officer-a", {})["exams"][0]
    fuzzed.ids = {"consult": consult["id"], "campaign": campaign["id"], "exam": str(exam["exam_id"]),
                  "user": str(world.users["doc-b"])}
    yield fuzzed
    fuzzed.connection.close()
    process.terminate()
    process.wait(timeout=30)


def fuzz(server: Server, target: Target) -> None:
    baseline = [server.counts()]

    # No shrinking: a failing case is reported as sent (shrinking one resends it thousands of times).
    @hsettings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
               phases=(Phase.explicit, Phase.generate), suppress_health_check=list(HealthCheck))
    @given(body=target.body, segment=st.text(min_size=1, max_size=12))
    def send(body: bytes, segment: str) -> None:
        path = target.path.format(any=urllib.parse.quote(segment, safe=""), **server.ids)
        headers = {"Content-Type": target.content_type}
        if target.who:
            headers["Authorization"] = server.tokens[target.who]
        try:
            status, data = server.request(target.method, path, body, headers)
        except TimeoutError:
            raise AssertionError(f"{target.method} {path} {body[:200]!r}: no answer") from None
        server.sent += 1
        assert status < 500, f"{target.method} {path} {body[:200]!r} -> {status} {data[:300]!r}"
        after = server.counts()
        if status >= 400:
            assert after == baseline[0], f"{target.method} {path} {body[:200]!r} -> {status} but rows changed"
        baseline[0] = after

    send()


@both_databases
def test_malformed_requests_get_a_4xx_and_change_nothing(server):
    for target in TARGETS:
        fuzz(server, target)
    assert server.sent >= len(TARGETS) * EXAMPLES
