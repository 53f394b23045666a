"""Outside referrals through the API: the doctor's decision makes the ServiceRequest and the
escort task; the officers record departure, arrival and return (an Encounter); the summary brought
back is attached as a DocumentReference; an emergency's clock runs from decision to departure.
Officers never read the reason; other facilities and roles are refused. The monthly figures
count the trips and the trips avoided by consults, exported as CSV and XLSX."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import openpyxl
from sqlmodel import select

from custody.models import CustodyTask, Referral
from ehr import store
from telemed.models import AuditEntry
from tests.conftest import both_databases

REASON = "Suspected appendicitis, needs a surgical opinion"
PDF = b"%PDF-1.4\n%%EOF\n"


def body(**changes) -> dict:
    return {"patient_id": "fac-a-p1", "urgency": "urgent", "hospital": "City Hospital", "department": "Surgery",
            "reason": REASON, "security_level": "enhanced"} | changes


async def call(client, method, url, headers, json=None, status=200):
    response = await client.request(method, url, headers=headers, json=json)
    assert response.status == status, await response.text()
    return await response.json()


async def attach(client, referral_id, headers, data=PDF, content_type="application/pdf"):
    from aiohttp import FormData
    form = FormData()
    form.add_field("title", "Discharge note")
    form.add_field("file", data, filename="summary.pdf", content_type=content_type)
    return await client.post(f"/api/custody/referrals/{referral_id}/summary", headers=headers, data=form)


@both_databases
async def test_a_referral_from_decision_to_return(client, login, context, world, db_kind):
    doc, guard = await login("doc-a"), await login("guard-a")
    leave = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(microsecond=0)
    made = await call(client, "POST", "/api/custody/referrals", doc, body(leave_at=leave.isoformat()), status=201)
    assert made["step"] == "requested" and made["reason"] == REASON and made["leave_at"] == leave.isoformat()
    request = context.db.call(store.read, "ServiceRequest", made["id"]).resource
    assert request["priority"] == "urgent" and request["reasonCode"][0]["text"] == REASON
    assert request["subject"]["reference"] == "Patient/fac-a-p1" and request["status"] == "active"

    # The officer's escort: time, place and security level; no reason anywhere.
    [escort] = await call(client, "GET", "/api/custody/tasks", guard)
    assert escort["kind"] == "escort" and escort["place"] == "City Hospital · Surgery"
    assert escort["security_level"] == "enhanced" and escort["due"] == leave.isoformat()
    assert escort["step"] == "requested" and escort["referral"] == made["id"]
    listed = await call(client, "GET", "/api/custody/referrals", guard)
    assert "appendicitis" not in str(escort) + str(listed) and "reason" not in listed[0]
    task = context.db.call(store.read, "Task", escort["id"]).resource
    assert "appendicitis" not in str(task)

    # A summary cannot come back before the visit; steps go in order.
    assert (await attach(client, made["id"], doc)).status == 409
    await call(client, "POST", f"/api/custody/referrals/{made['id']}/arrived", guard, status=409)
    for step in ("departed", "arrived"):
        shown = await call(client, "POST", f"/api/custody/referrals/{made['id']}/{step}", guard)
        assert shown["step"] == step and shown[f"{step}_at"]
    # Under way, the escort stays on the officer's list with its stage.
    [escort] = await call(client, "GET", "/api/custody/tasks", guard)
    assert escort["state"] == "brought" and escort["step"] == "arrived"
    assert (await attach(client, made["id"], guard)).status == 403  # the document is clinical: doctors attach it
    assert (await attach(client, made["id"], doc, b"MZ", "application/x-msdownload")).status == 400
    response = await attach(client, made["id"], doc)
    assert response.status == 200 and (await response.json())["has_summary"]
    summary = await client.get(f"/api/custody/referrals/{made['id']}/summary", headers=doc)
    assert summary.status == 200 and await summary.read() == PDF
    assert (await client.get(f"/api/custody/referrals/{made['id']}/summary", headers=guard)).status == 403
    back = await call(client, "POST", f"/api/custody/referrals/{made['id']}/returned", guard)
    assert back["step"] == "returned"
    assert await call(client, "GET", "/api/custody/tasks", guard) == []

    row = context.db.call(lambda s: s.get(Referral, made["id"]))
    encounter = context.db.call(store.read, "Encounter", row.encounter_id).resource
    assert encounter["status"] == "finished" and encounter["class"]["code"] == "AMB"
    assert encounter["basedOn"][0]["reference"] == f"ServiceRequest/{made['id']}"
    assert encounter["period"]["start"] == back["departed_at"] and encounter["period"]["end"] == back["returned_at"]
    document = context.db.call(store.read, "DocumentReference", row.summary_id).resource
    assert document["context"]["related"][0]["reference"] == f"ServiceRequest/{made['id']}"
    assert context.db.call(store.read, "ServiceRequest", made["id"]).resource["status"] == "completed"
    context.audit.flush()
    trail = context.db.call(lambda s: {(r.username, r.action, r.outcome) for r in s.exec(
        select(AuditEntry).where(AuditEntry.patient_id == "fac-a-p1")).all()})
    assert {("doc-a", "custody.referral.create", "allowed"), ("guard-a", "custody.referral.departed", "allowed"),
            ("guard-a", "custody.referral.returned", "allowed"), ("doc-a", "custody.referral.summary", "allowed"),
            ("guard-a", "custody.referral.summary", "denied")} <= trail


async def test_an_emergency_leaves_now_and_its_clock_stops_at_departure(client, login, context, world):
    doc, guard = await login("doc-a"), await login("guard-a")
    later = (datetime.now(timezone.utc) + timedelta(hours=5)).isoformat()
    made = await call(client, "POST", "/api/custody/referrals", doc,
                      body(urgency="emergency", security_level="high", leave_at=later), status=201)
    assert made["leave_at"] == made["decided_at"] and made["minutes_to_departure"] is None

    def decided_earlier(session):  # the decision was 17 minutes ago
        row = session.get(Referral, made["id"])
        row.decided_at = row.decided_at - timedelta(minutes=17)
        session.add(row)
    context.db.call(decided_earlier)
    [escort] = await call(client, "GET", "/api/custody/tasks", guard)
    assert escort["urgency"] == "emergency" and escort["security_level"] == "high"
    assert escort["decided_at"] < made["decided_at"]
    gone = await call(client, "POST", f"/api/custody/referrals/{made['id']}/departed", guard)
    assert gone["minutes_to_departure"] == 17
    [listed] = await call(client, "GET", "/api/custody/referrals", doc)
    assert listed["minutes_to_departure"] == 17
    assert context.db.call(store.read, "ServiceRequest", made["id"]).resource["priority"] == "stat"


async def test_referral_refusals_change_nothing(client, login, context, world):
    doc = await login("doc-a")
    for change, field in (({"urgency": "soon"}, "urgency"), ({"security_level": "none"}, "security_level"),
                          ({"hospital": " "}, "hospital"), ({"reason": "x" * 2001}, "reason"),
                          ({"leave_at": "tomorrow"}, "leave_at"),
                          ({"leave_at": "2020-01-01T08:00:00+08:00"}, "leave_at")):
        answer = await call(client, "POST", "/api/custody/referrals", doc, body(**change), status=400)
        assert answer["field"] == field, change
    for username, patient, status in (("doc-b", "fac-a-p1", 403), ("guard-a", "fac-a-p1", 403),
                                      ("officer-a", "fac-a-p1", 403), ("spec-1", "fac-a-p1", 403)):
        await call(client, "POST", "/api/custody/referrals", await login(username), body(patient_id=patient),
                   status=status)
    assert context.db.call(lambda s: s.exec(select(Referral)).all()) == []
    assert context.db.call(lambda s: s.exec(select(CustodyTask)).all()) == []

    made = await call(client, "POST", "/api/custody/referrals", doc, body(), status=201)
    for username in ("guard-b", "doc-b"):
        await call(client, "POST", f"/api/custody/referrals/{made['id']}/departed", await login(username), status=404)
    await call(client, "POST", f"/api/custody/referrals/{made['id']}/cancel", await login("guard-a"), status=403)
    await call(client, "GET", "/api/custody/referrals", await login("admin"), status=403)
    await call(client, "GET", "/api/custody/referrals", await login("spec-1"), status=403)
    assert await call(client, "GET", "/api/custody/referrals", await login("doc-b")) == []
    cancelled = await call(client, "POST", f"/api/custody/referrals/{made['id']}/cancel", doc)
    assert cancelled["step"] == "cancelled"
    assert await call(client, "GET", "/api/custody/tasks", await login("guard-a")) == []
    assert context.db.call(store.read, "ServiceRequest", made["id"]).resource["status"] == "revoked"
    await call(client, "POST", f"/api/custody/referrals/{made['id']}/departed", doc, status=409)


async def test_monthly_figures_exported_as_csv_and_xlsx(client, login, context, world):
    doc, guard, officer = await login("doc-a"), await login("guard-a"), await login("officer-a")
    for urgency in ("routine", "emergency"):
        made = await call(client, "POST", "/api/custody/referrals", doc, body(urgency=urgency), status=201)
        await call(client, "POST", f"/api/custody/referrals/{made['id']}/departed", guard)
    now = datetime.now(timezone.utc).astimezone(context.settings.tz)
    query = f"year={now.year}&month={now.month}&lang=en"
    response = await client.get(f"/custody/figures.csv?{query}", headers=officer)
    assert response.status == 200 and response.content_type == "text/csv"
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert rows[0][:4] == ["Month", "Outside trips", "Emergency transfers", "Trips avoided by video consults"]
    assert len(rows) == 13 and rows[-1][:4] == [f"{now.year}-{now.month:02d}", "2", "1", "0"]
    # The care workflows' clocks (package care): sick calls and screenings, by their labels.
    assert {"Sick calls seen within their clock", "Screenings on time"} <= set(rows[0][4:])
    response = await client.get(f"/custody/figures.xlsx?{query}", headers=officer)
    assert response.status == 200
    sheet = openpyxl.load_workbook(io.BytesIO(await response.read())).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][1] == "Outside trips" and values[-1][:4] == (f"{now.year}-{now.month:02d}", 2, 1, 0)
    page = await client.get(f"/custody/figures?{query}", headers=officer)
    assert page.status == 200 and "<svg" in await page.text()
    for refused in (doc, guard, await login("admin")):
        assert (await client.get(f"/custody/figures.xlsx?{query}", headers=refused)).status == 403
    assert (await client.get("/custody/figures.csv?year=2026&month=13", headers=officer)).status == 400
