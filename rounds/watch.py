"""Watch checks at the cell: a detainee on suicide watch (care's Flag) is looked in on, and each
look is an Observation pointing at the Flag (``focus``), dated when it was made."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from care.consequences import LOCAL, Raise
from ehr import interactions, store
from ehr.access import Gate
from ehr.custody import BASE
from telemed.timeutil import fhir_instant

CHECK_CODES = f"{BASE}/CodeSystem/rounds"
CHECK = "watch-check"


def _is_watch(resource: dict) -> bool:
    return resource.get("status") == "active" and any(
        c.get("system") == LOCAL and c.get("code") == Raise.SUICIDE_WATCH for c in resource.get("code", {}).get("coding", []))


def _is_check(resource: dict) -> bool:
    return any(c.get("system") == CHECK_CODES and c.get("code") == CHECK for c in resource.get("code", {}).get("coding", []))


def state(session: Session, patient_id: str) -> dict | None:
    """None when not on watch; else the Flag's id and the last check's time (None before the first)."""
    flags = [s for s in store.by_patient(session, patient_id, ("Flag",)) if _is_watch(s.resource)]
    if not flags:
        return None
    checks = [s.resource.get("effectiveDateTime", "") for s in store.by_patient(session, patient_id, ("Observation",))
              if _is_check(s.resource)]
    return {"flag": flags[-1].id, "last_check": max(checks, default=None)}


def check(session: Session, gate: Gate, patient_id: str, at: datetime, seen: str, author: str) -> list[str]:
    watch = state(session, patient_id)
    if watch is None:
        return []
    stored, _ = interactions.create(session, gate, {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": CHECK_CODES, "code": CHECK, "display": "Watch check"}], "text": "Watch check"},
        "subject": {"reference": f"Patient/{patient_id}"}, "focus": [{"reference": f"Flag/{watch['flag']}"}],
        "effectiveDateTime": fhir_instant(at), "performer": [{"display": author}],
        **({"valueString": seen} if seen else {}),
    })
    return [stored.id]
