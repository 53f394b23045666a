"""Orders, manual results, critical alerts over a real /ws/events socket, trends, access denials."""

from __future__ import annotations

import asyncio

import orjson
from sqlalchemy import func, select

from ehr import store
from labs.models import LabAlert, LabResult
from tests.conftest import both_databases
from tests.labs_support import HBSAG, HGB, POTASSIUM, enter
from telemed.models import AuditEntry, ConsultAccess, ConsultShare
from telemed.timeutil import utcnow


async def test_catalog_served_to_every_clinical_role(client, login):
    for username in ("doc-a", "spec-1", "officer-a"):
        response = await client.get("/api/labs/catalog", headers=await login(username))
        assert response.status == 200
    catalog = await response.json()
    assert len(catalog["tests"]) >= 120 and {p["code"] for p in catalog["panels"]} >= {"cbc", "hbv", "drugs"}
    assert (await client.get("/api/labs/catalog", headers=await login("admin"))).status == 403


async def test_order_and_denials(client, login, context):
    doc_a = await login("doc-a")
    response = await client.post("/api/labs/orders", json={"patient_id": "fac-a-p1", "panels": ["cbc"],
                                                           "tests": [POTASSIUM]}, headers=doc_a)
    assert response.status == 201, await response.text()
    order = await response.json()
    request = context.db.call(store.read, "ServiceRequest", order["id"]).resource
    assert request["subject"]["reference"] == "Patient/fac-a-p1" and request["intent"] == "order"
    assert HGB in order["tests"] and POTASSIUM in order["tests"]
    assert (await client.post("/api/labs/orders", json={"patient_id": "fac-a-p1", "panels": ["nope"]},
                              headers=doc_a)).status == 400
    for username in ("doc-b", "spec-1", "admin", "officer-a"):
        denied = await client.post("/api/labs/orders", json={"patient_id": "fac-a-p1", "panels": ["cbc"]},
                                   headers=await login(username))
        assert denied.status == 403, username
    listed = await (await client.get("/api/labs/orders", headers=doc_a)).json()
    assert [o["id"] for o in listed] == [order["id"]]
    assert await (await client.get("/api/labs/orders", headers=await login("doc-b"))).json() == []
    assert (await client.get("/api/labs/orders?patient=fac-a-p1", headers=await login("doc-b"))).status == 403

    wrong = await enter(client, doc_a, "fac-a-p2", [(HGB, "140")], order_id=order["id"])  # another detainee's
    assert wrong.status == 422 and "no order" in (await wrong.json())["error"]
    filed = await (await enter(client, doc_a, "fac-a-p1", [(HGB, "140"), (POTASSIUM, "4.0")],
                               order_id=order["id"])).json()
    obs = context.db.call(store.read, "Observation", filed["results"][0]["observation_id"]).resource
    assert obs["basedOn"] == [{"reference": f"ServiceRequest/{order['id']}"}]
    # 2 of the ordered tests have results: the order stays open with the others outstanding
    assert context.db.call(store.read, "ServiceRequest", order["id"]).resource["status"] == "active"
    [listed] = await (await client.get("/api/labs/orders?patient=fac-a-p1", headers=doc_a)).json()
    assert HGB not in listed["outstanding"] and POTASSIUM not in listed["outstanding"]
    waiting = listed["outstanding"]
    assert len(waiting) == len(order["tests"]) - 2
    cancel = f"/api/labs/orders/{order['id']}/cancel"
    no_reason = await client.post(cancel, json={"loinc": waiting[0], "reason": " "}, headers=doc_a)
    assert no_reason.status == 422 and "reason" in (await no_reason.json())["error"]
    assert (await client.post(cancel, json={"loinc": HGB, "reason": "done"}, headers=doc_a)).status == 422
    other = await client.post(cancel, json={"loinc": waiting[0], "reason": "x"}, headers=await login("doc-b"))
    assert other.status == 404  # another facility's order is not there for them
    for loinc in waiting[:-1]:
        assert (await client.post(cancel, json={"loinc": loinc, "reason": "analyzer down"}, headers=doc_a)).status == 200
    assert context.db.call(store.read, "ServiceRequest", order["id"]).resource["status"] == "active"
    last = await (await client.post(cancel, json={"loinc": waiting[-1], "reason": "sample clotted"},
                                    headers=doc_a)).json()
    assert last["status"] == "completed" and last["outstanding"] == [] and last["cancelled"][waiting[-1]] == "sample clotted"
    assert context.db.call(store.read, "ServiceRequest", order["id"]).resource["status"] == "completed"
    assert await (await client.get("/api/labs/orders?patient=fac-a-p1", headers=doc_a)).json() == []


