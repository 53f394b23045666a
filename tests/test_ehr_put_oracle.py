"""Issue 15, "No oracle": a PUT to an id outside the caller's care and a PUT to an id nobody
holds get the same answer (status, body, headers), alone, conditional, in a batch and in a
transaction. There is no update-as-create; what creates goes through POST (or the store)."""

from __future__ import annotations

import orjson

from ehr import store
from tests.conftest import both_databases
from tests.ehr_support import fhir, observation

# Headers that differ between any two answers (the clock, the request).
VARYING = {"Date", "X-Request-ID"}


def hidden_observation(context) -> str:
    """An Observation of facility B's detainee, which doc-a may not read."""
    return context.db.call(lambda s: store.create(s, observation("fac-b-p1", value=99)).id)


def unused_like(rid: str) -> str:
    """An id nobody holds, as long as ``rid`` (so that even Content-Length cannot differ)."""
    return rid[:-1] + ("a" if rid[-1] != "a" else "b")


def _answer(status: int, body: dict, response) -> tuple:
    headers = {k: v for k, v in response.headers.items() if k not in VARYING}
    return status, body, headers


def _masked(body: dict, rid: str) -> dict:
    """The body with the probed id replaced, the one thing the caller chose that differs."""
    return orjson.loads(orjson.dumps(body).replace(rid.encode(), b"ID"))


@both_databases
async def test_put_to_a_hidden_id_and_to_an_unused_id_answer_alike(client, login, context):
    hidden = hidden_observation(context)
    doc_a = await login("doc-a")
    body = observation("fac-a-p1", value=70)
    answers = []
    for rid in (hidden, unused_like(hidden)):
        status, said, response = await fhir(client, "PUT", f"/fhir/Observation/{rid}", doc_a, {**body, "id": rid})
        assert status == 404 and said["issue"][0]["code"] == "not-found"
        answers.append(_answer(status, _masked(said, rid), response))
    assert answers[0] == answers[1]
    # Nothing was written: the hidden one is unchanged, the unused id is still unused.
    assert context.db.call(lambda s: store.read(s, "Observation", hidden)).version == 1
    assert (await fhir(client, "GET", f"/fhir/Observation/{unused_like(hidden)}", doc_a))[0] == 404
    # The owner still updates it, and POST still creates.
    doc_b = await login("doc-b")
    status, _, _ = await fhir(client, "PUT", f"/fhir/Observation/{hidden}", doc_b,
                              {**observation("fac-b-p1", value=101), "id": hidden})
    assert status == 200
    assert (await fhir(client, "POST", "/fhir/Observation", doc_a, body))[0] == 201


@both_databases
async def test_the_probe_tells_nothing_inside_bundles(client, login, context):
    hidden = hidden_observation(context)
    doc_a = await login("doc-a")
    for kind in ("transaction", "batch"):
        answers = []
        for rid in (hidden, unused_like(hidden)):
            bundle = {"resourceType": "Bundle", "type": kind, "entry": [
                {"resource": {**observation("fac-a-p1"), "id": rid}, "request": {"method": "PUT", "url": f"Observation/{rid}"}}]}
            status, said, response = await fhir(client, "POST", "/fhir", doc_a, bundle)
            if kind == "transaction":
                assert status == 404, said
            else:
                assert status == 200 and said["entry"][0]["response"]["status"] == "404", said
            answers.append(_answer(status, _masked(said, rid), response))
        assert answers[0] == answers[1], kind
    assert context.db.call(lambda s: store.read(s, "Observation", hidden)).version == 1


@both_databases
async def test_conditional_update_creates_only_under_a_server_id(client, login, context):
    hidden = hidden_observation(context)
    doc_a = await login("doc-a")
    answers = []
    for rid in (hidden, unused_like(hidden)):  # no match, and the body names an id: refused alike
        status, said, response = await fhir(client, "PUT", "/fhir/Observation?code=no-such-code", doc_a,
                                            {**observation("fac-a-p1"), "id": rid})
        assert status == 404
        answers.append(_answer(status, _masked(said, rid), response))
    assert answers[0] == answers[1]
    status, said, response = await fhir(client, "PUT", "/fhir/Observation?code=no-such-code", doc_a, observation("fac-a-p1"))
    assert status == 201 and said["id"] not in (hidden, unused_like(hidden))


@both_databases
async def test_a_role_that_may_not_write_is_refused_whatever_the_id(client, login, context):
    hidden = hidden_observation(context)
    officer = await login("officer-a")
    for rid in (hidden, unused_like(hidden)):
        status, said, _ = await fhir(client, "PUT", f"/fhir/Observation/{rid}", officer, {**observation("fac-a-p1"), "id": rid})
        assert status == 403 and said["issue"][0]["code"] == "forbidden"


@both_databases
async def test_capability_statement_says_no_update_as_create(client, login):
    _, statement, _ = await fhir(client, "GET", "/fhir/metadata", {})
    assert {r["updateCreate"] for r in statement["rest"][0]["resource"] if "updateCreate" in r} == {False}
