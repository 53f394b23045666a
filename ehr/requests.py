"""Running an EHR interaction for an HTTP request: one transaction in a worker thread, then
an audit entry for every access decision it took, allowed or denied."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ehr.access import Gate
from telemed.context import context_of
from telemed.http import audit, principal


def audit_noted(request: web.Request, gate: Gate) -> None:
    for n in gate.noted:
        audit(request, n.action, "allowed" if n.allowed else "denied", patient_id=n.patient_id,
              resource=n.resource, reason=n.reason, break_glass=n.break_glass)


async def run(request: web.Request, fn: Callable, *args, **kwargs):
    """``fn(session, gate, *args)`` in one transaction; then audit what the gate noted."""
    gate = Gate(principal(request))
    try:
        return await context_of(request).db.run(fn, gate, *args, **kwargs)
    finally:
        audit_noted(request, gate)