@both_databases
async def test_results_are_flagged_grouped_and_stored(client, login, context):
    doc_a = await login("doc-a")
    response = await enter(client, doc_a, "fac-a-p2", [(HGB, "120"), ("789-8", "4.0"), (POTASSIUM, "4.1"),
                                                         (HBSAG, "阳性")])
    assert response.status == 201, await response.text()
    body = await response.json()
    flags = {r["loinc"]: r["flag"] for r in body["results"]}
    assert flags == {HGB: "N", "789-8": "N", POTASSIUM: "N", HBSAG: "A"}  # fac-a-p2 is female: HGB 115-150
    assert len(body["reports"]) == 3  # cbc, electrolytes, hbv
    hgb = next(r for r in body["results"] if r["loinc"] == HGB)
    obs = context.db.call(store.read, "Observation", hgb["observation_id"]).resource
    assert obs["valueQuantity"] == {"value": 120.0, "unit": "g/L", "system": "http://unitsofmeasure.org", "code": "g/L"}
    assert obs["referenceRange"][0]["low"]["value"] == 115 and obs["interpretation"][0]["coding"][0]["code"] == "N"
    report = context.db.call(store.read, "DiagnosticReport", hgb["report_id"]).resource
    assert len(report["result"]) == 2 and report["code"]["coding"][0]["code"] == "57021-8"
    hbsag = next(r for r in body["results"] if r["loinc"] == HBSAG)
    qual = context.db.call(store.read, "Observation", hbsag["observation_id"]).resource
    assert qual["valueCodeableConcept"]["coding"][0]["code"] == "pos"
    again = await enter(client, doc_a, "fac-a-p2", [(HGB, "120")], when="2026-03-01T16:00:00")  # Shanghai time
    assert (await again.json())["duplicates"] == 1
    assert context.db.call(lambda s: s.execute(select(func.count()).select_from(LabResult)).scalar()) == 4


async def test_bad_values_file_nothing(client, login, context):
    response = await enter(client, await login("doc-a"), "fac-a-p1", [(HGB, "130"), (POTASSIUM, "abc"),
                                                                        ("99999-9", "1")])
    assert response.status == 422
    reasons = [e["reason"] for e in (await response.json())["errors"]]
    assert any("not a number" in r for r in reasons) and any("unknown test code" in r for r in reasons)
    assert context.db.call(lambda s: s.execute(select(func.count()).select_from(LabResult)).scalar()) == 0
    for username in ("doc-b", "spec-1", "officer-a", "admin"):
        assert (await enter(client, await login(username), "fac-a-p1", [(HGB, "130")])).status == 403, username


async def test_delta_check_marks_the_observation(client, login, context):
    doc_a = await login("doc-a")
    await enter(client, doc_a, "fac-a-p1", [(HGB, "150")], when="2026-03-01T08:00:00Z")
    body = await (await enter(client, doc_a, "fac-a-p1", [(HGB, "128")], when="2026-03-03T08:00:00Z")).json()
    assert body["results"][0]["delta_flag"] is True and body["results"][0]["flag"] == "L"
    obs = context.db.call(store.read, "Observation", body["results"][0]["observation_id"]).resource
    assert obs["extension"][0]["valueBoolean"] is True


async def test_critical_alert_is_pushed_and_acknowledged(client, login, context, world):
    doc_a, doc_b = await login("doc-a"), await login("doc-b")
    ws_a = await client.ws_connect("/ws/events", headers=doc_a)
    ws_b = await client.ws_connect("/ws/events", headers=doc_b)
    await asyncio.sleep(0.05)
    response = await enter(client, doc_a, "fac-a-p1", [(POTASSIUM, "6.9")])
    assert (await response.json())["results"][0]["flag"] == "HH"
    message = await ws_a.receive_json(timeout=5)
    assert message["type"] == "lab.critical" and message["severity"] == "critical"
    assert "6.9 mmol/L" in message["toast"]["en"] and message["link"] == "/detainees/fac-a-1"
    alert_id = message["alert"]["id"]
    with_timeout = asyncio.wait_for(ws_b.receive_json(), 1.5)
    try:
        await with_timeout
        raise AssertionError("a doctor of another facility got the alert")
    except asyncio.TimeoutError:
        pass
    listed = await (await client.get("/api/labs/alerts", headers=doc_a)).json()
    assert [a["id"] for a in listed] == [alert_id]
    context.audit.flush()
    entries = context.db.call(lambda s: s.execute(select(AuditEntry).where(AuditEntry.action == "labs.alerts.list"))
                              .scalars().all())
    assert [(e.patient_id, e.username) for e in entries] == [("fac-a-p1", "doc-a")]
    assert await (await client.get("/api/labs/alerts", headers=doc_b)).json() == []
    assert (await client.post(f"/api/labs/alerts/{alert_id}/ack", headers=doc_b)).status == 403
    acked = await (await client.post(f"/api/labs/alerts/{alert_id}/ack", headers=doc_a)).json()
    assert acked["acknowledged_by"] == world.users["doc-a"] and acked["acknowledged_at"]
    assert await (await client.get("/api/labs/alerts", headers=doc_a)).json() == []
    alert = context.db.call(lambda s: s.get(LabAlert, alert_id))
    assert alert.pushed_at is not None and alert.acknowledged_by == world.users["doc-a"]
    metrics = await (await client.get("/metrics")).text()
    assert 'telemed_lab_alerts_pushed_total{flag="HH"} 1.0' in metrics
    await ws_a.close()
    await ws_b.close()


