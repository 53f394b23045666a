"""A person's correction on the labs page, a result's history, and bad bodies answered 4xx."""

from __future__ import annotations

import aiohttp
from sqlalchemy import select

from labs.models import LabAlert, LabResult
from tests.conftest import both_databases
from tests.labs_support import HGB, POTASSIUM, enter
from telemed.models import ConsultAccess, ConsultShare
from telemed.timeutil import utcnow

GLUCOSE = "14749-6"


def alerts(context) -> list[LabAlert]:
    return context.db.call(lambda s: s.execute(select(LabAlert).order_by(LabAlert.id)).scalars().all())


@both_databases
async def test_a_correction_names_its_reason_keeps_the_original_and_reruns_the_alert_rules(client, login, context,
                                                                                            world):
    doc = await login("doc-a")
    filed = await (await enter(client, doc, "fac-a-p1", [(POTASSIUM, "7.4"), (GLUCOSE, "<1.0")])).json()
    [k] = [r for r in filed["results"] if r["loinc"] == POTASSIUM]
    url = f"/api/labs/results/{k['observation_id']}/correct"
    assert len(alerts(context)) == 2  # K 7.4 HH and glucose <1.0 LL
    no_reason = await client.post(url, json={"value": "4.4", "reason": ""}, headers=doc)
    assert no_reason.status == 422 and (await no_reason.json())["field"] == "reason"
    same = await client.post(url, json={"value": "7.4", "reason": "typo"}, headers=doc)
    assert same.status == 422
    bad = await client.post(url, json={"value": "4,4", "reason": "typo"}, headers=doc)
    assert bad.status == 422 and "not a number" in (await bad.json())["error"]
    for username in ("doc-b", "spec-1", "officer-a", "admin"):
        denied = await client.post(url, json={"value": "4.4", "reason": "x"}, headers=await login(username))
        assert denied.status in (403, 404), username
    done = await client.post(url, json={"value": "4.4", "reason": "transcribed from the wrong tube"}, headers=doc)
    assert done.status == 200, await done.text()
    [row] = context.db.call(lambda s: s.execute(select(LabResult).where(LabResult.loinc == POTASSIUM)).scalars().all())
    assert (row.status, row.value_num, row.flag, row.source) == ("corrected", 4.4, "N", "manual")
    k_alert = next(a for a in alerts(context) if a.loinc == POTASSIUM)
    assert k_alert.closed_at is not None and k_alert.closed_note == "corrected: 4.4 mmol/L (N)"
    listed = await (await client.get("/api/labs/alerts", headers=doc)).json()
    assert [a["test"] for a in listed] == ["GLU"]  # the corrected-away alert left the open list

    history = await (await client.get(f"/api/labs/results/{k['observation_id']}/history?lang=en", headers=doc)).json()
    assert history["columns"]["result"] == "Result"
    assert [(v["value"], v["status"]) for v in history["versions"]] == [("7.4 mmol/L", "final"),
                                                                         ("4.4 mmol/L", "corrected")]
    assert history["versions"][1]["marks"] == ["Corrected"]
    assert history["versions"][1]["notes"] == ["transcribed from the wrong tube · doc-a"]
    zh = await (await client.get(f"/api/labs/results/{k['observation_id']}/history?lang=zh-CN", headers=doc)).json()
    assert zh["versions"][1]["marks"] == ["已更正"] and zh["columns"]["result"] == "结果"

    listing = await (await client.get("/api/labs/results?patient=fac-a-p1&lang=en", headers=doc)).json()
    by_test = {r["abbr"]: r for r in listing}
    assert by_test["K"]["marks"] == ["Corrected"] and by_test["K"]["value"] == "4.4"
    assert by_test["GLU"]["value"] == "<1" and by_test["GLU"]["censored"] and by_test["GLU"]["flag_label"] == "Critically low ↓↓"
    assert (await client.get("/api/labs/results?patient=fac-a-p1", headers=await login("doc-b"))).status == 403

    back = await client.post(url, json={"value": "6.9", "reason": "the first tube was right"}, headers=doc)
    assert back.status == 200 and len((await back.json())["alerts"]) == 1  # critical again: a new alert
    again = await (await client.get(f"/api/labs/results/{k['observation_id']}/history?lang=en", headers=doc)).json()
    assert [v["value"] for v in again["versions"]] == ["7.4 mmol/L", "4.4 mmol/L", "6.9 mmol/L"]
    assert len(again["versions"][2]["notes"]) == 2  # both reasons stay


