"""Right answers or clean refusals from /fhir, against the real server (raw HTTP and fhirpy):
unsupported parameters refused, no oracle across facilities, no server error on bad shapes,
required bindings, and the interactions integration feeds use."""

from __future__ import annotations

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome as FhirpyOutcome

from ehr import store
from ehr.custody import BOOKING_SYSTEM
from tests.conftest import both_databases
from tests.ehr_support import GLUCOSE, HEART_RATE, fhir, ids, observation

UNSUPPORTED = ("_tag", "_profile", "_security", "_source", "_list", "_text", "_content", "_filter", "_query",
               "_contained", "combo-code-value-quantity")


def seed(context) -> dict[str, str]:
    """A heart rate for fac-a-p1 and fac-b-p1, a glucose for fac-a-p2: name -> id."""
    def write(session):
        return {
            "a1": store.create(session, observation("fac-a-p1", value=99)).id,
            "a2": store.create(session, observation("fac-a-p2", code=GLUCOSE, unit="mmol/L", value=5.4,
                                                    category="laboratory")).id,
            "b1": store.create(session, observation("fac-b-p1", value=99)).id,
        }
    return context.db.call(write)


def issue(outcome: dict) -> dict:
    return outcome["issue"][0]


@both_databases
async def test_unsupported_search_parameters_are_refused_unless_lenient(client, login, context):
    seed(context)
    doc = await login("doc-a")
    for name in UNSUPPORTED:
        status, outcome, _ = await fhir(client, "GET", f"/fhir/Observation?{name}=x", doc)
        assert status == 400 and issue(outcome)["code"] == "not-supported", name
        assert issue(outcome)["expression"] == [f"Observation?{name}"], name
        status, found, _ = await fhir(client, "GET", f"/fhir/Observation?{name}=x", doc, Prefer="handling=lenient")
        assert status == 200 and found["total"] == 2, name
    for query, named in (("_sort=status", "_sort"), ("_sort=date,date", "_sort"), ("_sort=_id,date", "_sort"),
                         ("patient:identifier=x|y", "Observation?patient:identifier"),
                         ("_include:recurse=Observation:subject", "_include:recurse"), ("_id:missing=true", "Observation?_id:missing"),
                         ("code:below=x", "Observation?code:below"), ("code:text:x=y", "Observation?code:text:x")):
        status, outcome, _ = await fhir(client, "GET", f"/fhir/Observation?{query}", doc)
        assert status == 400 and issue(outcome)["expression"] == [named], query
    status, outcome, _ = await fhir(client, "GET", "/fhir/Patient/fac-a-p1/$everything?start=2020", doc)
    assert status == 400 and issue(outcome)["expression"] == ["start"]
    status, outcome, _ = await fhir(client, "GET", "/fhir/Observation/_history?_at=2020", doc)
    assert status == 400 and issue(outcome)["expression"] == ["_at"]


@both_databases
async def test_has_and_chains_search_only_what_the_caller_may_read(client, login, context):
    seed(context)
    doc_a, doc_b = await login("doc-a"), await login("doc-b")
    status, found, _ = await fhir(client, "GET", f"/fhir/Patient?_has:Observation:patient:code={HEART_RATE}", doc_a)
    assert status == 200 and ids(found) == ["fac-a-p1"] and found["total"] == 1
    _, found, _ = await fhir(client, "GET", f"/fhir/Patient?_has:Observation:patient:code={GLUCOSE}", doc_a)
    assert ids(found) == ["fac-a-p2"]
    _, found, _ = await fhir(client, "GET", f"/fhir/Patient?_has:Observation:patient:code={HEART_RATE}", doc_b)
    assert ids(found) == ["fac-b-p1"]

    booking = f"{BOOKING_SYSTEM}|fac-a-1"
    _, found, _ = await fhir(client, "GET", f"/fhir/Observation?subject:Patient.identifier={booking}", doc_a)
    assert [e["resource"]["subject"]["reference"] for e in found["entry"]] == ["Patient/fac-a-p1"]
    _, found, _ = await fhir(client, "GET", "/fhir/Observation?patient.gender=female", doc_a)
    assert [e["resource"]["subject"]["reference"] for e in found["entry"]] == ["Patient/fac-a-p2"]
    # Through a chain, another facility's detainee is not there for doc-b, as an unknown one is not.
    _, found, _ = await fhir(client, "GET", f"/fhir/Observation?subject:Patient.identifier={booking}", doc_b)
    _, unknown, _ = await fhir(client, "GET", f"/fhir/Observation?subject:Patient.identifier={BOOKING_SYSTEM}|none", doc_b)
    assert found["total"] == unknown["total"] == 0


