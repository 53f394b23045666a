"""The consult workflow through the API: request, triage, confirm, custody facts, sign; every
step in the record and audited; who may read what."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import select

from ehr import store
from telemed.models import AuditEntry, ConsultAccess, ConsultShare
from telemed.timeutil import utcnow
from tests.conftest import both_databases
from tests.consults_support import PATIENT, add_outside_specialist, call, observation, requested, scheduled, start_call
from webrtc.models import Consult


@both_databases
async def test_whole_workflow_writes_the_record_and_audits(client, login, context, world):
    obs = context.db.call(observation)
    consult = await requested(client, login, share=[{"type": "Observation", "id": obs}])
    cid = consult["id"]
    assert consult["status"] == "requested" and consult["shared"] == [{"type": "Observation", "id": obs, "produced": False}]
    sr = context.db.call(store.read, "ServiceRequest", cid).resource
    assert sr["category"][0]["coding"][0]["code"] == "consult"
    assert sr["performer"][0]["reference"] == "Organization/hosp-1"
    assert sr["supportingInfo"] == [{"reference": f"Observation/{obs}"}]

    spec = await login("spec-1")
    lists = await call(client, "GET", "/api/consults", spec)
    waiting = lists["awaiting_decision"]
    assert [c["id"] for c in waiting] == [cid] and "patient_id" not in waiting[0]
    await call(client, "GET", f"/api/consults/{cid}/items", spec, status=403)  # not before accepting

    start = (utcnow() + timedelta(hours=2)).isoformat()
    accepted = await call(client, "POST", f"/api/consults/{cid}/triage", spec,
                          {"decision": "accept", "proposed_start": start})
    assert accepted["status"] == "accepted" and accepted["patient_id"] == PATIENT
    items = await call(client, "GET", f"/api/consults/{cid}/items", spec)
    assert [row["loinc"] for entry in items["entries"] for row in entry["rows"]] == ["2823-3"]

    doc = await login("doc-a")
    confirmed = await call(client, "POST", f"/api/consults/{cid}/confirm", doc, {})
    appointment = context.db.call(store.read, "Appointment", confirmed["appointment_id"]).resource
    assert appointment["status"] == "booked" and appointment["participant"][0]["actor"]["reference"] == f"Patient/{PATIENT}"
    facts = await call(client, "POST", f"/api/consults/{cid}/custody", doc, {
        "consult_consent": True, "recording_consent": False, "officer_present": True, "security_note": "cuffed"})
    consents = [context.db.call(store.read, "Consent", facts["custody"][k]).resource["provision"]["type"]
                for k in ("consult_consent_id", "recording_consent_id")]
    assert consents == ["permit", "deny"]

    start_call(context, cid)
    assert [c["id"] for c in (await call(client, "GET", "/api/consults", spec))["awaiting_signature"]] == [cid]
    await call(client, "PUT", f"/api/consults/{cid}/draft", spec, {"note": "Stable angina likely.",
                                                                    "outcome": "treat-on-site"})
    events = await client.ws_connect("/ws/events", headers=doc)
    signed = await call(client, "POST", f"/api/consults/{cid}/sign", spec, {
        "recommendations": "Aspirin; exercise ECG in 2 weeks.",
        "diagnoses": [{"code": "I20.9", "display": "Angina pectoris, unspecified"}],
        "prescriptions": [{"medication": "Aspirin", "dose_value": 100, "dose_unit": "mg", "route": "oral",
                           "frequency": "qd", "duration_days": 14}]})
    assert signed["status"] == "signed" and signed["outcome"] == "treat-on-site"
    pushed = await asyncio.wait_for(events.receive_json(), 5)
    assert pushed["type"] == "consult.signed" and pushed["consult_id"] == cid
    await events.close()

    produced = {(s["type"]) for s in signed["shared"] if s["produced"]}
    assert produced == {"DocumentReference", "Condition", "MedicationRequest"}
    record = {s.type for s in context.db.call(store.by_patient, PATIENT)}
    assert {"ServiceRequest", "Appointment", "Consent", "DocumentReference", "Condition", "MedicationRequest"} <= record
    note = context.db.call(store.read, "DocumentReference", signed["note_id"]).resource
    assert note["type"]["coding"][0]["code"] == "11488-4"
    assert context.db.call(store.read, "ServiceRequest", cid).resource["status"] == "completed"
    access = context.db.call(lambda s: s.exec(select(ConsultAccess).where(ConsultAccess.consult_id == cid)).one())
    assert access.closed_at is not None
    # Still readable during the 30-day grace, including what was produced.
    assert len((await call(client, "GET", f"/api/consults/{cid}/items", spec))["entries"]) == 4
    assert (await call(client, "GET", "/api/consults/outcomes", doc))["trips_avoided"] == 1

    context.audit.flush()
    actions = set(context.db.call(lambda s: s.exec(select(AuditEntry.action).where(
        AuditEntry.patient_id == PATIENT, AuditEntry.outcome == "allowed")).all()))
    assert {"consult.request", "consult.triage", "consult.confirm", "consult.custody", "consult.sign"} <= actions


async def test_outsiders_can_neither_read_nor_act(client, login, context, world):
    add_outside_specialist(context, world)
    consult = await requested(client, login)
    cid = consult["id"]
    outsider = await login("spec-x")
    await call(client, "GET", f"/api/consults/{cid}", outsider, status=403)
    await call(client, "POST", f"/api/consults/{cid}/triage", outsider,
               {"decision": "accept", "proposed_start": utcnow().isoformat()}, status=403)
    assert (await call(client, "GET", "/api/consults", outsider))["awaiting_decision"] == []
    await call(client, "POST", f"/api/consults/{cid}/triage", await login("spec-1"),
               {"decision": "accept", "proposed_start": utcnow().isoformat()})
    other = await login("spec-2")  # same hospital and specialty, but not assigned
    await call(client, "GET", f"/api/consults/{cid}", other, status=403)
    await call(client, "GET", f"/api/consults/{cid}/items", other, status=403)
    await call(client, "GET", f"/api/consults/{cid}", await login("doc-b"), status=403)
    context.audit.flush()
    denied = context.db.call(lambda s: s.exec(select(AuditEntry.username).where(
        AuditEntry.patient_id == PATIENT, AuditEntry.outcome == "denied")).all())
    assert {"spec-x", "spec-2", "doc-b"} <= set(denied)


async def test_request_checks_its_input(client, login, context, world):
    foreign = context.db.call(observation, "fac-b-p1")
    doc = await login("doc-a")
    base = {"patient_id": PATIENT, "hospital_id": "hosp-1", "specialty": "cardiology", "urgency": "routine",
            "question": "?"}
    await call(client, "POST", "/api/consults", doc, {**base, "share": [{"type": "Observation", "id": foreign}]},
               status=422)
    await call(client, "POST", "/api/consults", doc, {**base, "urgency": "whenever"}, status=422)
    await call(client, "POST", "/api/consults", doc, {**base, "hospital_id": "fac-b"}, status=422)
    await call(client, "POST", "/api/consults", await login("doc-b"), base, status=403)
    await call(client, "POST", "/api/consults", await login("spec-1"), base, status=403)


async def test_decline_needs_a_reason_and_closes_the_request(client, login, context, world):
    cid = (await requested(client, login))["id"]
    spec = await login("spec-1")
    await call(client, "POST", f"/api/consults/{cid}/triage", spec, {"decision": "decline"}, status=422)
    declined = await call(client, "POST", f"/api/consults/{cid}/triage", spec,
                          {"decision": "decline", "reason": "needs in-person echo"})
    assert declined["status"] == "declined"
    assert context.db.call(store.read, "ServiceRequest", cid).resource["status"] == "revoked"
    await call(client, "POST", f"/api/consults/{cid}/triage", spec, {"decision": "decline", "reason": "x"}, status=409)
    # the declined request is in the history of its hospital's cardiologists, and of no other
    # hospital's, even without the detainee's name
    add_outside_specialist(context, world)
    assert cid in [c["id"] for c in await call(client, "GET", "/api/consults/history", spec)]
    elsewhere = await call(client, "GET", "/api/consults/history", await login("spec-x"))
    assert cid not in [c["id"] for c in elsewhere]


async def test_emergency_rings_the_on_duty_specialists(client, login, context, world):
    ringing = await client.ws_connect("/ws/events", headers=await login("spec-1"))
    consult = await requested(client, login, urgency="emergency")
    message = await asyncio.wait_for(ringing.receive_json(), 5)
    assert message["type"] == "consult.ring" and message["consult_id"] == consult["id"]
    assert message["severity"] == "critical"
    await ringing.close()


async def test_invited_specialist_gets_their_own_window(client, login, context, world):
    consult = await scheduled(client, login)
    cid = consult["id"]
    await call(client, "GET", f"/api/consults/{cid}", await login("spec-2"), status=403)
    await call(client, "POST", f"/api/consults/{cid}/invite", await login("spec-1"),
               {"user_id": world.users["spec-2"], "kind": "specialist"})
    seen = await call(client, "GET", f"/api/consults/{cid}", await login("spec-2"))
    assert seen["invited"] == [{"user_id": world.users["spec-2"], "kind": "specialist"}]
    await call(client, "POST", f"/api/consults/{cid}/invite", await login("doc-a"),
               {"user_id": world.users["doc-b"], "kind": "interpreter"}, status=422)


def _change(context, consult_id: str, **values) -> None:
    def change(session) -> None:
        consult = session.get(Consult, consult_id)
        for name, value in values.items():
            setattr(consult, name, value)
        session.add(consult)
    context.db.call(change)


async def test_breached_deadlines_are_flagged(client, login, context, world):
    cid = (await requested(client, login))["id"]
    doc = await login("doc-a")
    assert (await call(client, "GET", f"/api/consults/{cid}", doc))["flags"]["decision_overdue"] is False

    _change(context, cid, decision_due=utcnow() - timedelta(minutes=1))
    listed = (await call(client, "GET", "/api/consults", doc))["awaiting_decision"][0]
    assert listed["flags"] == {"decision_overdue": True, "signature_overdue": False}

    held = (await scheduled(client, login))["id"]
    start_call(context, held)

    _change(context, held, sign_due=utcnow() - timedelta(seconds=1))
    unsigned = (await call(client, "GET", "/api/consults", doc))["awaiting_signature"][0]
    assert unsigned["id"] == held and unsigned["flags"]["signature_overdue"] is True


async def test_sign_only_by_the_assigned_specialist_with_an_outcome(client, login, context, world):
    cid = (await scheduled(client, login))["id"]
    spec = await login("spec-1")
    body = {"note": "fine", "outcome": "treat-on-site"}
    await call(client, "POST", f"/api/consults/{cid}/sign", spec, body, status=409)  # no call yet
    start_call(context, cid)
    await call(client, "POST", f"/api/consults/{cid}/sign", spec, {"note": "fine", "outcome": "maybe"}, status=422)
    await call(client, "POST", f"/api/consults/{cid}/sign", await login("doc-a"), body, status=403)
    signed = await call(client, "POST", f"/api/consults/{cid}/sign", spec, {**body, "outcome": "transfer-to-hospital"})
    assert signed["status"] == "signed"
    counts = await call(client, "GET", "/api/consults/outcomes", spec)
    assert counts["transfer-to-hospital"] == 1 and counts["trips_avoided"] == 0
    shares = context.db.call(lambda s: s.exec(select(ConsultShare).where(ConsultShare.consult_id == cid)).all())
    assert [s.resource_type for s in shares] == ["DocumentReference"]


async def test_a_specialists_part_is_decided_at_the_instant_asked(client, login, context, world):
    """role_in weighs the consult window at the instant it is given, not at the present: a window
    that closed long ago was open then."""
    from telemed.security import principal_of
    from telemed.models import User
    from webrtc.seeing import role_in

    cid = (await scheduled(client, login))["id"]
    accepted, closed = utcnow() - timedelta(days=50), utcnow() - timedelta(days=40)

    def weigh(session):
        access = session.exec(select(ConsultAccess).where(ConsultAccess.consult_id == cid)).one()
        access.accepted_at, access.closed_at = accepted, closed
        session.add(access)
        session.flush()
        spec = principal_of(session.exec(select(User).where(User.username == "spec-1")).one())
        consult = session.get(Consult, cid)
        return role_in(session, spec, consult, closed), role_in(session, spec, consult)
    assert context.db.call(weigh) == ("specialist", None)
