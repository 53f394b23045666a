"""Lab orders: a ServiceRequest in the record plus a narrow row for the worklist."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlmodel import Session

from ehr import store
from labs import fhir
from labs.catalog import catalogue
from labs.models import LabOrder
from labs.results import Rejected
from labs.worklist import cancelled_tests, outstanding, settle_orders
from telemed.models import Detainee
from telemed.security import Principal
from telemed.timeutil import utcnow


def place_order(session: Session, who: Principal, patient_id: str, panels: list[str], tests: list[str],
                note: str = "") -> LabOrder:
    cat = catalogue()
    unknown = [p for p in panels if p not in cat.panels] + [t for t in tests if t not in cat.tests]
    if unknown:
        raise Rejected(f"unknown panel or test: {', '.join(unknown)}")
    if not panels and not tests:
        raise Rejected("order at least one panel or test")
    detainee = session.get(Detainee, patient_id)
    now = utcnow()
    request = fhir.service_request([cat.tests[t] for t in tests], [cat.panels[p] for p in panels],
                                   patient_id=patient_id, requester=who.display_name, note=note, authored=now)
    stored = store.create(session, request, validated=True)
    codes = [c for p in panels for c in cat.panels[p].tests] + [t for t in tests]
    order = LabOrder(id=stored.id, patient_id=patient_id, facility_id=detainee.facility_id,
                     tests=",".join(dict.fromkeys(codes)), note=note, ordered_by=who.user_id, ordered_at=now)
    session.add(order)
    session.flush()
    return order


def open_orders(session: Session, facility_id: str, patient_id: str | None = None) -> list[dict]:
    query = select(LabOrder, Detainee.name, Detainee.booking_number).join(
        Detainee, Detainee.patient_id == LabOrder.patient_id).where(
        LabOrder.facility_id == facility_id, LabOrder.status == "active")
    if patient_id:
        query = query.where(LabOrder.patient_id == patient_id)
    rows = session.execute(query.order_by(LabOrder.ordered_at.desc()).limit(200)).all()
    return [order_json(o, outstanding(session, o)) | {"name": name, "booking_number": booking}
            for o, name, booking in rows]


def order_json(order: LabOrder, waiting: list[str] | None = None) -> dict:
    tests = order.tests.split(",")
    return {"id": order.id, "patient_id": order.patient_id, "tests": tests, "note": order.note,
            "status": order.status, "ordered_at": order.ordered_at.isoformat(),
            "outstanding": tests if waiting is None else waiting, "cancelled": cancelled_tests(order)}


def cancel_test(session: Session, order_id: str, loinc: str, reason: str) -> dict:
    """Cancel one outstanding test of an order, with the reason; the order completes when that
    was the last one."""
    order = session.get(LabOrder, order_id)
    if not reason.strip():
        raise Rejected("reason: say why the test is cancelled")
    if order.status != "active" or loinc not in outstanding(session, order):
        raise Rejected(f"test {loinc}: not an outstanding test of this order")
    order.cancelled = json.dumps(cancelled_tests(order) | {loinc: reason.strip()[:200]}, ensure_ascii=False)
    session.add(order)
    session.flush()
    settle_orders(session, {order_id})
    return order_json(order, outstanding(session, order))