@both_databases
async def test_reference_search_with_another_servers_base_matches_nothing(client, login, context):
    seed(context)
    doc = await login("doc-a")
    _, found, _ = await fhir(client, "GET", "/fhir/Observation?subject=http://elsewhere.example/fhir/Patient/fac-a-p1", doc)
    assert found["total"] == 0
    own = client.make_url("/fhir/Patient/fac-a-p1")
    _, found, _ = await fhir(client, "GET", f"/fhir/Observation?subject={own}", doc)
    assert found["total"] == 1


async def test_summary_and_include_iterate(client, login, context):
    seed(context)
    context.db.call(lambda s: store.create(s, {"resourceType": "Organization", "name": "Facility A"}, resource_id="fac-a"))
    doc = await login("doc-a")
    _, found, _ = await fhir(client, "GET", f"/fhir/Observation?code={HEART_RATE}&_summary=true", doc)
    resource = found["entry"][0]["resource"]
    assert "valueQuantity" in resource and "category" not in resource  # category is not a summary element
    assert resource["meta"]["tag"][-1]["code"] == "SUBSETTED"
    _, found, _ = await fhir(client, "GET", f"/fhir/Observation?code={HEART_RATE}&_summary=text", doc)
    assert set(found["entry"][0]["resource"]) == {"resourceType", "id", "meta", "status", "code"} - {"code"}
    _, found, _ = await fhir(client, "GET", "/fhir/Observation?_summary=data", doc)
    assert found["total"] == 2 and all("text" not in e["resource"] for e in found["entry"])
    # Observation -> its Patient -> the Patient's Organization, only with :iterate.
    query = f"/fhir/Observation?code={HEART_RATE}&_include=Observation:patient"
    _, found, _ = await fhir(client, "GET", query, doc)
    assert [e["resource"]["resourceType"] for e in found["entry"]] == ["Observation", "Patient"]
    _, found, _ = await fhir(client, "GET", query + "&_include:iterate=Patient:organization", doc)
    assert [e["resource"]["resourceType"] for e in found["entry"]] == ["Observation", "Patient", "Organization"]
    # Chains of any depth, and _has nested.
    _, found, _ = await fhir(client, "GET", "/fhir/Observation?patient.organization:Organization.name=facility", doc)
    assert found["total"] == 2
    _, found, _ = await fhir(client, "GET", f"/fhir/Organization?_has:Patient:organization:_has:Observation:patient:code={GLUCOSE}", doc)
    assert ids(found) == ["fac-a"]
    _, found, _ = await fhir(client, "GET", "/fhir/Organization?_has:Patient:organization:_has:Observation:patient:code=none", doc)
    assert ids(found) == []


@both_databases
async def test_history_pages_past_100_with_a_true_total_and_instants(client, login, context):
    ids_ = seed(context)
    versions = 130

    def rewrite(session):
        body = store.read(session, "Observation", ids_["a1"]).resource
        for n in range(versions - 1):
            body["valueQuantity"]["value"] = 100 + n
            store.update(session, body, ids_["a1"])
    context.db.call(rewrite)
    doc = await login("doc-a")
    url, seen = f"/fhir/Observation/{ids_['a1']}/_history", []
    while url:
        status, page, _ = await fhir(client, "GET", url, doc)
        assert status == 200 and page["total"] == versions
        Bundle.model_validate(page)  # a strict R4B parser takes the whole Bundle (lastModified is an instant)
        seen += [int(e["resource"]["meta"]["versionId"]) for e in page["entry"]]
        url = next((link["url"].split(str(client.make_url("")).rstrip("/"))[-1] for link in page["link"]
                    if link["relation"] == "next"), None)
    assert seen == list(range(versions, 0, -1))
    # System history: every version the caller may see (shared reference data included), no more.
    _, catalog, _ = await fhir(client, "GET", "/fhir/ObservationDefinition?_summary=count", doc)
    for who, own in (("doc-a", versions + 3 + 1), ("doc-b", 3 + 1)):
        _, page, _ = await fhir(client, "GET", "/fhir/_history?_count=500", await login(who))
        assert page["total"] == own + catalog["total"] == len(page["entry"]), who
        facility = "fac-a" if who == "doc-a" else "fac-b"
        assert all(e["resource"]["resourceType"] == "ObservationDefinition"
                   or (e["resource"].get("subject") or {"reference": "Patient/" + e["resource"]["id"]})["reference"]
                   .startswith(f"Patient/{facility}") for e in page["entry"]), who