async def test_alert_filed_by_another_process_is_pushed(client, login, context):
    """A result filed outside the web process (CLI, MLLP listener) reaches the browser by the pusher."""
    from labs.results import Submission, check, file, subjects
    from datetime import datetime, timezone

    ws = await client.ws_connect("/ws/events", headers=await login("doc-a"))
    await asyncio.sleep(0.05)

    def outside(session):
        subject = subjects(session, patient_ids={"fac-a-p3"})["fac-a-p3"]
        sub = Submission("fac-a-p3", "14749-6", "1.9", datetime(2026, 3, 2, tzinfo=timezone.utc))
        file(session, [check(sub, subject)], "hl7")

    context.db.call(outside)
    message = await ws.receive_json(timeout=5)
    assert message["alert"]["flag"] == "LL" and message["alert"]["patient_id"] == "fac-a-p3"
    await ws.close()


async def test_trends_and_specialist_sharing(client, login, context, world):
    doc_a = await login("doc-a")
    first = await (await enter(client, doc_a, "fac-a-p1", [(HGB, "150")], when="2026-02-01T08:00:00Z")).json()
    await enter(client, doc_a, "fac-a-p1", [(HGB, "125")], when="2026-03-01T08:00:00Z")
    series = await (await client.get(f"/api/labs/trends?patient=fac-a-p1&loinc={HGB}", headers=doc_a)).json()
    assert [p["value"] for p in series["points"]] == [150, 125] and series["low"] == 130 and series["high"] == 175
    listing = await (await client.get("/api/labs/trends?patient=fac-a-p1", headers=doc_a)).json()
    assert listing[0]["loinc"] == HGB and listing[0]["count"] == 2
    for username in ("doc-b", "admin", "officer-b"):
        denied = await client.get(f"/api/labs/trends?patient=fac-a-p1&loinc={HGB}", headers=await login(username))
        assert denied.status == 403, username
    officer = await client.get(f"/api/labs/trends?patient=fac-a-p1&loinc={HGB}", headers=await login("officer-a"))
    assert officer.status == 200
    spec = await login("spec-1")
    assert (await client.get(f"/api/labs/trends?patient=fac-a-p1&loinc={HGB}", headers=spec)).status == 403

    def grant(session):
        session.add(ConsultAccess(consult_id="c1", patient_id="fac-a-p1", specialist_id=world.users["spec-1"],
                                  accepted_at=utcnow()))
        session.add(ConsultShare(consult_id="c1", resource_type="Observation",
                                 resource_id=first["results"][0]["observation_id"]))

    context.db.call(grant)
    shared = await (await client.get(f"/api/labs/trends?patient=fac-a-p1&loinc={HGB}", headers=spec)).json()
    assert [p["value"] for p in shared["points"]] == [150]  # only the shared result


async def test_catalogue_synced_as_observation_definitions(context, world):
    from labs.sync import sync_catalogue

    first = context.db.call(sync_catalogue)
    assert first in (0, 124)  # the app's startup hook may have written them already
    assert context.db.call(sync_catalogue) == 0  # idempotent: nothing changed, nothing written
    definition = context.db.call(store.read, "ObservationDefinition", "lab-2823-3").resource
    assert definition["code"]["coding"][0]["code"] == POTASSIUM
    assert orjson.dumps(definition).count(b"critical") == 2
    context.db.call(store.delete, "ObservationDefinition", "lab-2823-3")
    assert context.db.call(sync_catalogue) == 1  # a deleted definition is written again
    assert context.db.call(store.read, "ObservationDefinition", "lab-2823-3").version == 3


async def test_labs_page(client, login):
    page = await client.get("/labs", headers=await login("doc-a"))
    assert page.status == 200 and "labs.js" in await page.text()
    assert (await client.get("/labs", headers=await login("spec-1"))).status == 403
