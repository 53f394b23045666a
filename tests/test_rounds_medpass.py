"""The medication pass through the JSON routes, on SQLite and PostgreSQL: the administration record
from active prescriptions, a whole pill line with every outcome stored as MedicationAdministration,
the witnesses (two and a count for a controlled medicine), the wrong-detainee guard and its
recorded override, the refusal and missed-dose flags, and adherence."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from tests.conftest import both_databases
from tests.rounds_support import audited, prescribe

P1, P2, P3 = "fac-a-p1", "fac-a-p2", "fac-a-p3"
TODAY = date.today()


def key_on(line: dict, patient_id: str, medicine: str) -> str:
    [dose] = [d for d in line["doses"] if d["patient_id"] == patient_id and d["medicine"] == medicine]
    return dose["key"]


def on_day(key: str, days_ago: int) -> str:
    request, _day, slot = key.split("/")
    return f"{request}/{(TODAY - timedelta(days=days_ago)).isoformat()}/{slot}"


async def flags_of(client, headers, patient_id: str) -> list[str]:
    bundle = await (await client.get(f"/fhir/Flag?patient={patient_id}", headers=headers)).json()
    return sorted(e["resource"]["code"]["coding"][0]["code"] for e in bundle.get("entry", []))


async def missed(client, headers, patient_id: str) -> list[str]:
    """The dose keys flagged as missed."""
    bundle = await (await client.get(f"/fhir/Flag?patient={patient_id}&code=missed-dose", headers=headers)).json()
    return sorted(e["resource"]["identifier"][0]["value"].removeprefix("missed-dose:") for e in bundle.get("entry", []))


async def administrations(client, headers, patient_id: str) -> list[dict]:
    bundle = await (await client.get(f"/fhir/MedicationAdministration?patient={patient_id}", headers=headers)).json()
    return [e["resource"] for e in bundle.get("entry", [])]


@both_databases
async def test_a_whole_pill_line(client, login, context, world):
    doctor = await login("doc-a")
    officer, second = world.users["guard-a"], world.users["officer-a"]  # the custody officer, then a colleague
    await prescribe(client, doctor, P1, "Amlodipine", "qd", days_ago=3)
    await prescribe(client, doctor, P2, "Metformin", "bid")
    await prescribe(client, doctor, P3, "Diazepam", "qd")
    await prescribe(client, doctor, P1, "Ibuprofen", "prn")  # as needed: never on the line

    response = await client.get("/api/rounds/pills?slot=morning", headers=doctor)
    assert response.status == 200, await response.text()
    line = await response.json()
    assert sorted((d["patient_id"], d["medicine"], d["controlled"], d["route"]) for d in line["doses"]) == [
        (P1, "Amlodipine", False, "oral"), (P2, "Metformin", False, "oral"), (P3, "Diazepam", True, "oral")]
    assert line["blocks"] == ["1"]
    evening = await (await client.get("/api/rounds/pills?slot=evening", headers=doctor)).json()
    assert [d["medicine"] for d in evening["doses"]] == ["Metformin"]

    # yesterday's morning dose of amlodipine was never recorded: missed, flagged once (today's
    # too, when this runs after its window); the sweep looks back over today and yesterday only
    amlodipine = key_on(line, P1, "Amlodipine")
    flagged = await missed(client, doctor, P1)
    assert on_day(amlodipine, 1) in flagged and set(flagged) <= {amlodipine, on_day(amlodipine, 1)}
    await client.get("/api/rounds/pills?slot=morning", headers=doctor)
    assert await missed(client, doctor, P1) == flagged

    async def give(key: str, outcome: str, identified: str, **extra) -> tuple[int, dict]:
        response = await client.post("/api/rounds/doses", headers=doctor, json={
            "dose": key, "outcome": outcome, "identified": identified, "witness": officer, **extra})
        return response.status, await response.json()

    # refusals three days running flag the doctor on the third
    assert (await give(on_day(amlodipine, 3), "refused", P1))[0] == 201
    assert (await give(on_day(amlodipine, 2), "refused", P1))[1]["flags"] == []
    status, body = await give(on_day(amlodipine, 1), "refused", P1)
    assert status == 201 and body["flags"] == ["refusals"]
    assert "refusals" in await flags_of(client, doctor, P1)
    status, body = await give(amlodipine, "given", P1)
    assert status == 201 and body["flags"] == []
    assert (await give(amlodipine, "given", P1))[0] == 409  # one dose is recorded once

    metformin = key_on(line, P2, "Metformin")
    status, body = await give(metformin, "held", P2)
    assert (status, body["field"]) == (422, "reason")
    assert (await give(metformin, "held", P2, reason="Nil by mouth before ultrasound"))[0] == 201
    assert (await give(key_on(evening, P2, "Metformin"), "unavailable", P2, reason="Out of stock"))[0] == 201
    assert (await give(metformin.replace("/morning", "/noon"), "given", P2))[0] == 404  # not on the record

    # a controlled medicine: a second witness, then a count that goes down by one
    diazepam = key_on(line, P3, "Diazepam")
    status, body = await give(diazepam, "given", P3)
    assert (status, body["field"]) == (422, "witness")
    assert (await give(diazepam, "given", P3, second_witness=officer))[1]["field"] == "witness"  # same person twice
    status, body = await give(diazepam, "given", P3, second_witness=second)
    assert (status, body["field"]) == (409, "count")
    response = await client.post("/api/rounds/controlled", headers=doctor, json={"medicine": "Diazepam", "count": 10})
    assert response.status == 200
    status, body = await give(diazepam, "given", P3, second_witness=second)
    assert (status, body["count"]) == (201, 9)
    counted = await (await client.get("/api/rounds/controlled", headers=doctor)).json()
    assert [(c["medicine"], c["count"]) for c in counted] == [("diazepam", 9)]

    # every outcome as FHIR MedicationAdministration, witnesses named
    held, unavailable = sorted(await administrations(client, doctor, P2), key=lambda r: r["identifier"][0]["value"],
                               reverse=True)
    assert held["status"] == "not-done" and held["statusReason"][0]["coding"][0]["code"] == "held"
    assert held["statusReason"][0]["text"] == "Nil by mouth before ultrasound"
    assert unavailable["statusReason"][0]["coding"][0]["code"] == "unavailable"
    [given] = await administrations(client, doctor, P3)
    assert given["status"] == "completed"
    assert [p["actor"]["display"] for p in given["performer"]] == ["doc-a", "guard-a", "officer-a"]
    assert given["request"]["reference"].startswith("MedicationRequest/")
    p1_doses = await administrations(client, doctor, P1)
    assert sorted(r["status"] for r in p1_doses) == ["completed", "not-done", "not-done", "not-done"]

    pill_states = {d["patient_id"]: d["state"] for d in
                   (await (await client.get("/api/rounds/pills?slot=morning", headers=doctor)).json())["doses"]}
    assert pill_states == {P1: "given", P2: "held", P3: "given"}

    # adherence: amlodipine given once of four days (three refused); the facility's figure
    response = await client.get(f"/api/rounds/adherence/{P1}", headers=doctor)
    [amlo] = [a for a in await response.json() if a["medicine"] == "Amlodipine"]
    assert amlo["outcomes"]["refused"] == 3
    assert amlo["given"] == (1 if amlo["due"] == 4 else 0)  # today's dose counts once its window has closed
    officer_view = await client.get(f"/api/rounds/adherence/{P1}", headers=await login("officer-a"))
    assert officer_view.status == 200 and await officer_view.json() == await response.json()
    for user in ("doc-b", "spec-1", "guard-a"):
        assert (await client.get(f"/api/rounds/adherence/{P1}", headers=await login(user))).status == 403
    response = await client.get("/api/rounds/adherence", headers=await login("officer-a"))
    assert response.status == 200 and (await response.json())["outcomes"]["refused"] == 3


@both_databases
async def test_a_dose_for_the_wrong_detainee_needs_a_recorded_override(client, login, context, world):
    doctor = await login("doc-a")
    officer = world.users["guard-a"]
    await prescribe(client, doctor, P2, "Omeprazole", "qd")
    line = await (await client.get("/api/rounds/pills?slot=morning", headers=doctor)).json()
    dose = key_on(line, P2, "Omeprazole")
    sent = {"dose": dose, "outcome": "given", "identified": P1, "witness": officer}

    response = await client.post("/api/rounds/doses", headers=doctor, json=sent)
    assert response.status == 409 and (await response.json())["field"] == "identified"
    response = await client.post("/api/rounds/doses", headers=doctor, json={**sent, "override": "too short"})
    assert response.status == 409
    assert await administrations(client, doctor, P2) == []
    assert [e.outcome for e in audited(context, "rounds.dose.wrong_detainee")] == ["denied", "denied"]
    response = await client.post("/api/rounds/doses", headers=doctor, json={**sent, "identified": ""})
    assert response.status == 422 and (await response.json())["field"] == "identified"

    reason = "Wristband torn; identified by photo and date of birth"
    response = await client.post("/api/rounds/doses", headers=doctor, json={**sent, "override": reason})
    assert response.status == 201 and (await response.json())["flags"] == ["wrong-detainee"]
    [given] = await administrations(client, doctor, P2)
    assert given["note"][0]["text"].endswith(reason)
    assert "wrong-detainee" in await flags_of(client, doctor, P2)
    assert [e.reason for e in audited(context, "rounds.dose.override")] == [reason]


async def test_who_may_run_the_pill_line(client, login, world):
    doctor = await login("doc-a")
    await prescribe(client, doctor, P1, "Amlodipine", "qd")
    line = await (await client.get("/api/rounds/pills?slot=morning", headers=doctor)).json()
    sent = {"dose": line["doses"][0]["key"], "outcome": "given", "identified": P1, "witness": world.users["guard-a"]}
    for user in ("spec-1", "officer-a", "admin", "guard-a"):
        headers = await login(user)
        assert (await client.get("/api/rounds/pills", headers=headers)).status == 403
        assert (await client.post("/api/rounds/doses", headers=headers, json=sent)).status == 403
    other = await login("doc-b")
    assert (await (await client.get("/api/rounds/pills?slot=morning", headers=other)).json())["doses"] == []
    response = await client.post("/api/rounds/doses", headers=other, json={**sent, "witness": world.users["guard-b"]})
    assert response.status == 404
    response = await client.post("/api/rounds/doses", headers=doctor, json={**sent, "witness": world.users["guard-b"]})
    assert (response.status, (await response.json())["field"]) == (422, "witness")  # another facility's officer
    assert (await client.get("/api/rounds/pills?slot=dawn", headers=doctor)).status == 400


@both_databases
async def test_a_dose_sent_again_with_its_key_is_recorded_once_at_the_time_given(client, login, context, world):
    """A dose recorded offline arrives with the browser's key and the time it was given: the first
    arrival writes it, dated then; a resend (its answer lost) gets the first answer and writes
    nothing; a time in the future or days old is refused and writes nothing."""
    doctor = await login("doc-a")
    officer, second = world.users["guard-a"], world.users["officer-a"]
    await prescribe(client, doctor, P1, "Amlodipine", "qd")
    await prescribe(client, doctor, P3, "Diazepam", "qd")
    await client.post("/api/rounds/controlled", headers=doctor, json={"medicine": "Diazepam", "count": 5})
    line = await (await client.get("/api/rounds/pills?slot=morning", headers=doctor)).json()
    given_at = (datetime.now(timezone.utc) - timedelta(minutes=40)).replace(microsecond=0)
    sent = {"key": "dose-key-0000001", "dose": key_on(line, P3, "Diazepam"), "outcome": "given", "identified": P3,
            "witness": officer, "second_witness": second, "taken_at": given_at.isoformat()}

    for change, status in (({"taken_at": (given_at + timedelta(hours=2)).isoformat()}, 400),
                           ({"taken_at": (given_at - timedelta(days=3)).isoformat()}, 400),
                           ({"taken_at": "2026-01-01T08:00:00"}, 400), ({"taken_at": "at breakfast"}, 400),
                           ({"key": "short"}, 400), ({"key": "spaces in a key"}, 400)):
        response = await client.post("/api/rounds/doses", headers=doctor, json={**sent, **change})
        assert response.status == status, change
        refusal = await response.json()
        assert refusal.get("field") == "taken_at" if "taken_at" in change else "key" in refusal["error"]
    response = await client.post("/api/rounds/doses", headers={**doctor, "Accept-Language": "zh-CN"},
                                 json={**sent, "taken_at": (given_at + timedelta(hours=2)).isoformat()})
    assert "手机时钟" in (await response.json())["error"]
    assert await administrations(client, doctor, P3) == []

    first = await client.post("/api/rounds/doses", headers=doctor, json=sent)
    assert first.status == 201, await first.text()
    answer = await first.json()
    assert (answer["count"], answer["resent"]) == (4, False)
    again = await client.post("/api/rounds/doses", headers=doctor, json=sent)
    assert again.status == 200 and await again.json() == {**answer, "resent": True}
    [given] = await administrations(client, doctor, P3)
    assert datetime.fromisoformat(given["effectiveDateTime"]) == given_at
    counted = await (await client.get("/api/rounds/controlled", headers=doctor)).json()
    assert [c["count"] for c in counted] == [4]  # taken from the count once
    assert [e.reason for e in audited(context, "rounds.dose.resent")] == [sent["key"]]

    # the same dose under a new key is a second recording: refused; the key for another dose too,
    # and the key in another user's hands
    assert (await client.post("/api/rounds/doses", headers=doctor, json={**sent, "key": "dose-key-0000002"})).status == 409
    amlodipine = {**sent, "dose": key_on(line, P1, "Amlodipine"), "identified": P1}
    response = await client.post("/api/rounds/doses", headers=doctor, json=amlodipine)
    assert (response.status, (await response.json())["field"]) == (409, "key")
    response = await client.post("/api/rounds/doses", headers=await login("doc-b"), json=sent)
    assert (response.status, (await response.json())["field"]) == (409, "key")
    assert len(await administrations(client, doctor, P3)) == 1 and await administrations(client, doctor, P1) == []

    # a refusal recorded offline keeps its time and raises nothing twice
    refused = {**amlodipine, "key": "dose-key-0000003", "outcome": "refused"}
    assert (await client.post("/api/rounds/doses", headers=doctor, json=refused)).status == 201
    assert (await client.post("/api/rounds/doses", headers=doctor, json=refused)).status == 200
    [refusal] = await administrations(client, doctor, P1)
    assert refusal["status"] == "not-done" and datetime.fromisoformat(refusal["effectiveDateTime"]) == given_at
