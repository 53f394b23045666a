"""Flags the medication pass raises for the doctor, as FHIR Flags: a dose missed past the window,
three refusals in a row of one medicine, and a dose given under a wrong-detainee override. Each
carries a key (its identifier) so that one event raises one Flag."""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Session

from ehr import interactions
from ehr.access import Gate
from ehr.custody import BASE
from rounds.records import by_identifier
from telemed.timeutil import fhir_instant, utcnow

FLAG_SYSTEM = f"{BASE}/sid/rounds-flag"
FLAG_CODES = f"{BASE}/CodeSystem/rounds-flag"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"


class FlagKind(StrEnum):
    MISSED = "missed-dose"
    REFUSALS = "refusals"
    WRONG_DETAINEE = "wrong-detainee"


WORDS = {FlagKind.MISSED: "Dose missed", FlagKind.REFUSALS: "Three refusals in a row",
         FlagKind.WRONG_DETAINEE: "Dose given under a wrong-detainee override"}


def raise_flag(session: Session, gate: Gate, facility_id: str, patient_id: str, kind: FlagKind, key: str,
               detail: str, author: str) -> bool:
    """Raise the Flag unless this key raised one already; True when raised now."""
    if f"{kind}:{key}" in by_identifier(session, "Flag", facility_id, FLAG_SYSTEM, patient_id):
        return False
    interactions.create(session, gate, {
        "resourceType": "Flag", "status": "active",
        "identifier": [{"system": FLAG_SYSTEM, "value": f"{kind}:{key}"}],
        "category": [{"coding": [{"system": FLAG_CATEGORY, "code": "drug", "display": "Drug"}]}],
        "code": {"coding": [{"system": FLAG_CODES, "code": kind.value, "display": WORDS[kind]}], "text": detail},
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": fhir_instant(utcnow())}, "author": {"display": author},
    })
    return True


def kind_of(flag: dict) -> str:
    return next((c.get("code", "") for c in flag.get("code", {}).get("coding", []) if c.get("system") == FLAG_CODES), "")


def active(session: Session, facility_id: str, patient_id: str | None = None) -> list[dict]:
    flags = by_identifier(session, "Flag", facility_id, FLAG_SYSTEM, patient_id).values()
    return [f for f in flags if f.get("status") == "active"]
