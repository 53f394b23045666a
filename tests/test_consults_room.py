"""What the consult room shows and keeps: shared panels as values with units, ranges, flags and
local times, nothing unshared; the whole draft; the note in the signer's language; the history;
the notifications of a request."""

from __future__ import annotations

import asyncio
import base64

from sqlmodel import select

from ehr import store
from telemed.models import AuditEntry
from tests.conftest import both_databases
from tests.consults_support import PATIENT, call, requested, scheduled, start_call
from tests.labs_support import POTASSIUM, enter

SODIUM, WBC, GLUCOSE = "2951-2", "6690-2", "14749-6"
RX = {"medication": "Aspirin", "dose_value": 100, "dose_unit": "mg", "route": "oral", "frequency": "qd",
      "duration_days": 14}


async def _filed(client, doc, results, when) -> dict:
    response = await enter(client, doc, PATIENT, results, when=when)
    assert response.status == 201, await response.text()
    return await response.json()


async def _shared_consult(client, login) -> tuple[str, dict]:
    """Two electrolyte panels and a white-cell count shared; a glucose result kept back."""
    doc = await login("doc-a")
    before = await _filed(client, doc, [(POTASSIUM, "4.6"), (SODIUM, "140")], "2026-03-01T00:00:00Z")
    now = await _filed(client, doc, [(POTASSIUM, "6.9"), (SODIUM, "138")], "2026-03-05T00:00:00Z")
    wbc = await _filed(client, doc, [(WBC, "12.4")], "2026-03-05T00:00:00Z")
    kept = await _filed(client, doc, [(GLUCOSE, "5.1")], "2026-03-05T00:00:00Z")
    share = [{"type": "DiagnosticReport", "id": before["reports"][0]},
             {"type": "DiagnosticReport", "id": now["reports"][0]},
             {"type": "Observation", "id": wbc["results"][0]["observation_id"]}]
    consult = await requested(client, login, share=share)
    await call(client, "POST", f"/api/consults/{consult['id']}/triage", await login("spec-1"),
               {"decision": "accept", "proposed_start": "2026-03-05T10:00:00+08:00"})
    return consult["id"], {"kept": kept["results"][0]["observation_id"], "potassium": now["results"][0]["observation_id"]}


@both_databases
async def test_the_specialist_sees_the_shared_values_and_nothing_else(client, login, context, world):
    cid, ids = await _shared_consult(client, login)
    spec = await login("spec-1")
    items = await call(client, "GET", f"/api/consults/{cid}/items?lang=en", spec)
    panels = [e for e in items["entries"] if e["type"] == "DiagnosticReport"]
    assert [p["title"] for p in panels] == ["Electrolytes", "Electrolytes"]
    potassium = next(r for r in panels[1]["rows"] if r["loinc"] == POTASSIUM)
    assert potassium == potassium | {"name": "Potassium (K)", "value": "6.9", "unit": "mmol/L", "range": "3.5–5.3",
                                     "flag": "HH", "flag_label": "↑↑ critically high", "at": "05 Mar 2026 08:00"}
    wbc = next(e for e in items["entries"] if e["type"] == "Observation")
    assert (wbc["rows"][0]["unit"], wbc["rows"][0]["flag"]) == ("×10⁹/L", "H")
    assert [p["value"] for p in items["trends"][POTASSIUM]["points"]] == [4.6, 6.9]
    shown = {r["id"] for e in items["entries"] for r in e.get("rows", [])}
    assert ids["kept"] not in shown and len(shown) == 5

    zh = await call(client, "GET", f"/api/consults/{cid}/items?lang=zh-CN", spec)
    assert zh["entries"][1]["rows"][0]["flag_label"] == "↑↑ 危急高值" and zh["entries"][0]["title"] == "电解质"
    assert zh["entries"][1]["rows"][0]["at"] == "2026-03-05 08:00"

    # The FHIR API agrees: the panel's results are readable, the glucose kept back is not.
    assert (await client.get(f"/fhir/Observation/{ids['potassium']}", headers=spec)).status == 200
    assert (await client.get(f"/fhir/Observation/{ids['kept']}", headers=spec)).status == 404  # not shared: as if it did not exist
    context.audit.flush()
    denied = context.db.call(lambda s: s.exec(select(AuditEntry.resource).where(
        AuditEntry.username == "spec-1", AuditEntry.outcome == "denied")).all())
    assert f"Observation/{ids['kept']}" in denied


