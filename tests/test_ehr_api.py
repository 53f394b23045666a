"""The FHIR REST interactions through the real app on a loopback server."""

from __future__ import annotations

from sqlalchemy import text

from ehr import store
from tests.ehr_support import GLUCOSE, HEART_RATE, fhir, ids, observation


async def test_create_read_vread_update_delete(client, login):
    doc = await login("doc-a")
    status, created, response = await fhir(client, "POST", "/fhir/Observation", doc, observation("fac-a-p1"))
    assert status == 201, created
    rid = created["id"]
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Location"].endswith(f"/fhir/Observation/{rid}/_history/1")
    assert response.content_type == "application/fhir+json"

    status, read, response = await fhir(client, "GET", f"/fhir/Observation/{rid}", doc)
    assert status == 200 and read == created and "Last-Modified" in response.headers

    changed = dict(read, status="amended")
    status, updated, _ = await fhir(client, "PUT", f"/fhir/Observation/{rid}", doc, changed, **{"If-Match": 'W/"1"'})
    assert status == 200 and updated["meta"]["versionId"] == "2"
    status, outcome, _ = await fhir(client, "PUT", f"/fhir/Observation/{rid}", doc, changed, **{"If-Match": 'W/"1"'})
    assert status == 412 and outcome["resourceType"] == "OperationOutcome"

    status, old, _ = await fhir(client, "GET", f"/fhir/Observation/{rid}/_history/1", doc)
    assert status == 200 and old["status"] == "final"

    status, _, _ = await fhir(client, "DELETE", f"/fhir/Observation/{rid}", doc)
    assert status == 204
    status, outcome, _ = await fhir(client, "GET", f"/fhir/Observation/{rid}", doc)
    assert status == 410 and outcome["issue"][0]["code"] == "deleted"

    status, history, _ = await fhir(client, "GET", f"/fhir/Observation/{rid}/_history", doc)
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "PUT", "POST"]
    assert "resource" not in history["entry"][0]


async def test_errors_are_operation_outcomes_and_change_nothing(client, login, context):
    doc = await login("doc-a")
    response = await client.post("/fhir/Observation", data=b"{not json", headers=doc)
    assert response.status == 400 and (await response.json())["resourceType"] == "OperationOutcome"

    bad = observation("fac-a-p1")
    bad["valueQuantity"]["value"] = "lots"
    del bad["code"]
    status, outcome, _ = await fhir(client, "POST", "/fhir/Observation", doc, bad)
    assert status == 422
    paths = {x for issue in outcome["issue"] for x in issue.get("expression", [])}
    assert "Observation.code" in paths and "Observation.valueQuantity.value" in paths

    status, outcome, _ = await fhir(client, "GET", "/fhir/Observation/nope", doc)
    assert status == 404 and outcome["issue"][0]["code"] == "not-found"
    status, outcome, _ = await fhir(client, "GET", "/fhir/Observation?bogus=1", doc)
    assert status == 400 and "bogus" in outcome["issue"][0]["diagnostics"]
    status, outcome, _ = await fhir(client, "GET", "/fhir/metadata?_format=xml", doc)
    assert status == 406
    status, outcome, _ = await fhir(client, "GET", "/fhir/Basic/1", doc)
    assert status == 404 and outcome["resourceType"] == "OperationOutcome"
    assert context.db.call(lambda s: store.by_patient(s, "fac-a-p1", ("Observation",))) == []


async def test_conditional_create(client, login):
    doc = await login("doc-a")
    obs = observation("fac-a-p1")
    obs["identifier"] = [{"system": "urn:lab", "value": "A-1"}]
    header = {"If-None-Exist": "identifier=urn:lab|A-1"}
    status, first, _ = await fhir(client, "POST", "/fhir/ServiceRequest", doc, {
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "identifier": [{"system": "urn:lab", "value": "A-1"}], "subject": {"reference": "Patient/fac-a-p1"}}, **header)
    assert status == 201
    status, again, _ = await fhir(client, "POST", "/fhir/ServiceRequest", doc, {
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "identifier": [{"system": "urn:lab", "value": "A-1"}], "subject": {"reference": "Patient/fac-a-p1"}}, **header)
    assert status == 200 and again["id"] == first["id"]


async def test_metadata_lists_supported_types_and_params(client, login):
    doc = await login("doc-a")
    status, statement, _ = await fhir(client, "GET", "/fhir/metadata", doc)
    assert status == 200 and statement["fhirVersion"] == "4.0.1"
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert "Composition" not in by_type
    assert {p["name"] for p in by_type["Observation"]["searchParam"]} >= {"patient", "code", "date", "value-quantity"}
    assert [i["code"] for i in by_type["AuditEvent"]["interaction"]] == ["read", "search-type"]