async def test_everything_pages_and_filters(client, login, context):
    seed(context)
    doc = await login("doc-a")
    _, first, _ = await fhir(client, "GET", "/fhir/Patient/fac-a-p1/$everything?_count=1", doc)
    assert first["total"] == 2 and ids(first) == ["fac-a-p1"]  # the Patient and its Observation
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    _, second, _ = await fhir(client, "GET", next_url.split(str(client.make_url("")).rstrip("/"))[-1], doc)
    assert len(second["entry"]) == 1 and ids(second) != ids(first)
    _, typed, _ = await fhir(client, "GET", "/fhir/Patient/fac-a-p1/$everything?_type=Observation", doc)
    assert [e["resource"]["resourceType"] for e in typed["entry"]] == ["Observation"]
    _, later, _ = await fhir(client, "GET", "/fhir/Patient/fac-a-p1/$everything?_since=2999-01-01T00:00:00Z", doc)
    assert later["total"] == 0
    _, counted, _ = await fhir(client, "GET", "/fhir/Patient/fac-a-p1/$everything?_count=0", doc)
    assert counted["total"] == 2 and counted["entry"] == [] and [k["relation"] for k in counted["link"]] == ["self"]
    status, counted, _ = await fhir(client, "GET", "/fhir/Patient/fac-a-p1/_history?_count=0", doc)
    assert status == 200 and counted["total"] == 1 and counted["entry"] == []


@both_databases
async def test_no_oracle_across_facilities(client, login, context):
    ids_ = seed(context)
    doc_b = await login("doc-b")
    # A read, vread, history or $meta outside the caller's scope answers as for an unknown id.
    for suffix in ("", "/_history/1", "/_history", "/$meta"):
        hidden = await fhir(client, "GET", f"/fhir/Observation/{ids_['a1']}{suffix}", doc_b)
        unknown = await fhir(client, "GET", f"/fhir/Observation/00000000-0000-7000-8000-000000000000{suffix}", doc_b)
        assert hidden[0] == unknown[0] == 404, suffix
        assert issue(hidden[1])["code"] == issue(unknown[1])["code"] == "not-found"
    # Deleted and out of scope: still unknown, not 410.
    context.db.call(lambda s: store.delete(s, "Observation", ids_["a2"]))
    assert (await fhir(client, "GET", f"/fhir/Observation/{ids_['a2']}", doc_b))[0] == 404
    # Conditional create: doc-a's detainee's pulse is no tell; both criteria create.
    for bound in ("gt98", "gt100"):
        criteria = f"Observation?patient=fac-a-p1&value-quantity={bound}"
        status, _, _ = await fhir(client, "POST", "/fhir/Observation", doc_b, observation("fac-b-p2"),
                                  **{"If-None-Exist": criteria})
        assert status == 201, bound
    # A write naming another facility's detainee and one naming no detainee get the same answer.
    other = await fhir(client, "POST", "/fhir/Observation", doc_b, observation("fac-a-p1"))
    missing = await fhir(client, "POST", "/fhir/Observation", doc_b, observation("nobody"))
    assert other[0] == missing[0] == 403
    assert issue(other[1])["diagnostics"].replace("fac-a-p1", "X") == issue(missing[1])["diagnostics"].replace("nobody", "X")
    # New ids are random UUIDs: 74 random bits each.
    made = {(await fhir(client, "POST", "/fhir/Observation", doc_b, observation("fac-b-p1")))[1]["id"] for _ in range(3)}
    assert len(made) == 3 and all(len(rid) == 36 for rid in made)


