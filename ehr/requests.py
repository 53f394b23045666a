"""Running an EHR interaction for an HTTP request: one transaction in a worker thread, then
an audit entry for every access decision it took, allowed or denied."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ehr import interactions, store
from ehr.access import Gate, Noted
from ehr.store import Stored
from telemed.context import context_of
from telemed.http import audit, principal


def audit_noted(request: web.Request, gate: Gate) -> None:
    """One entry per decision; a run of identical decisions on one detainee (a Bundle writing 250
    Observations, say) becomes one entry naming the first resource and how many followed."""
    for n, more in _runs(gate.noted):
        resource = f"{n.resource} (+{more} more)" if more else n.resource
        audit(request, n.action, "allowed" if n.allowed else "denied", patient_id=n.patient_id,
              resource=resource, reason=n.reason, break_glass=n.break_glass)


def _runs(noted: list[Noted]) -> list[tuple[Noted, int]]:
    runs: list[tuple[Noted, int]] = []
    for n in noted:
        if runs and _same(runs[-1][0], n):
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((n, 0))
    return runs


def _same(a: Noted, b: Noted) -> bool:
    return (a.action, a.allowed, a.patient_id, a.reason, a.break_glass, a.resource.split("/")[0]) == \
        (b.action, b.allowed, b.patient_id, b.reason, b.break_glass, b.resource.split("/")[0])


async def run(request: web.Request, fn: Callable, *args, read_only: bool = False, **kwargs):
    """``fn(session, gate, *args)`` in one transaction; then audit what the gate noted.
    ``read_only``: a short lookup that writes nothing, run on the database's read pool."""
    gate = Gate(principal(request))
    db = context_of(request).db
    try:
        return await (db.read if read_only else db.run)(fn, gate, *args, **kwargs)
    finally:
        audit_noted(request, gate)


async def read(request: web.Request, rtype: str, rid: str) -> Stored:
    """The FHIR read, the hottest call: one prepared lookup fetches the resource with its
    detainee's facility, and a read that decision allows at once is served from it. Anything
    else (a specialist's share, break-the-glass, a denial, 404 or 410) takes the full path."""
    interactions.check_type(rtype)
    gate = Gate(principal(request))
    row = await context_of(request).db.lookup(store.READ_WITH_FACILITY, type=rtype, id=rid)
    if row is not None:
        stored, facility_id = store.with_facility(row)
        decision = None if stored.deleted else gate.allowed_at_once(stored, facility_id)
        if decision is not None:
            gate.note("fhir.read", decision, stored.patient_id, f"{rtype}/{rid}")
            audit_noted(request, gate)
            return stored
    return await run(request, interactions.read, rtype, rid, read_only=True)
