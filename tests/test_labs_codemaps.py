"""Per-analyzer test-code maps over a real MLLP socket, their management in the API and the CLI,
and the one-action map-and-file-again from the review queue. Denials as carefully as permissions."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from labs.codemaps import set_code
from labs.models import Analyzer, LabResult
from telemed.models import AuditEntry
from tests.conftest import both_databases
from tests.labs_support import msa, oru, register_analyzer, send_mllp
from tests.test_cli import telemed

GLUCOSE, CREATININE, POTASSIUM = "14749-6", "14682-9", "2823-3"



def results(context) -> dict[str, LabResult]:
    return {r.loinc: r for r in context.db.call(lambda s: s.execute(select(LabResult)).scalars().all())}


def actions(context, prefix: str) -> list[AuditEntry]:
    context.audit.flush()  # the API's entries go through the writer
    return context.db.call(lambda s: s.execute(select(AuditEntry).where(AuditEntry.action.startswith(prefix))
                                               .order_by(AuditEntry.seq)).scalars().all())


def map_code(session, analyzer_id: int, code: str, loinc: str, unit: str = "") -> None:
    set_code(session, session.get(Analyzer, analyzer_id), code, loinc, unit)




@both_databases
async def test_mapped_codes_are_filed_in_the_catalogue_unit(context, mllp_port):
    chemistry = context.db.call(register_analyzer, "BS-240", "fac-a")
    context.db.call(map_code, chemistry, "10003", GLUCOSE, "mg/dL")
    context.db.call(map_code, chemistry, "10011", POTASSIUM)
    answer = await send_mllp(mllp_port, oru("fac-a-1", [("NM", "10003^GLU^99MRC", "90", ""),
                                                       ("NM", "10011^K^99MRC", "4.1", "mmol/L")],
                                           sender="BS-240", control="M1"))
    assert msa(answer)[1:3] == ["AA", "M1"]
    filed = results(context)
    assert filed[GLUCOSE].value_num == pytest.approx(4.9959) and filed[GLUCOSE].unit == "mmol/L"
    assert filed[GLUCOSE].flag == "N" and filed[POTASSIUM].value_num == pytest.approx(4.1)
    # A unit that contradicts the map is refused, not converted by guesswork.
    wrong = await send_mllp(mllp_port, oru("fac-a-2", [("NM", "10003^GLU^99MRC", "5.2", "mmol/L")],
                                          sender="BS-240", control="M2"))
    assert msa(wrong)[1] == "AE" and "not the mapped unit 'mg/dL'" in msa(wrong)[3]
    assert len(results(context)) == 2
    # Another analyzer's codes mean nothing here: held for review.
    context.db.call(register_analyzer, "BC-5380", "fac-a")
    other = await send_mllp(mllp_port, oru("fac-a-2", [("NM", "10003^GLU^99MRC", "90", "")], control="M3"))
    assert msa(other)[1] == "AE" and "unknown test code" in msa(other)[3]


@both_databases
async def test_map_and_file_again_from_the_review_queue(context, mllp_port, client, login):
    chemistry = context.db.call(register_analyzer, "BS-240", "fac-a")
    message = oru("fac-a-1", [("NM", "2823-3^K^LN", "4.1", "mmol/L"), ("NM", "10007^CREA^99MRC", "1.2", "")],
                  sender="BS-240", control="H1")
    assert msa(await send_mllp(mllp_port, message))[1] == "AE"
    doc_a = await login("doc-a")
    [item] = await (await client.get("/api/labs/held", headers=doc_a)).json()
    assert item["analyzer"] == "BS-240"
    assert item["unknown_codes"] == [{"code": "10007", "text": "CREA", "unit": ""}]
    url = f"/api/labs/held/{item['id']}/map"
    body = {"code": "10007", "loinc": CREATININE, "unit": "mg/dL"}
    assert (await client.post(url, json=body, headers=await login("spec-1"))).status == 403
    assert (await client.post(url, json=body, headers=await login("doc-b"))).status == 404
    refused = {(400, "unknown field"): {**body, "factor": "2"}, (400, "unit: must be a string"): {**body, "unit": 1},
               (422, "not in the catalogue"): {**body, "loinc": "0000-0"},
               (422, "cannot be converted"): {**body, "unit": "g/L"}}
    for (status, text), bad in refused.items():
        response = await client.post(url, json=bad, headers=doc_a)
        assert response.status == status and text in (await response.json())["error"]
    assert set(results(context)) == {POTASSIUM} and context.db.call(lambda s: s.execute(
        select(Analyzer)).scalars().one()).id == chemistry  # nothing changed by the refusals
    outcome = await (await client.post(url, json=body, headers=doc_a)).json()
    assert outcome["code"] == "AA"
    assert results(context)[CREATININE].value_num == pytest.approx(106.08)
    assert await (await client.get("/api/labs/held", headers=doc_a)).json() == []
    # Remembered: the analyzer's next message with that code is filed at once.
    again = oru("fac-a-2", [("NM", "10007^CREA^99MRC", "0.9", "")], sender="BS-240", control="H2")
    assert msa(await send_mllp(mllp_port, again))[1] == "AA"
    assert [e.reason for e in actions(context, "labs.map.set")] == [f"10007 -> {CREATININE} mg/dL"]
    assert [e.username for e in actions(context, "labs.held.retry")] == ["doc-a"]


@both_databases
async def test_analyzer_and_map_api(context, world, client, login):
    doc_a, doc_b = await login("doc-a"), await login("doc-b")
    body = {"name": "BC-5380 #1", "sending_application": "BC-5380", "sending_facility": "LAB",
            "addresses": ["192.168.10.21", "10.1.0.0/16"]}
    assert (await client.post("/api/labs/analyzers", json=body, headers=await login("spec-1"))).status == 403
    assert (await client.post("/api/labs/analyzers", json=body, headers=await login("admin"))).status == 403
    refusals = {(400, "unknown field"): {**body, "facility_id": "fac-b"},
                (400, "missing field(s): addresses"): {**body, "addresses": []},
                (422, "does not appear to be an IPv4 or IPv6 network"): {**body, "addresses": ["10.0.0.300"]},
                (422, "64 hexadecimal digits"): {**body, "cert_fingerprint": "abc"}}
    for (status, text), bad in refusals.items():
        response = await client.post("/api/labs/analyzers", json=bad, headers=doc_a)
        assert response.status == status and text in (await response.json())["error"], text
    created = await client.post("/api/labs/analyzers", json=body, headers=doc_a)
    assert created.status == 201
    analyzer = await created.json()
    assert analyzer["facility_id"] == "fac-a" and analyzer["addresses"] == ["192.168.10.21/32", "10.1.0.0/16"]
    duplicate = await client.post("/api/labs/analyzers", json={**body, "name": "again"}, headers=doc_b)
    assert duplicate.status == 422 and "already registered as 'BC-5380 #1'" in (await duplicate.json())["error"]
    assert await (await client.get("/api/labs/analyzers", headers=doc_b)).json() == []
    codes = f"/api/labs/analyzers/{analyzer['id']}/codes"
    assert (await client.post(codes, json={"code": "10013", "loinc": "777-3"}, headers=doc_b)).status == 404
    put = await client.post(codes + "?lang=en", json={"code": "10013", "loinc": "777-3", "unit": "10^3/uL"},
                            headers=doc_a)
    assert put.status == 201 and (await put.json())["unit"] == "10*3/uL"
    [entry] = await (await client.get(codes + "?lang=en", headers=doc_a)).json()
    assert entry["test"] == "PLT Platelets" and entry["catalogue_unit"] == "10*9/L"
    assert (await client.delete(f"{codes}/10013", headers=doc_b)).status == 404
    assert (await client.delete(f"{codes}/10013", headers=doc_a)).status == 204
    assert (await client.delete(f"{codes}/10013", headers=doc_a)).status == 404
    assert (await client.delete(f"/api/labs/analyzers/{analyzer['id']}", headers=doc_b)).status == 404
    assert (await client.delete(f"/api/labs/analyzers/{analyzer['id']}", headers=doc_a)).status == 204
    assert await (await client.get("/api/labs/analyzers", headers=doc_a)).json() == []
    trail = [(e.action, e.username, e.outcome) for e in actions(context, "labs.")]
    assert ("labs.analyzer.add", "doc-a", "allowed") in trail and ("labs.analyzer.remove", "doc-a", "allowed") in trail
    assert ("labs.map.set", "doc-a", "allowed") in trail and ("labs.map.remove", "doc-a", "allowed") in trail
    assert ("labs.analyzer.add", "spec-1", "denied") in trail


def test_cli_registry_and_map(settings, world):
    added = telemed(settings, "labs", "analyzer", "add", "BS-240", "--facility", "fac-a", "--application", "BS-240",
                    "--address", "192.168.10.30", "--address", "192.168.11.0/24")
    assert added.returncode == 0, added.stderr
    assert "files for fac-a, from 192.168.10.30/32,192.168.11.0/24" in added.stdout
    bad = telemed(settings, "labs", "analyzer", "add", "X", "--facility", "hosp-1", "--application", "X",
                  "--address", "10.0.0.1")
    assert bad.returncode == 2 and "no facility 'hosp-1'" in bad.stderr
    assert telemed(settings, "labs", "map", "set", "BS-240", "10003", GLUCOSE, "--unit", "mg/dl").returncode == 0
    refused = telemed(settings, "labs", "map", "set", "BS-240", "10004", GLUCOSE, "--unit", "g/L")
    assert refused.returncode == 2 and "cannot be converted for GLU" in refused.stderr
    listed = telemed(settings, "labs", "map", "list", "BS-240")
    assert listed.stdout.splitlines() == [f"10003\t{GLUCOSE}\tGLU Glucose\tmg/dL"]
    assert "BS-240\tMSH-3 'BS-240'" in telemed(settings, "labs", "analyzer", "list").stdout
    assert telemed(settings, "labs", "map", "remove", "BS-240", "10003").returncode == 0
    assert telemed(settings, "labs", "map", "remove", "BS-240", "10003").returncode == 2
    assert telemed(settings, "labs", "analyzer", "remove", "BS-240").returncode == 0
    assert telemed(settings, "labs", "analyzer", "list").stdout == ""
