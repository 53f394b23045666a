"""The CapabilityStatement is exactly true: everything it lists answers, and what it does not
list is refused with an OperationOutcome."""

from __future__ import annotations

from tests.conftest import both_databases
from tests.ehr_support import fhir

VALUES = {"token": "x", "string": "x", "date": "2026", "quantity": "5", "reference": "x", "number": "1",
          "composite": "x$5"}


@both_databases
async def test_every_listed_search_parameter_and_include_answers(client, login, context):
    status, capability, _ = await fhir(client, "GET", "/fhir/metadata", {})
    assert status == 200
    rest = capability["rest"][0]
    doc, officer = await login("doc-a"), await login("officer-a")
    for resource in rest["resource"]:
        rtype = resource["type"]
        who = officer if rtype == "AuditEvent" else doc
        for param in resource["searchParam"]:
            status, outcome, _ = await fhir(client, "GET", f"/fhir/{rtype}?{param['name']}={VALUES[param['type']]}", who)
            assert status == 200, (rtype, param, outcome)
        for key in ("searchInclude", "searchRevInclude"):
            for link in resource.get(key, []):
                name = "_include" if key == "searchInclude" else "_revinclude"
                status, outcome, _ = await fhir(client, "GET", f"/fhir/{rtype}?{name}={link}", who)
                assert status == 200, (rtype, link, outcome)
        # Not listed, so refused: a parameter of the specification this server does not support.
        status, outcome, _ = await fhir(client, "GET", f"/fhir/{rtype}?_tag=x", who)
        assert status == 400 and outcome["resourceType"] == "OperationOutcome", rtype
        listed = {i["code"] for i in resource["interaction"]}
        if "delete" not in listed:
            assert (await fhir(client, "DELETE", f"/fhir/{rtype}/x", who))[0] == 405, rtype
        if "create" not in listed:
            assert (await fhir(client, "POST", f"/fhir/{rtype}", who, {"resourceType": rtype}))[0] == 405, rtype
    for param in rest["searchParam"]:
        query = {"_count": "1", "_sort": "_id", "_include": "Observation:subject", "_revinclude": "Provenance:target",
                 "_summary": "true", "_elements": "status", "_total": "accurate",
                 "_has": None}[param["name"]]
        url = f"/fhir/Observation?{param['name']}={query}" if query else "/fhir/Patient?_has:Observation:patient:code=x"
        status, outcome, _ = await fhir(client, "GET", url, doc)
        assert status == 200, (param, outcome)
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch", "history-system"}
    assert (await fhir(client, "GET", "/fhir?_id=x", doc))[0] == 400  # search-system is not listed
    assert (await fhir(client, "GET", "/fhir/Observation/x/$lastn", doc))[0] == 400  # nor is $lastn


async def test_listed_operations_answer(client, login, context):
    _, capability, _ = await fhir(client, "GET", "/fhir/metadata", {})
    doc = await login("doc-a")
    patient = next(r for r in capability["rest"][0]["resource"] if r["type"] == "Patient")
    assert {o["name"] for o in patient["operation"]} == {"validate", "meta", "everything", "transfer", "export"}
    group = next(r for r in capability["rest"][0]["resource"] if r["type"] == "Group")
    assert {o["name"]: o["definition"] for o in group["operation"]}["export"].endswith("/group-export")
    status, _, _ = await fhir(client, "GET", "/fhir/Group/none/$export", {**doc, "Prefer": "respond-async"})
    assert status == 404  # the operation answers (no such Group), where an unlisted one is a 400
    assert (await fhir(client, "GET", "/fhir/Patient/fac-a-p1/$meta", doc))[1]["parameter"][0]["valueMeta"]["versionId"] == "1"
    assert (await fhir(client, "GET", "/fhir/Patient/fac-a-p1/$everything", doc))[0] == 200
    status, outcome, _ = await fhir(client, "POST", "/fhir/Patient/$validate", doc, {"resourceType": "Patient"})
    assert status == 200 and outcome["resourceType"] == "OperationOutcome"