@both_databases
async def test_delete_is_refused_to_roles_that_may_not_and_unknown_is_404(client, login, context):
    ids_ = seed(context)
    officer, doc_b, doc_a = await login("officer-a"), await login("doc-b"), await login("doc-a")
    for rid in (ids_["a1"], "no-such-id"):
        status, outcome, _ = await fhir(client, "DELETE", f"/fhir/Observation/{rid}", officer)
        assert status == 403 and issue(outcome)["code"] == "forbidden", rid
    assert (await fhir(client, "DELETE", f"/fhir/Observation/{ids_['a1']}", doc_b))[0] == 404
    assert (await fhir(client, "DELETE", "/fhir/Observation/no-such-id", doc_b))[0] == 404
    assert (await fhir(client, "DELETE", f"/fhir/Observation/{ids_['a1']}", doc_a))[0] == 204
    assert (await fhir(client, "DELETE", f"/fhir/Observation/{ids_['a1']}", doc_a))[0] == 204  # already gone
    assert (await fhir(client, "DELETE", "/fhir/Patient/fac-a-p1", doc_a))[0] == 405


@both_databases
async def test_bad_shapes_are_4xx_and_change_nothing(client, login, context):
    seed(context)
    doc = await login("doc-a")
    bundles = [
        {"resourceType": "Bundle", "type": "transaction", "entry": "x"},
        {"resourceType": "Bundle", "type": "transaction", "entry": [1]},
        {"resourceType": "Bundle", "type": "transaction", "entry": [{"request": "GET"}]},
        {"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "GET", "url": 5}}]},
        {"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {"method": ["POST"], "url": "Observation"}}]},
        {"resourceType": "Bundle", "type": "transaction", "entry": [{"fullUrl": 3, "resource": observation("fac-a-p1"),
                                                                     "request": {"method": "POST", "url": "Observation"}}]},
        {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": [], "request": {"method": "PUT", "url": "Observation/x"}}]},
        {"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {"method": "POST", "url": "Observation", "ifMatch": 1},
                                                                     "resource": observation("fac-a-p1")}]},
    ]
    for body in bundles:
        status, outcome, _ = await fhir(client, "POST", "/fhir", doc, body)
        assert status == 400 and outcome["resourceType"] == "OperationOutcome", body
    for parameters in ({"resourceType": "Parameters", "parameter": "x"},
                       {"resourceType": "Parameters", "parameter": [5]},
                       {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": "x"}]},
                       {"resourceType": "Parameters", "parameter": [{"name": "mode", "valueCode": "create"}]}):
        status, _, _ = await fhir(client, "POST", "/fhir/Observation/$validate", doc, parameters)
        assert status == 400, parameters
    for parameters in ({"resourceType": "Parameters", "parameter": [{"name": "destination", "valueReference": "fac-b"}]},
                       {"resourceType": "Parameters", "parameter": [{"name": "destination"}]},
                       {"resourceType": "Parameters", "parameter": {"name": "cell"}}):
        status, _, _ = await fhir(client, "POST", "/fhir/Patient/fac-a-p1/$transfer", doc, parameters)
        assert status == 400, parameters
    body = observation("fac-a-p1")
    body["subject"] = None
    status, outcome, _ = await fhir(client, "PUT", "/fhir/Observation/put-null", doc, body)
    assert status == 422 and issue(outcome)["expression"] == ["Observation.subject"]
    body = observation("fac-a-p1")
    body["valueQuantity"]["unit"] = None
    status, outcome, _ = await fhir(client, "POST", "/fhir/Observation", doc, body)
    assert status == 422 and issue(outcome)["expression"] == ["Observation.valueQuantity.unit"]
    _, found, _ = await fhir(client, "GET", "/fhir/Observation", doc)
    assert found["total"] == 2  # the seeded ones only


@both_databases
async def test_required_bindings_are_checked_on_write(client, login, context):
    doc = await login("doc-a")
    body = observation("fac-a-p1")
    body["status"] = "not-a-status"
    status, outcome, _ = await fhir(client, "POST", "/fhir/Observation", doc, body)
    assert status == 422 and issue(outcome)["expression"] == ["Observation.status"]
    good = {"fullUrl": "urn:uuid:1", "resource": observation("fac-a-p1"), "request": {"method": "POST", "url": "Observation"}}
    bad = {"resource": body, "request": {"method": "POST", "url": "Observation"}}
    status, outcome, _ = await fhir(client, "POST", "/fhir", doc, {"resourceType": "Bundle", "type": "transaction",
                                                                   "entry": [good, bad]})
    assert status == 422 and issue(outcome)["expression"] == ["Bundle.entry[1].resource.status"]
    status, outcome, _ = await fhir(client, "PUT", "/fhir/Patient/fac-a-p1", doc,
                                    {**context.db.call(lambda s: store.read(s, "Patient", "fac-a-p1")).resource, "gender": "m"})
    assert status == 422 and issue(outcome)["expression"] == ["Patient.gender"]
    condition = {"resourceType": "Condition", "subject": {"reference": "Patient/fac-a-p1"}, "code": {"text": "x"},
                 "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                "code": "bogus"}]}}
    status, outcome, _ = await fhir(client, "POST", "/fhir/Condition", doc, condition)
    assert status == 422 and issue(outcome)["expression"] == ["Condition.clinicalStatus"]
    _, found, _ = await fhir(client, "GET", "/fhir/Observation", doc)
    assert found["total"] == 0


async def test_discovery_is_public_and_bodies_are_json(client, login, context):
    status, capability, _ = await fhir(client, "GET", "/fhir/metadata", {})
    assert status == 200 and capability["resourceType"] == "CapabilityStatement"
    for url in ("/fhir/.well-known/smart-configuration", "/.well-known/smart-configuration"):
        status, smart, _ = await fhir(client, "GET", url, {})  # answered, not 401
        assert status == 200 and smart["grant_types_supported"] == ["client_credentials"], url
        assert smart["token_endpoint"] == str(client.make_url("/api/auth/smart/token"))
    assert (await fhir(client, "GET", "/fhir/Patient", {}))[0] == 401
    doc = await login("doc-a")
    xml = await client.post("/fhir/Observation", data=b"<Observation/>", headers={**doc, "Content-Type": "application/fhir+xml"})
    assert xml.status == 415 and (await xml.json())["resourceType"] == "OperationOutcome"
    assert (await client.post("/fhir/Patient/_search", data=b'{"gender":"male"}',
                              headers={**doc, "Content-Type": "application/json"})).status == 415
    form = await client.post("/fhir/Patient/_search", data={"gender": "male"}, headers=doc)
    assert form.status == 200 and (await form.json())["total"] == 2
    status, outcome, _ = await fhir(client, "GET", "/fhir?_type=Patient", doc)
    assert status == 400 and issue(outcome)["code"] == "not-supported"
    status, result, _ = await fhir(client, "POST", "/fhir/", doc, {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient/fac-a-p1"}}, {"request": {"method": "GET", "url": "Patient?gender=male"}}]})
    assert status == 200 and result["entry"][0]["response"]["status"] == "200 OK"
    assert result["entry"][1]["resource"]["total"] == 2  # every searchset has its total
    patient = {"resourceType": "Patient", "name": [{"family": "Li"}], "gender": "male"}
    status, outcome, _ = await fhir(client, "POST", "/fhir/Patient", doc, patient)
    assert status == 422 and issue(outcome)["expression"] == ["Patient.managingOrganization"]


@both_databases
async def test_patch_conditional_update_and_delete(client, login, context):
    ids_ = seed(context)
    doc, doc_b = await login("doc-a"), await login("doc-b")
    url = f"/fhir/Observation/{ids_['a1']}"
    patch_headers = {**doc, "Content-Type": "application/json-patch+json"}

    async def patch(operations, headers=patch_headers):
        response = await client.patch(url, data=orjson.dumps(operations), headers=headers)
        return response.status, await response.json()
    status, patched = await patch([{"op": "replace", "path": "/valueQuantity/value", "value": 88}])
    assert status == 200 and patched["valueQuantity"]["value"] == 88 and patched["meta"]["versionId"] == "2"
    assert (await patch([{"op": "test", "path": "/status", "value": "draft"}]))[0] == 422
    assert (await patch([{"op": "replace", "path": "/status", "value": "bogus"}]))[0] == 422
    assert (await patch([{"op": "jump"}]))[0] == 400
    assert (await patch({"op": "add"}))[0] == 400
    assert (await patch([{"op": "replace", "path": "/id", "value": "x"}]))[0] == 400
    assert (await patch([], {**doc, "Content-Type": "application/fhir+json"}))[0] == 415
    assert (await patch([], {**doc_b, "Content-Type": "application/json-patch+json"}))[0] == 404
    _, now = await patch([])
    assert now["meta"]["versionId"] == "3" and now["valueQuantity"]["value"] == 88

    fhirpy = AsyncFHIRClient(str(client.make_url("/fhir")), authorization=doc["Authorization"])
    booking = f"{BOOKING_SYSTEM}|fac-a-2"
    patient = await fhirpy.reference("Patient", "fac-a-p2").to_resource()
    patient["birthDate"] = "1981-01-01"
    saved, created = await fhirpy.resources("Patient").search(identifier=booking).update(patient)
    assert not created and saved["id"] == "fac-a-p2" and saved["birthDate"] == "1981-01-01"
    # doc-b's criteria name another facility's detainee: no match for doc-b, so a create.
    status, _, _ = await fhir(client, "PUT", f"/fhir/Observation?patient=fac-a-p1&code={HEART_RATE}", doc_b,
                              observation("fac-b-p1", value=70))
    assert status == 201
    assert (await fhir(client, "PUT", "/fhir/Patient?gender=male", doc, patient))[0] == 412  # fac-a-p1 and fac-a-p3

    status, said, response = await fhir(client, "PUT", f"/fhir/Observation?code={GLUCOSE}", doc,
                                        observation("fac-a-p2", code=GLUCOSE, value=6.1), Prefer="return=OperationOutcome")
    assert status == 200 and response.headers["ETag"] == 'W/"2"' and issue(said)["severity"] == "information"

    _, deleted = await fhirpy.resources("Observation").search(code=GLUCOSE).delete()
    assert deleted == 204
    assert (await fhir(client, "GET", f"/fhir/Observation/{ids_['a2']}", doc))[0] == 410
    assert (await fhir(client, "DELETE", "/fhir/Patient?gender=male", doc))[0] == 412
    assert (await fhir(client, "DELETE", f"/fhir/Observation?code={GLUCOSE}", await login("officer-a")))[0] == 403
    with pytest.raises(FhirpyOutcome):
        await fhirpy.resources("Observation").search(_tag="x").fetch()


@both_databases
async def test_transaction_conditional_references_resolve_within_scope(client, login, context):
    doc_a, doc_b = await login("doc-a"), await login("doc-b")
    body = observation("fac-a-p1")
    body["subject"] = {"reference": f"Patient?identifier={BOOKING_SYSTEM}|fac-a-1"}
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"resource": body, "request": {"method": "POST", "url": "Observation"}}]}
    status, result, _ = await fhir(client, "POST", "/fhir", doc_a, bundle)
    assert status == 200, result
    rid = result["entry"][0]["response"]["location"].split("/")[1]
    _, served, _ = await fhir(client, "GET", f"/fhir/Observation/{rid}", doc_a)
    assert served["subject"] == {"reference": "Patient/fac-a-p1"}
    # Conditional update and delete inside a transaction, with a urn:uuid pointing at the update's match.
    patient = context.db.call(lambda s: store.read(s, "Patient", "fac-a-p3")).resource
    patient["birthDate"] = "1990-09-09"
    note = observation("fac-a-p3")
    note["subject"] = {"reference": "urn:uuid:p3"}
    both = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:p3", "resource": patient,
         "request": {"method": "PUT", "url": f"Patient?identifier={BOOKING_SYSTEM}|fac-a-3"}},
        {"resource": note, "request": {"method": "POST", "url": "Observation"}},
        {"request": {"method": "DELETE", "url": f"Observation?_id={rid}"}}]}
    status, result, _ = await fhir(client, "POST", "/fhir", doc_a, both)
    assert status == 200, result
    assert [e["response"]["status"] for e in result["entry"]] == ["200 OK", "201 Created", "204 No Content"]
    note_id = result["entry"][1]["response"]["location"].split("/")[1]
    assert (await fhir(client, "GET", f"/fhir/Observation/{note_id}", doc_a))[1]["subject"] == {"reference": "Patient/fac-a-p3"}
    assert (await fhir(client, "GET", f"/fhir/Observation/{rid}", doc_a))[0] == 410
    assert (await fhir(client, "GET", "/fhir/Patient/fac-a-p3", doc_a))[1]["birthDate"] == "1990-09-09"
    hidden = await fhir(client, "POST", "/fhir", doc_b, bundle)
    body["subject"] = {"reference": f"Patient?identifier={BOOKING_SYSTEM}|nobody"}
    unknown = await fhir(client, "POST", "/fhir", doc_b, bundle)
    assert hidden[0] == unknown[0] == 412
    assert issue(hidden[1])["code"] == issue(unknown[1])["code"] == "not-found"


