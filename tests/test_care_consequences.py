"""What each screening answer raises (care/consequences.py), link by link: each risk's own
answers alone, the pregnancy test's three conditions, the withdrawal scales, and the follow-ups
written with their due times, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from care.consequences import Raise, apply, check_scales, raised
from care.models import FollowUp, Intake
from ehr import store
from labs.models import LabOrder
from telemed.models import Role
from telemed.security import Principal
from tests.care_support import answers, arrive
from tests.conftest import both_databases

R = Raise
SUICIDE = [R.SUICIDE_WATCH, R.URGENT_REVIEW]
TB = [R.ISOLATION, R.CHEST_XRAY, R.TB_LABS]


@pytest.mark.parametrize("link, expected", [
    *((link, SUICIDE) for link in ("suicide_thoughts", "self_harm_history", "risk_observed")),
    *((link, TB) for link in ("tb_cough", "tb_blood", "tb_fever_sweats", "tb_weight_loss")),
    ("medication_now", [R.RECONCILE]),
    *((link, [R.WITHDRAWAL]) for link in ("alcohol_daily", "opioid_use", "withdrawal_signs")),
    ("injury_seen", [R.INJURY_REVIEW]),
])
def test_each_answer_alone_raises_its_own_consequences(link, expected):
    assert raised(answers(**{link: True}), "male") == expected
    assert raised(answers(**{link: "yes"}), "male") == []  # only a yes given as such counts


def test_nothing_raises_nothing_and_everything_raises_in_a_fixed_order():
    assert raised(answers(), "female") == []
    every = answers(suicide_thoughts=True, tb_cough=True, medication_now=True, alcohol_daily=True, pregnant="yes",
                    injury_seen=True)
    assert raised(every, "female") == [*SUICIDE, *TB, R.RECONCILE, R.WITHDRAWAL, R.PREGNANCY, R.INJURY_REVIEW]


@pytest.mark.parametrize("sex, opioid, pregnant, expected", [
    ("female", True, "yes", [R.WITHDRAWAL, R.PREGNANCY]),
    ("female", False, "yes", [R.PREGNANCY]),
    ("female", True, "unknown", [R.WITHDRAWAL, R.PREGNANCY_TEST]),
    ("male", True, "unknown", [R.WITHDRAWAL]),
    ("female", False, "unknown", []),
    ("female", True, "no", [R.WITHDRAWAL]),
])
def test_a_pregnancy_test_only_for_a_woman_using_opioids_whose_pregnancy_is_unknown(sex, opioid, pregnant, expected):
    assert raised(answers(opioid_use=opioid, pregnant=pregnant), sex) == expected


@pytest.mark.parametrize("given, scales", [
    ({"alcohol_daily": True}, ["CIWA-Ar"]),
    ({"opioid_use": True}, ["COWS"]),
    ({"alcohol_daily": True, "opioid_use": True}, ["CIWA-Ar", "COWS"]),
    ({"withdrawal_signs": True}, ["CIWA-Ar"]),
    ({"withdrawal_signs": True, "opioid_use": "yes"}, ["CIWA-Ar"]),
])
def test_withdrawal_is_checked_on_the_scale_of_the_substance(given, scales):
    assert check_scales(answers(**given)) == scales


NOW = datetime(2026, 3, 1, 16, 30, tzinfo=timezone.utc)
CARE = "http://telemed.example.org/fhir/CodeSystem/care"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"


def doctor(world) -> Principal:
    return Principal(user_id=world.users["doc-a"], username="doc-a", display_name="Dr A", role=Role.FACILITY_DOCTOR,
                     org_id="fac-a")


@both_databases
def test_what_is_written_and_when_it_is_due(context, world):
    doc = doctor(world)

    def screen(session):
        patient, intake_id = arrive(session, sex="female")
        given = answers(suicide_thoughts=True, tb_cough=True, medication_now=True, opioid_use=True, alcohol_daily=True,
                        pregnant="unknown", injury_seen=True)
        found = apply(session, doc, session.get(Intake, intake_id), given, "female", NOW)
        session.flush()
        follow = session.exec(select(FollowUp).where(FollowUp.patient_id == patient)).all()
        flags = {s.resource["code"]["coding"][0]["code"]: s.resource for s in store.by_patient(session, patient, ("Flag",))}
        requests = [s.resource for s in store.by_patient(session, patient, ("ServiceRequest",))]
        tasks = {s.id: s.resource for s in store.by_patient(session, patient, ("Task",))}
        orders = sorted((o.tests, o.note) for o in session.exec(select(LabOrder).where(LabOrder.patient_id == patient)))
        return patient, intake_id, found, follow, flags, requests, tasks, orders

    patient, intake_id, found, follow, flags, requests, tasks, orders = context.db.call(screen)
    assert found == [*SUICIDE, *TB, R.RECONCILE, R.WITHDRAWAL, R.PREGNANCY_TEST, R.INJURY_REVIEW]
    assert {code: (f["category"][0]["coding"][0]["code"], f["code"]["text"], f["period"]["start"], f["status"])
            for code, f in flags.items()} == {
        "suicide_watch": ("behavioral", "Suicide watch", NOW.isoformat(), "active"),
        "isolation": ("safety", "Airborne isolation (TB symptoms)", NOW.isoformat(), "active"),
        "withdrawal": ("clinical", "Withdrawal monitoring", NOW.isoformat(), "active")}
    assert all(f["subject"] == {"reference": f"Patient/{patient}"} for f in flags.values())
    # The codings another system matches a flag on: HL7's flag category and this platform's own code.
    assert all(f["category"][0]["coding"][0]["system"] == FLAG_CATEGORY for f in flags.values())
    assert all(f["code"]["coding"] == [{"system": CARE, "code": code}] for code, f in flags.items())
    # The lab sees why each test was ordered.
    assert orders == [("2106-3", "intake screening: opioid use"), ("71773-6", "intake screening: TB symptoms")]
    [xray] = [r for r in requests if r.get("code", {}).get("coding", [{}])[0].get("code") == "36643-5"]
    assert {k: v for k, v in xray.items() if k not in ("id", "meta")} == {
                    "resourceType": "ServiceRequest", "status": "active", "intent": "order", "priority": "urgent",
                    "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "363679005",
                                              "display": "Imaging"}]}],
                    "code": {"coding": [{"system": "http://loinc.org", "code": "36643-5",
                                         "display": "XR Chest 2 Views"}], "text": "XR Chest 2 Views"},
                    "subject": {"reference": f"Patient/{patient}"}, "authoredOn": NOW.isoformat(),
                    "requester": {"display": "Dr A"}, "reasonCode": [{"text": "intake screening: TB symptoms"}]}

    due = sorted((f.kind, f.detail, f.due.replace(tzinfo=timezone.utc) - NOW) for f in follow)
    hours = [timedelta(hours=h) for h in range(4, 73, 4)]
    assert due == sorted([("urgent_review", "", timedelta(hours=1)), ("injury_review", "", timedelta(hours=24)),
                          ("reconcile", "", timedelta(hours=24)),
                          *(("check", "CIWA-Ar", h) for h in hours), *(("check", "COWS", h) for h in hours)])
    assert all((f.intake_id, f.facility_id, f.patient_id) == (intake_id, "fac-a", patient) for f in follow)
    for f in follow:
        task = tasks[f.id]
        assert task["code"]["coding"] == [{"system": CARE, "code": f.kind}]
        assert task["priority"] == ("stat" if f.kind == "urgent_review" else "urgent")
        assert task["code"]["text"] == f"{f.kind} {f.detail}".strip() and task["for"]["reference"] == f"Patient/{patient}"
        assert datetime.fromisoformat(task["restriction"]["period"]["end"]) - NOW == f.due.replace(tzinfo=timezone.utc) - NOW
        assert (task["status"], task["intent"], task["authoredOn"]) == ("requested", "order", NOW.isoformat())


@both_databases
def test_a_pregnancy_is_flagged_and_nothing_more_is_ordered(context, world):
    doc = doctor(world)

    def screen(session):
        patient, intake_id = arrive(session, sex="female")
        found = apply(session, doc, session.get(Intake, intake_id), answers(pregnant="yes"), "female", NOW)
        session.flush()
        flags = [s.resource for s in store.by_patient(session, patient, ("Flag",))]
        orders = session.exec(select(LabOrder).where(LabOrder.patient_id == patient)).all()
        return found, flags, orders

    found, [flag], orders = context.db.call(screen)
    assert found == [R.PREGNANCY] and orders == []
    assert (flag["category"], flag["code"]) == (
        [{"coding": [{"system": FLAG_CATEGORY, "code": "clinical"}]}],
        {"coding": [{"system": CARE, "code": "pregnancy"}], "text": "Pregnant"})
