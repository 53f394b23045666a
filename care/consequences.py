"""What screening answers raise, and writing it: Flags on the record, orders, and follow-up
Tasks on the work list.

- suicide or self-harm risk: a suicide-watch Flag and an urgent doctor review;
- TB symptoms: an airborne-isolation Flag, a chest X-ray order and the TB lab order (IGRA);
- a current medication: a reconciliation task (NCCHC D-02: continue without delay);
- alcohol or opioid withdrawal risk: a withdrawal Flag and checks on a schedule (CIWA-Ar for
  alcohol, COWS for opioids);
- pregnancy: a Flag; a woman using opioids whose pregnancy is unknown gets a pregnancy test
  (NCCHC E-02 Q&A, 2024);
- injuries seen: a doctor review (E-02: signs of trauma are referred).
The times below are local defaults, not published limits: see the README."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import Session

from care.models import FollowUp, Intake
from ehr import store
from labs.orders import place_order
from telemed.security import Principal

LOCAL = "http://telemed.example.org/fhir/CodeSystem/care"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
URGENT_REVIEW = timedelta(hours=1)
REVIEW = timedelta(hours=24)
RECONCILE = timedelta(hours=24)
CHECK_EVERY = timedelta(hours=4)
CHECK_FOR = timedelta(hours=72)
CHEST_XRAY = ("36643-5", "XR Chest 2 Views")  # LOINC


class Raise(StrEnum):
    SUICIDE_WATCH = "suicide_watch"
    URGENT_REVIEW = "urgent_review"
    ISOLATION = "isolation"
    CHEST_XRAY = "chest_xray"
    TB_LABS = "tb_labs"
    RECONCILE = "reconcile"
    WITHDRAWAL = "withdrawal"
    PREGNANCY = "pregnancy"
    PREGNANCY_TEST = "pregnancy_test"
    INJURY_REVIEW = "injury_review"


FLAGS = {Raise.SUICIDE_WATCH: "behavioral", Raise.ISOLATION: "safety", Raise.WITHDRAWAL: "clinical",
         Raise.PREGNANCY: "clinical"}
FLAG_TEXT = {Raise.SUICIDE_WATCH: "Suicide watch", Raise.ISOLATION: "Airborne isolation (TB symptoms)",
             Raise.WITHDRAWAL: "Withdrawal monitoring", Raise.PREGNANCY: "Pregnant"}


def raised(answers: dict[str, bool | str], sex: str) -> list[Raise]:
    """What these answers imply, in a fixed order."""
    yes = {link for link, value in answers.items() if value is True}
    found: list[Raise] = []
    if yes & {"suicide_thoughts", "self_harm_history", "risk_observed"}:
        found += [Raise.SUICIDE_WATCH, Raise.URGENT_REVIEW]
    if yes & {"tb_cough", "tb_blood", "tb_fever_sweats", "tb_weight_loss"}:
        found += [Raise.ISOLATION, Raise.CHEST_XRAY, Raise.TB_LABS]
    if "medication_now" in yes:
        found.append(Raise.RECONCILE)
    if yes & {"alcohol_daily", "opioid_use", "withdrawal_signs"}:
        found.append(Raise.WITHDRAWAL)
    if answers.get("pregnant") == "yes":
        found.append(Raise.PREGNANCY)
    elif sex == "female" and "opioid_use" in yes and answers.get("pregnant") == "unknown":
        found.append(Raise.PREGNANCY_TEST)
    if "injury_seen" in yes:
        found.append(Raise.INJURY_REVIEW)
    return found


def check_scales(answers: dict[str, bool | str]) -> list[str]:
    scales = []
    if answers.get("alcohol_daily") is True:
        scales.append("CIWA-Ar")
    if answers.get("opioid_use") is True:
        scales.append("COWS")
    return scales or ["CIWA-Ar"]  # signs seen, substance unknown: the alcohol scale until known


def apply(session: Session, who: Principal, intake: Intake, answers: dict[str, bool | str], sex: str,
          now: datetime) -> list[Raise]:
    found = raised(answers, sex)
    for item in found:
        if item in FLAGS:
            _flag(session, intake.patient_id, item, now)
    writer = _FollowUps(session, intake, now)
    if Raise.URGENT_REVIEW in found:
        writer.add("urgent_review", now + URGENT_REVIEW, priority="stat")
    if Raise.INJURY_REVIEW in found:
        writer.add("injury_review", now + REVIEW)
    if Raise.RECONCILE in found:
        writer.add("reconcile", now + RECONCILE)
    if Raise.WITHDRAWAL in found:
        for scale in check_scales(answers):
            for step in range(1, CHECK_FOR // CHECK_EVERY + 1):
                writer.add("check", now + step * CHECK_EVERY, detail=scale)
    if Raise.CHEST_XRAY in found:
        _imaging(session, who, intake.patient_id, now)
    if Raise.TB_LABS in found:
        place_order(session, who, intake.patient_id, ["tb"], [], note="intake screening: TB symptoms")
    if Raise.PREGNANCY_TEST in found:
        place_order(session, who, intake.patient_id, [], ["2106-3"], note="intake screening: opioid use")
    return found


def _flag(session: Session, patient_id: str, item: Raise, now: datetime) -> None:
    store.create(session, {
        "resourceType": "Flag", "status": "active",
        "category": [{"coding": [{"system": FLAG_CATEGORY, "code": FLAGS[item]}]}],
        "code": {"coding": [{"system": LOCAL, "code": item.value}], "text": FLAG_TEXT[item]},
        "subject": {"reference": f"Patient/{patient_id}"}, "period": {"start": now.isoformat()},
    })


def _imaging(session: Session, who: Principal, patient_id: str, now: datetime) -> None:
    store.create(session, {
        "resourceType": "ServiceRequest", "status": "active", "intent": "order", "priority": "urgent",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "363679005", "display": "Imaging"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": CHEST_XRAY[0], "display": CHEST_XRAY[1]}],
                 "text": CHEST_XRAY[1]},
        "subject": {"reference": f"Patient/{patient_id}"}, "authoredOn": now.isoformat(),
        "requester": {"display": who.display_name}, "reasonCode": [{"text": "intake screening: TB symptoms"}],
    })


class _FollowUps:
    def __init__(self, session: Session, intake: Intake, now: datetime) -> None:
        self.session, self.intake, self.now = session, intake, now

    def add(self, kind: str, due: datetime, *, detail: str = "", priority: str = "urgent") -> None:
        task = store.create(self.session, {
            "resourceType": "Task", "status": "requested", "intent": "order", "priority": priority,
            "code": {"coding": [{"system": LOCAL, "code": kind}], "text": f"{kind} {detail}".strip()},
            "for": {"reference": f"Patient/{self.intake.patient_id}"}, "authoredOn": self.now.isoformat(),
            "restriction": {"period": {"end": due.isoformat()}},
        })
        self.session.add(FollowUp(id=task.id, intake_id=self.intake.id, patient_id=self.intake.patient_id,
                                  facility_id=self.intake.facility_id, kind=kind, detail=detail, due=due))
