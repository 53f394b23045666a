"""When a lab order is done: every ordered test has a final (or corrected) result, or was
cancelled (by the laboratory, OBX-11 X, or by a person, with a reason). Entering 2 of 7
tests leaves the order open with 5 outstanding."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlmodel import Session

from ehr import store
from labs.models import LabOrder, LabResult

DONE = ("final", "corrected", "cancelled")


def cancelled_tests(order: LabOrder) -> dict[str, str]:
    """Tests a person cancelled: LOINC -> reason."""
    return json.loads(order.cancelled or "{}")


def outstanding(session: Session, order: LabOrder) -> list[str]:
    """The ordered tests (LOINC codes, in order) still waiting for a result."""
    done = set(session.execute(select(LabResult.loinc).where(LabResult.order_id == order.id,
                                                             LabResult.status.in_(DONE))).scalars())
    done |= set(cancelled_tests(order))
    return [t for t in order.tests.split(",") if t not in done]


def settle_orders(session: Session, order_ids: set[str]) -> None:
    """Complete each order with nothing outstanding (revoked when no test was done at all)."""
    for order_id in sorted(order_ids):
        order = session.get(LabOrder, order_id)
        if order is None or order.status != "active" or outstanding(session, order):
            continue
        resulted = session.execute(select(LabResult.id).where(LabResult.order_id == order.id,
                                                              LabResult.status.in_(("final", "corrected")))).first()
        order.status = "completed" if resulted else "revoked"
        session.add(order)
        request = store.read(session, "ServiceRequest", order_id).resource
        request["status"] = order.status
        request.pop("meta", None)
        store.update(session, request, order_id, validated=True)