async def test_a_specialist_sees_the_history_of_shared_results_only(client, login, context, world):
    doc = await login("doc-a")
    filed = await (await enter(client, doc, "fac-a-p1", [(POTASSIUM, "5.9"), (HGB, "150")])).json()
    ids = {r["loinc"]: r["observation_id"] for r in filed["results"]}

    def grant(session):
        session.add(ConsultAccess(consult_id="c1", patient_id="fac-a-p1", specialist_id=world.users["spec-1"],
                                  accepted_at=utcnow()))
        session.add(ConsultShare(consult_id="c1", resource_type="Observation", resource_id=ids[HGB]))

    context.db.call(grant)
    spec = await login("spec-1")
    assert (await client.get(f"/api/labs/results/{ids[HGB]}/history", headers=spec)).status == 200
    assert (await client.get(f"/api/labs/results/{ids[POTASSIUM]}/history", headers=spec)).status == 403
    shown = await (await client.get("/api/labs/results?patient=fac-a-p1", headers=spec)).json()
    assert [r["loinc"] for r in shown] == [HGB]
    assert (await client.get("/api/labs/results/nope/history", headers=doc)).status == 404


async def test_malformed_bodies_are_answered_4xx(client, login, context, world):
    doc = await login("doc-a")
    for path, body in (
        ("/api/labs/results", b"[1, 2]"),
        ("/api/labs/results", b'{"patient_id": "fac-a-p1", "results": "K=4"}'),
        ("/api/labs/results", b'{"patient_id": "fac-a-p1", "results": [1, 2]}'),
        ("/api/labs/results", b'{"patient_id": {"a": 1}, "results": []}'),
        ("/api/labs/results", b'{"patient_id": "fac-a-p1", "order_id": ["x"], "results": [{"loinc": "2823-3", "value": 4}]}'),
        ("/api/labs/results", b'{"patient_id": "fac-a-p1", "effective_at": 5, "results": [{"loinc": "2823-3", "value": 4}]}'),
        ("/api/labs/results", b'{"patient_id": "fac-a-p1", "results": [{"loinc": "2823-3", "value": {"v": 1}}]}'),
        ("/api/labs/check", b'{"patient_id": "fac-a-p1", "results": {"loinc": 1}}'),
        ("/api/labs/orders", b'{"patient_id": "fac-a-p1", "panels": 5}'),
        ("/api/labs/orders", b'{"patient_id": "fac-a-p1", "panels": [null]}'),
        ("/api/labs/orders", b"\xff\xfe not json"),
        ("/api/labs/alerts/99999999999999999999999/ack", b"{}"),
        ("/api/labs/held/99999999999999999999999/retry", b"{}"),
    ):
        response = await client.post(path, data=body, headers=doc | {"Content-Type": "application/json"})
        assert 400 <= response.status < 500, (path, body, response.status, await response.text())
    assert context.db.call(lambda s: s.execute(select(LabResult)).scalars().all()) == []

    implausible = await enter(client, doc, "fac-a-p1", [(POTASSIUM, "1e308")])
    assert implausible.status == 422 and "not plausible" in (await implausible.json())["error"]
    assert alerts(context) == []

    empty = await client.post("/api/labs/import", data=b"", headers=doc | {
        "Content-Type": "multipart/form-data; boundary=XYZ"})
    assert empty.status == 400, await empty.text()
    form = aiohttp.FormData()
    form.add_field("profile", "generic")
    form.add_field("file", b"PK\x03\x04garbage", filename="results.xlsx")
    broken = await client.post("/api/labs/import", data=form, headers=doc)
    assert broken.status == 400 and "cannot read" in (await broken.json())["error"]
    form = aiohttp.FormData()
    form.add_field("profile", "generic")
    form.add_field("file", b"", filename="empty.csv")
    nothing = await client.post("/api/labs/import", data=form, headers=doc)
    assert nothing.status == 400
