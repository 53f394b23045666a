"""FHIR Group, kept by one facility, and its Bulk Data export against the real server: only the
members the caller may read, another facility's Group as absent as a missing one, refusals named."""

from __future__ import annotations

from sqlmodel import select

from ehr import store
from ehr.access import READ, Gate
from ehr.models import FhirResource
from telemed.models import AuditEntry, Role
from telemed.policy import HOSPITAL_SYSTEM
from telemed.security import Principal
from tests.conftest import both_databases
from tests.ehr_support import observation
from tests.test_fhir_bulk_export import finished, kick_off, lines, path_of

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def group(facility: str, *members: str, **extra) -> dict:
    return {"resourceType": "Group", "type": "person", "actual": True,
            "code": {"text": "chronic care clinic"}, "managingEntity": {"reference": f"Organization/{facility}"},
            "member": [{"entity": {"reference": ref if "/" in ref else f"Patient/{ref}"}} for ref in members], **extra}


async def post_group(client, headers: dict, body: dict) -> tuple[int, dict]:
    response = await client.post("/fhir/Group", json=body, headers={**headers, **FHIR_JSON})
    return response.status, await response.json()


@both_databases
async def test_a_group_is_written_and_read_only_in_its_own_facility(client, login, world):
    doc_a, doc_b, spec = await login("doc-a"), await login("doc-b"), await login("spec-1")
    status, made = await post_group(client, doc_a, group("fac-a", "fac-a-p1", "fac-a-p2"))
    assert status == 201, made
    assert (await client.get(f"/fhir/Group/{made['id']}", headers=doc_a)).status == 200
    found = await (await client.get("/fhir/Group?member=Patient/fac-a-p1&type=person", headers=doc_a)).json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == [made["id"]]

    missing = await client.get("/fhir/Group/no-such-group", headers=doc_b)
    for who in (doc_b, spec):  # another facility's Group answers exactly as one that does not exist
        response = await client.get(f"/fhir/Group/{made['id']}", headers=who)
        assert response.status == missing.status == 404
        assert (await response.json())["issue"][0]["code"] == (await missing.json())["issue"][0]["code"]
        assert (await (await client.get("/fhir/Group?type=person", headers=who)).json())["total"] == 0

    status, outcome = await post_group(client, doc_b, group("fac-a", "fac-a-p1"))
    assert status == 403
    status, outcome = await post_group(client, spec, group("hosp-1", "fac-a-p1"))
    assert status == 403
    url = f"/fhir/Group/{made['id']}"
    changed = {**made, "name": "Wing B clinic"}
    response = await client.put(url, json=changed, headers={**doc_b, **FHIR_JSON})
    unknown = await client.put("/fhir/Group/no-such-group", json={**changed, "id": "no-such-group"}, headers={**doc_b, **FHIR_JSON})
    assert response.status == unknown.status == 404  # as a PUT to an id nobody holds (no update-as-create)
    moved = await client.put(url, json={**made, "managingEntity": {"reference": "Organization/fac-b"}},
                             headers={**doc_a, **FHIR_JSON})
    assert moved.status == 403  # staff cannot hand their Group to another facility
    officer = await login("officer-a")  # reads the facility's Groups; writes no clinical data
    assert (await client.get(url, headers=officer)).status == 200
    assert (await client.put(url, json=changed, headers={**officer, **FHIR_JSON})).status == 403
    assert (await client.put(url, json=changed, headers={**doc_a, **FHIR_JSON})).status == 200
    assert (await client.delete(url, headers=doc_b)).status in (403, 404)
    assert (await (await client.get(url, headers=doc_a)).json())["name"] == "Wing B clinic"
    assert (await client.delete(url, headers=doc_a)).status in (200, 204)

    status, outcome = await post_group(client, doc_a, group("", "Practitioner/x", type="animal"))
    assert status == 422
    named = {e for issue in outcome["issue"] for e in issue.get("expression", [])}
    assert {"Group.managingEntity", "Group.type", "Group.member[0].entity"} <= named