@both_databases
async def test_the_draft_keeps_everything_and_the_note_speaks_the_signers_language(client, login, context, world):
    cid = (await scheduled(client, login))["id"]
    start_call(context, cid)
    spec = await login("spec-1")
    draft = {"note": "考虑高钾血症。", "recommendations": "复查血钾。", "outcome": "treat-on-site",
             "diagnoses": [{"code": "E87.5", "display": "高钾血症"}],
             "prescriptions": [RX, {"medication": "Furosemide", "dose_value": None}]}
    await call(client, "PUT", f"/api/consults/{cid}/draft", spec, draft)
    assert (await call(client, "GET", f"/api/consults/{cid}", spec))["draft"] == draft
    for bad in ({**draft, "signature": "x"}, {**draft, "diagnoses": [{"code": "XYZ", "display": "?"}]},
                {**draft, "outcome": "wait-and-see"}):
        await call(client, "PUT", f"/api/consults/{cid}/draft", spec, bad, status=422)
    assert (await call(client, "GET", f"/api/consults/{cid}", spec))["draft"] == draft

    # The half-written second prescription cannot be signed; nothing is filed.
    await call(client, "POST", f"/api/consults/{cid}/sign", spec, {}, status=422)
    assert (await call(client, "GET", f"/api/consults/{cid}", spec))["status"] == "held"
    signed = await call(client, "POST", f"/api/consults/{cid}/sign", spec, {"prescriptions": [RX]})
    text = base64.b64decode(context.db.call(store.read, "DocumentReference", signed["note_id"])
                            .resource["content"][0]["attachment"]["data"]).decode()
    assert "处理建议：\n复查血钾。" in text and "- E87.5 高钾血症" in text
    assert "- Aspirin 100 mg，口服，每日一次，共 14 天" in text and text.endswith("处置结果：所内治疗")
    assert "Outcome" not in text and "treat-on-site" not in text
    order = context.db.call(store.by_patient, PATIENT, ("MedicationRequest",))[0].resource
    dosage = order["dosageInstruction"][0]
    assert dosage["route"]["coding"][0]["code"] == "26643006" and dosage["timing"]["code"]["coding"][0]["code"] == "QD"
    assert dosage["timing"]["repeat"]["boundsDuration"]["value"] == 14
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 100, "system": "http://unitsofmeasure.org",
                                                       "code": "mg", "unit": "mg"}


async def test_history_finds_signed_and_declined_consults_by_detainee(client, login, context, world):
    signed = (await scheduled(client, login))["id"]
    start_call(context, signed)
    spec = await login("spec-1")
    await call(client, "POST", f"/api/consults/{signed}/sign", spec, {"note": "ok", "outcome": "treat-on-site"})
    declined = (await requested(client, login))["id"]
    await call(client, "POST", f"/api/consults/{declined}/triage", spec, {"decision": "decline", "reason": "echo first"})
    open_one = (await requested(client, login))["id"]

    doc = await login("doc-a")
    found = await call(client, "GET", "/api/consults/history?q=fac-a-1", doc)
    assert [c["id"] for c in found] == [declined, signed] and found[1]["outcome"] == "treat-on-site"
    assert open_one not in {c["id"] for c in found}
    assert [c["id"] for c in await call(client, "GET", "/api/consults/history?q=1-01", doc)] == [declined, signed]
    assert await call(client, "GET", "/api/consults/history?q=nobody", doc) == []
    await call(client, "GET", "/api/consults/history?patient=fac-a-p1", doc, status=400)
    await call(client, "GET", "/api/consults/history", await login("officer-a"), status=403)
    assert await call(client, "GET", "/api/consults/history", await login("doc-b")) == []

    # The specialist's history: the signed one by name; the declined one without saying whose.
    mine = await call(client, "GET", "/api/consults/history", spec)
    assert {c["id"]: "patient_id" in c for c in mine} == {signed: True, declined: False}
    assert [c["id"] for c in await call(client, "GET", "/api/consults/history?q=王", spec)] == [signed]

    page = await client.get(f"/consults/{signed}?lang=zh-CN", headers=doc)
    assert page.status == 200 and "所内治疗" in await page.text()
    assert (await client.get(f"/consults/{signed}", headers=await login("doc-b"))).status == 403


async def test_requests_notify_the_specialists_quietly_and_emergencies_ring(client, login, context, world):
    events = await client.ws_connect("/ws/events", headers=await login("spec-1"))
    routine = await requested(client, login, urgency="routine")
    message = await asyncio.wait_for(events.receive_json(), 5)
    assert (message["type"], message["consult_id"], message["ring"], message["link"]) == (
        "consult.requested", routine["id"], False, "/consults")
    assert message["toast"]["en"].startswith("New consult request (Routine") and "常规" in message["toast"]["zh-CN"]
    await requested(client, login, urgency="emergency")
    message = await asyncio.wait_for(events.receive_json(), 5)
    assert (message["type"], message["ring"], message["severity"]) == ("consult.ring", True, "critical")
    await events.close()
