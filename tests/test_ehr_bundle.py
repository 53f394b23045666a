"""Batch and transaction Bundles, $everything and $validate, through the API."""

from __future__ import annotations

import threading

from ehr import store
from ehr.api import VALIDATOR
from ehr.validation import Validator
from ehr.custody import BOOKING_SYSTEM, custody_extension
from tests.conftest import both_databases
from tests.ehr_support import condition, fhir, ids, observation


def new_patient(facility: str = "fac-a", booking: str = "T-1") -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": BOOKING_SYSTEM, "value": booking}],
            "name": [{"family": "Chen", "given": ["Jie"]}], "gender": "male", "birthDate": "1990-01-01",
            "managingOrganization": {"reference": f"Organization/{facility}"},
            "extension": [custody_extension(facility, "5-02", "2026-05-01")]}


def transaction(*entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def post(resource: dict, full_url: str = "", **request) -> dict:
    return {"fullUrl": full_url, "resource": resource,
            "request": {"method": "POST", "url": resource["resourceType"], **request}}


def linked_bundle(facility: str = "fac-a") -> dict:
    patient_url = "urn:uuid:6f0c1c1e-0000-4000-8000-000000000001"
    obs = observation("x")
    obs["subject"] = {"reference": patient_url}
    cond = condition("x")
    cond["subject"] = {"reference": patient_url}
    return transaction(post(obs), post(new_patient(facility), patient_url), post(cond))


@both_databases
async def test_transaction_resolves_urn_uuid_references(client, login, context):
    doc = await login("doc-a")
    status, result, _ = await fhir(client, "POST", "/fhir", doc, linked_bundle())
    assert status == 200, result
    assert result["type"] == "transaction-response"
    assert [e["response"]["status"] for e in result["entry"]] == ["201 Created"] * 3
    patient_id = result["entry"][1]["response"]["location"].split("/")[1]
    stored = context.db.call(lambda s: store.by_patient(s, patient_id))
    assert sorted(s.type for s in stored) == ["Condition", "Observation", "Patient"]
    assert all("urn:uuid" not in s.content.decode() for s in stored)


@both_databases
async def test_transaction_is_all_or_nothing(client, login, context):
    doc = await login("doc-a")
    bundle = linked_bundle()
    bundle["entry"][2]["resource"]["code"] = "not a CodeableConcept"
    status, outcome, _ = await fhir(client, "POST", "/fhir", doc, bundle)
    assert status == 422
    assert outcome["issue"][0]["expression"][0].startswith("Bundle.entry[2].resource.code")
    assert len(context.db.call(lambda s: store.history(s, "Patient", count=1000))) == 6  # the world's, no more

    denied = linked_bundle("fac-b")  # doc-a may not admit a detainee to another facility
    status, outcome, _ = await fhir(client, "POST", "/fhir", doc, denied)
    assert status == 403
    assert context.db.call(lambda s: store.history(s, "Observation")) == []


async def test_batch_reports_each_entry(client, login, context):
    doc = await login("doc-a")
    bad = observation("fac-a-p1")
    del bad["status"]
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        post(observation("fac-a-p1")), post(bad), post(observation("fac-b-p1")),
        {"request": {"method": "GET", "url": "Patient/fac-a-p1"}},
        {"request": {"method": "GET", "url": "Observation?patient=fac-a-p1"}},
    ]}
    status, result, _ = await fhir(client, "POST", "/fhir", doc, batch)
    assert status == 200 and result["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == ["201 Created", "422", "403", "200 OK", "200 OK"]
    assert result["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert len(result["entry"][4]["resource"]["entry"]) == 1
    assert len(context.db.call(lambda s: store.by_patient(s, "fac-a-p1", ("Observation",)))) == 1


@both_databases
async def test_a_batch_writes_beside_another_writer(client, login, context):
    """A batch opens its transaction with a SAVEPOINT and reads (the access checks) before it
    writes: on SQLite another connection's commit in between failed the write at once with
    "database is locked" (no busy wait for a transaction that already reads)."""
    doc = await login("doc-a")
    stop = threading.Event()

    def commit_often() -> None:  # as the audit writer does under load
        while not stop.is_set():
            with context.db.engine.begin() as conn:
                conn.exec_driver_sql("UPDATE organization SET name = name WHERE id = 'fac-a'")

    writer = threading.Thread(target=commit_often)
    writer.start()
    try:
        for _ in range(10):
            batch = {"resourceType": "Bundle", "type": "batch",
                     "entry": [post(observation("fac-a-p1")) for _ in range(5)]}
            status, result, _ = await fhir(client, "POST", "/fhir", doc, batch)
            assert status == 200, result
            assert [e["response"]["status"] for e in result["entry"]] == ["201 Created"] * 5
    finally:
        stop.set()
        writer.join()


async def test_transaction_conditional_create_and_update(client, login, context):
    doc = await login("doc-a")
    existing = context.db.call(lambda s: store.read(s, "Patient", "fac-a-p1"))
    ref = "urn:uuid:6f0c1c1e-0000-4000-8000-00000000000a"
    obs = observation("x")
    obs["subject"] = {"reference": ref}
    patient = existing.resource
    del patient["id"]
    bundle = transaction(post(patient, ref, ifNoneExist=f"identifier={BOOKING_SYSTEM}|fac-a-1"), post(obs),
                         {"resource": dict(existing.resource, id="fac-a-p1", gender="female"),
                          "request": {"method": "PUT", "url": "Patient/fac-a-p1", "ifMatch": 'W/"1"'}})
    status, result, _ = await fhir(client, "POST", "/fhir", doc, bundle)
    assert status == 200, result
    assert result["entry"][0]["response"]["status"] == "200 OK"
    assert result["entry"][2]["response"]["etag"] == 'W/"2"'
    stored = context.db.call(lambda s: store.by_patient(s, "fac-a-p1", ("Observation",)))
    assert len(stored) == 1
    status, _, _ = await fhir(client, "POST", "/fhir", doc, bundle)
    assert status == 412  # the PUT's ifMatch is stale now, so nothing of the second run is kept
    assert len(context.db.call(lambda s: store.by_patient(s, "fac-a-p1", ("Observation",)))) == 1


async def test_everything_and_validate(client, login, context):
    context.db.call(lambda s: [store.create(s, observation("fac-a-p1")), store.create(s, condition("fac-a-p1"))])
    doc = await login("doc-a")
    status, bundle, _ = await fhir(client, "GET", "/fhir/Patient/fac-a-p1/$everything", doc)
    assert status == 200
    assert sorted(e["resource"]["resourceType"] for e in bundle["entry"]) == ["Condition", "Observation", "Patient"]
    assert ids(bundle)[0] == "fac-a-p1"
    status, outcome, _ = await fhir(client, "POST", "/fhir/Observation/$validate", doc, observation("fac-a-p1"))
    assert status == 200 and outcome["issue"][0]["severity"] == "information"
    bad = observation("fac-a-p1")
    bad["subject"] = "Patient/fac-a-p1"
    status, outcome, _ = await fhir(client, "POST", "/fhir/Observation/$validate", doc,
                                    {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": bad}]})
    assert status == 200 and outcome["issue"][0]["severity"] == "error"
    assert "Observation.subject" in outcome["issue"][0]["expression"]
    assert (await fhir(client, "GET", "/fhir/Patient/fac-b-p1/$everything", doc))[0] == 404  # as for an unknown id


async def test_large_bundles_are_validated_in_the_workers_with_the_same_outcomes(client, login, context):
    """From Validator.MIN_PARALLEL writes, validation runs in worker processes: a bad entry still
    fails the transaction (naming it) or only itself in a batch."""
    doc = await login("doc-a")
    size = Validator.MIN_PARALLEL + 6
    bad_at = size - 9
    observations = [observation("fac-a-p1", value=60 + n) for n in range(size)]
    observations[bad_at]["valueQuantity"]["value"] = "lots"

    status, outcome, _ = await fhir(client, "POST", "/fhir", doc, transaction(*map(post, observations)))
    assert status == 422, outcome
    assert outcome["issue"][0]["expression"] == [f"Bundle.entry[{bad_at}].resource.valueQuantity.value"]
    assert context.db.call(lambda s: store.by_patient(s, "fac-a-p1", ("Observation",))) == []
    assert client.server.app[VALIDATOR].started

    batch = {"resourceType": "Bundle", "type": "batch", "entry": list(map(post, observations))}
    status, result, _ = await fhir(client, "POST", "/fhir", doc, batch)
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert status == 200 and statuses == ["201 Created"] * bad_at + ["422"] + ["201 Created"] * (size - bad_at - 1)

    del observations[bad_at]
    status, result, _ = await fhir(client, "POST", "/fhir", doc, transaction(*map(post, observations)))
    assert status == 200 and len(result["entry"]) == size - 1
    stored = context.db.call(lambda s: store.by_patient(s, "fac-a-p1", ("Observation",)))
    assert len(stored) == 2 * (size - 1)


def large_linked_bundle(patient: dict, size: int, *, subject: str | None = None) -> dict:
    """A new Patient (urn:uuid fullUrl) and ``size`` Observations pointing at it, or at ``subject``."""
    patient_url = "urn:uuid:6f0c1c1e-0000-4000-8000-0000000000aa"
    observations = [observation("x", value=50 + n) for n in range(size)]
    for obs in observations:
        obs["subject"] = {"reference": subject or patient_url}
    return transaction(post(patient, patient_url), *map(post, observations))


@both_databases
async def test_large_transaction_creates_are_worked_out_in_the_workers_as_on_the_server(client, login, context):
    """A large transaction without conditional creates has its ids given as it arrives, and the
    workers rewrite, stamp, serialise and index each create: what is stored, served and found
    must be what the database thread would have written."""
    doc = await login("doc-a")
    size = Validator.MIN_PARALLEL + 6
    status, result, _ = await fhir(client, "POST", "/fhir", doc, large_linked_bundle(new_patient(booking="T-9"), size))
    assert status == 200, result
    assert client.server.app[VALIDATOR].started
    patient_id = result["entry"][0]["response"]["location"].split("/")[1]
    locations = [e["response"]["location"] for e in result["entry"][1:]]
    assert len(set(locations)) == size and all(loc.endswith("/_history/1") for loc in locations)

    rid = locations[7].split("/")[1]
    status, served, response = await fhir(client, "GET", f"/fhir/Observation/{rid}", doc)
    assert status == 200
    assert served["id"] == rid and served["subject"] == {"reference": f"Patient/{patient_id}"}
    assert served["valueQuantity"]["value"] == 57 and served["meta"]["versionId"] == "1"
    assert response.headers["ETag"] == 'W/"1"'
    assert served["meta"]["lastUpdated"] == result["entry"][8]["response"]["lastModified"]  # a FHIR instant

    status, found, _ = await fhir(client, "GET", f"/fhir/Observation?patient={patient_id}&code=http://loinc.org|8867-4"
                                                 f"&value-quantity=ge100&_count=100", doc)
    assert status == 200 and sorted(e["resource"]["valueQuantity"]["value"] for e in found["entry"]) == \
        list(range(100, 50 + size))
    stored = context.db.call(lambda s: store.by_patient(s, patient_id))
    assert len(stored) == size + 1 and all(b"urn:uuid" not in s.content for s in stored)


@both_databases
async def test_large_transaction_denied_for_one_entry_writes_nothing(client, login, context):
    """Access is still decided in the transaction for creates worked out in the workers: one
    Observation on another facility's detainee refuses the whole Bundle."""
    doc = await login("doc-a")
    bundle = large_linked_bundle(new_patient(booking="T-10"), Validator.MIN_PARALLEL + 6)
    bundle["entry"][40]["resource"]["subject"] = {"reference": "Patient/fac-b-p1"}
    status, outcome, _ = await fhir(client, "POST", "/fhir", doc, bundle)
    assert status == 403, outcome
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[40]"]
    assert context.db.call(lambda s: store.by_patient(s, "fac-b-p1", ("Observation",))) == []
    status, found, _ = await fhir(client, "GET", "/fhir/Patient?identifier=T-10", doc)
    assert status == 200 and found.get("entry", []) == []


async def test_large_transaction_with_a_conditional_create_points_at_its_match(client, login, context):
    """A conditional create keeps the ids for the transaction to give: its match, found in the
    database, is what the other entries' references name."""
    doc = await login("doc-a")
    bundle = large_linked_bundle(new_patient(booking="T-11"), Validator.MIN_PARALLEL + 6)
    assert (await fhir(client, "POST", "/fhir", doc, bundle))[0] == 200
    _, found, _ = await fhir(client, "GET", "/fhir/Patient?identifier=T-11", doc)
    existing = found["entry"][0]["resource"]["id"]

    bundle["entry"][0]["request"]["ifNoneExist"] = "identifier=T-11"
    status, result, _ = await fhir(client, "POST", "/fhir", doc, bundle)
    assert status == 200, result
    assert result["entry"][0]["response"]["status"] == "200 OK"
    stored = context.db.call(lambda s: store.by_patient(s, existing, ("Observation",)))
    assert len(stored) == 2 * (Validator.MIN_PARALLEL + 6)