@both_databases
async def test_group_export_holds_only_the_readable_members(client, context, login, world):
    made = context.db.call(lambda s: {p: store.create(s, observation(p)).id for p in ("fac-a-p1", "fac-a-p2", "fac-a-p3",
                                                                                         "fac-b-p1")})
    doc_a, doc_b = await login("doc-a"), await login("doc-b")
    status, mixed = await post_group(client, doc_a, group("fac-a", "fac-a-p1", "fac-a-p2", "fac-b-p1", "nobody"))
    assert status == 201, mixed
    status, theirs = await post_group(client, doc_b, group("fac-b", "fac-b-p1"))
    assert status == 201, theirs

    status, _, status_url = await kick_off(client, doc_a, f"/fhir/Group/{mixed['id']}/$export")
    assert status == 202
    done = await finished(client, doc_a, path_of(client, status_url))
    files = {o["type"]: o for o in done["output"]}
    assert set(files) == {"Patient", "Observation"}
    assert {p["id"] for p in await lines(client, doc_a, path_of(client, files["Patient"]["url"]))} == {"fac-a-p1", "fac-a-p2"}
    assert sorted(o["id"] for o in await lines(client, doc_a, path_of(client, files["Observation"]["url"]))) \
        == sorted([made["fac-a-p1"], made["fac-a-p2"]])

    trail = context.db.call(lambda s: s.exec(select(AuditEntry).where(AuditEntry.action == "fhir.export")).all())
    left_out = {e.patient_id for e in trail if e.outcome == "denied"}
    assert left_out == {"fac-b-p1", "nobody"}
    assert {e.patient_id for e in trail if e.outcome == "allowed" and e.patient_id} == {"fac-a-p1", "fac-a-p2"}

    # Another facility's Group: the same 404 as a Group that does not exist, and nothing starts.
    for group_id in (theirs["id"], "no-such-group"):
        status, outcome, location = await kick_off(client, doc_a, f"/fhir/Group/{group_id}/$export")
        assert status == 404 and not location and outcome["issue"][0]["code"] == "not-found", outcome
    status, _, _ = await kick_off(client, await login("spec-1"), f"/fhir/Group/{mixed['id']}/$export")
    assert status == 404


@both_databases
async def test_group_export_parameters_are_checked_by_name(client, login, world):
    doc = await login("doc-a")
    status, made = await post_group(client, doc, group("fac-a", "fac-a-p1"))
    assert status == 201
    url = f"/fhir/Group/{made['id']}/$export"
    for query, named in (("_typeFilter=Observation%3Fcode%3Dx", "_typeFilter"), ("color=red", "color"),
                         ("_type=Group", "_type"), ("_type=Organization", "_type"), ("_outputFormat=text/csv", "_outputFormat")):
        status, outcome, _ = await kick_off(client, doc, f"{url}?{query}")
        assert status == 400 and outcome["issue"][0]["expression"] == [named], query
    status, _, status_url = await kick_off(client, doc, f"{url}?_type=Patient&_since=2999-01-01T00:00:00Z")
    assert status == 202
    done = await finished(client, doc, path_of(client, status_url))
    assert done["output"] == [] and done["request"].endswith("_since=2999-01-01T00:00:00Z")
    cancelled = await client.delete(path_of(client, status_url), headers=doc)
    assert cancelled.status == 202


@both_databases
def test_a_hospital_system_sees_no_group(context, world):
    system = Principal(user_id=0, username="client:x", display_name="x", role=HOSPITAL_SYSTEM, org_id="fac-a")

    def check(session):
        made = store.create(session, group("fac-a", "fac-a-p1"))
        gate = Gate(system)
        assert not gate.decide(session, READ, "Group", made.id, None).allowed  # even naming a facility as its org
        restrict = gate.restriction(session, "Group")
        assert session.execute(select(FhirResource.id).where(FhirResource.type == "Group", restrict)).all() == []
        assert Gate(Principal(user_id=1, username="doc-a", display_name="d", role=Role.FACILITY_DOCTOR, org_id="fac-a")) \
            .decide(session, READ, "Group", made.id, None).allowed
    context.db.call(check)