async def test_search_paging_and_sort(client, login, context):
    def seed(session):
        for day in range(1, 6):
            store.create(session, observation("fac-a-p1", when=f"2026-03-0{day}T08:00:00Z", value=60 + day))
        store.create(session, observation("fac-a-p1", code=GLUCOSE, unit="mmol/L", value=5.4, category="laboratory"))
    context.db.call(seed)
    doc = await login("doc-a")
    status, page, _ = await fhir(client, "GET", f"/fhir/Observation?patient=fac-a-p1&code=http://loinc.org|{HEART_RATE}&_sort=-date&_count=2", doc)
    assert status == 200
    dates = [e["resource"]["effectiveDateTime"][:10] for e in page["entry"]]
    assert dates == ["2026-03-05", "2026-03-04"]
    seen = list(dates)
    while next_url := next((link["url"] for link in page["link"] if link["relation"] == "next"), None):
        _, page, _ = await fhir(client, "GET", next_url.split(str(client.make_url("")).rstrip("/"))[-1], doc)
        seen += [e["resource"]["effectiveDateTime"][:10] for e in page["entry"]]
    assert seen == [f"2026-03-0{d}" for d in range(5, 0, -1)]
    _, counted, _ = await fhir(client, "GET", "/fhir/Observation?patient=fac-a-p1&_summary=count", doc)
    assert counted["total"] == 6 and "entry" not in counted or counted["entry"] == []
    _, subset, _ = await fhir(client, "GET", f"/fhir/Observation?code={GLUCOSE}&_elements=valueQuantity", doc)
    resource = subset["entry"][0]["resource"]
    assert set(resource) == {"resourceType", "id", "meta", "valueQuantity", "status"}  # mandatory elements stay
    assert resource["meta"]["tag"][0]["code"] == "SUBSETTED"
    assert len(ids(subset)) == 1


async def test_include_post_search_and_type_history(client, login, context):
    context.db.call(lambda s: store.create(s, observation("fac-a-p1"), resource_id="obs-1"))
    doc = await login("doc-a")
    _, found, _ = await fhir(client, "GET", "/fhir/Observation?_id=obs-1&_include=Observation:patient", doc)
    assert ids(found) == ["obs-1"] and ids(found, "include") == ["fac-a-p1"]
    _, found, _ = await fhir(client, "GET", "/fhir/Patient?_id=fac-a-p1&_revinclude=Observation:patient", doc)
    assert ids(found) == ["fac-a-p1"] and ids(found, "include") == ["obs-1"]
    status, _, _ = await fhir(client, "GET", "/fhir/Observation?_include=Observation:patient:Group", doc)
    assert status == 400
    # patient= reads subject's rows: the reference is stored once
    params = context.db.call(lambda s: sorted(s.execute(text(
        "SELECT param FROM fhir_reference WHERE res_id = 'obs-1'")).scalars()))
    assert params == ["subject"]
    status, found, _ = await fhir(client, "GET", "/fhir/Observation?patient=Group/fac-a-p1", doc)
    assert status == 200 and ids(found) == []  # subject's rows hold it, but patient= names Patients only
    # combo-code searches code's rows: a plain Observation stores code, category and status once,
    # each with its system row (system| and :missing)
    tokens = context.db.call(lambda s: s.execute(text("SELECT count(*) FROM fhir_token WHERE res_id = 'obs-1'")).scalar())
    assert tokens == 6
    _, found, _ = await fhir(client, "GET", f"/fhir/Observation?combo-code={HEART_RATE}&patient=fac-a-p1", doc)
    assert ids(found) == ["obs-1"]
    response = await client.post("/fhir/Observation/_search", data={"patient": "fac-a-p1"}, headers=doc)
    assert response.status == 200 and ids(await response.json()) == ["obs-1"]
    _, history, _ = await fhir(client, "GET", "/fhir/Observation/_history?_count=10", doc)
    assert history["type"] == "history" and [e["resource"]["id"] for e in history["entry"]] == ["obs-1"]
    status, _, response = await fhir(client, "GET", "/fhir/Observation/obs-1", doc, **{"If-None-Match": 'W/"1"'})
    assert status == 304
    status, _, response = await fhir(client, "POST", "/fhir/Observation", doc, observation("fac-a-p1"),
                                     Prefer="return=minimal")
    assert status == 201 and response.headers["Location"] and (await response.read()) == b""