async def test_prefer_return(client, login, context):
    doc = await login("doc-a")
    status, said, response = await fhir(client, "POST", "/fhir/Observation", doc, observation("fac-a-p1"),
                                        Prefer="return=OperationOutcome")
    assert status == 201 and said["resourceType"] == "OperationOutcome" and issue(said)["severity"] == "information"
    assert "/_history/1" in response.headers["Location"]
    status, nothing, _ = await fhir(client, "POST", "/fhir/Observation", doc, observation("fac-a-p1"), Prefer="return=minimal")
    assert status == 201 and nothing is None


async def test_date_ap_is_approximate(client, login, context):
    seed(context)  # effective 2026-03-01T08:00Z
    doc = await login("doc-a")
    _, near, _ = await fhir(client, "GET", "/fhir/Observation?patient=fac-a-p1&date=ap2026-03-02", doc)
    _, exact, _ = await fhir(client, "GET", "/fhir/Observation?patient=fac-a-p1&date=eq2026-03-02", doc)
    _, far, _ = await fhir(client, "GET", "/fhir/Observation?patient=fac-a-p1&date=ap2020-03-02", doc)
    assert (near["total"], exact["total"], far["total"]) == (1, 0, 0)


@both_databases
async def test_composite_code_value_quantity(client, login, context):
    seed(context)  # heart rate 99 for fac-a-p1, glucose 5.4 for fac-a-p2
    doc = await login("doc-a")
    for query, total in ((f"http://loinc.org|{HEART_RATE}$gt98", 1), (f"{HEART_RATE}$gt100", 0),
                         (f"{GLUCOSE}$5.4|http://unitsofmeasure.org|mmol/L", 1), (f"{GLUCOSE}$99", 0)):
        status, found, _ = await fhir(client, "GET", f"/fhir/Observation?code-value-quantity={query}", doc)
        assert status == 200 and found["total"] == total, query
    for bad in (f"{HEART_RATE}", f"{HEART_RATE}$1,{GLUCOSE}$2"):
        status, outcome, _ = await fhir(client, "GET", f"/fhir/Observation?code-value-quantity={bad}", doc)
        assert status == 400 and issue(outcome)["expression"] == ["Observation?code-value-quantity"], bad


