"""What a sick-call outcome sets going besides closing the request: a lab order (labs.orders)
or a video consult request (webrtc.workflow), written in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from sqlmodel import Session

from care.models import SickCall
from care.sickcall import Outcome, Refused
from labs.orders import place_order
from labs.results import Rejected
from telemed.security import Principal
from webrtc import workflow

Action = Callable[[Session, SickCall], None]


def actions_for(who: Principal, body: dict, outcome: str, tz: ZoneInfo) -> list[Action]:
    if outcome == Outcome.LABS:
        return [_labs(who, body)]
    if outcome == Outcome.CONSULT:
        return [_consult(who, body, tz)]
    return []


def _strings(body: dict, key: str) -> list[str]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Refused(f"{key} must be a list of strings", key)
    return value


def _labs(who: Principal, body: dict) -> Action:
    panels, tests = _strings(body, "panels"), _strings(body, "tests")

    def act(session: Session, call: SickCall) -> None:
        try:
            place_order(session, who, call.patient_id, panels, tests, note="sick call")
        except Rejected as exc:
            raise Refused(str(exc), "panels") from None
    return act


def _consult(who: Principal, body: dict, tz: ZoneInfo) -> Action:
    given = body.get("consult")
    if not isinstance(given, dict):
        raise Refused("consult: hospital_id, specialty, urgency and question of the consult to request", "consult")

    def act(session: Session, call: SickCall) -> None:
        try:
            workflow.request_consult(session, who, {**given, "patient_id": call.patient_id, "share": []}, tz)
        except workflow.WorkflowError as exc:
            raise Refused(f"consult: {exc.message}", "consult", 400) from None
    return act