async def test_quantity_matches_the_code_and_the_unit(client, login, context):
    body = observation("fac-a-p1", code="8480-6", value=150, unit="mm[Hg]")
    body["valueQuantity"]["unit"] = "mmHg"
    context.db.call(lambda s: store.create(s, body))
    doc = await login("doc-a")
    for query, total in (("150||mm[Hg]", 1), ("150||mmHg", 1), ("150|http://unitsofmeasure.org|mm[Hg]", 1),
                         ("150||kPa", 0), ("gt149||mmHg", 1)):
        _, found, _ = await fhir(client, "GET", f"/fhir/Observation?value-quantity={query}", doc)
        assert found["total"] == total, query


@both_databases
async def test_reference_identifier_modifier(client, login, context):
    body = observation("fac-a-p1")
    body["subject"]["identifier"] = {"system": BOOKING_SYSTEM, "value": "fac-a-1"}
    context.db.call(lambda s: store.create(s, body))
    doc = await login("doc-a")
    for query, total in ((f"subject:identifier={BOOKING_SYSTEM}|fac-a-1", 1), ("subject:identifier=fac-a-1", 1),
                         (f"subject:identifier={BOOKING_SYSTEM}|fac-a-2", 0)):
        status, found, _ = await fhir(client, "GET", f"/fhir/Observation?{query}", doc)
        assert status == 200 and found["total"] == total, query
