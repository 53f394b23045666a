"""``GET /api/detainees/search?q=``: the detainee picker's look-up, by booking number, name or cell.

It answers what a person picking a detainee needs to see (name, booking number, cell, facility,
sex, birth date) and ``ref``, the value a form posts back; pages never show ``ref``. Each detainee
shown is named in the audit trail.

``scope=emergency`` is the break-the-glass form's look-up: a doctor may look across facilities,
but only with at least ``EMERGENCY_MIN_QUERY`` characters, and each detainee shown from another
facility says so in the trail."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import or_
from sqlmodel import Session, select

from telemed.context import context_of
from telemed.http import api_error, audit, json_response, require
from telemed.models import Detainee, Organization
from telemed.policy import Capability, patient_scope
from telemed.security import Principal
from telemed.ui import language

LIMIT = 10
MAX_QUERY = 100
EMERGENCY_MIN_QUERY = 3
SCOPES = ("", "emergency")


def find(session: Session, who: Principal, text: str, emergency: bool, lang: str) -> list[dict]:
    like = f"%{text}%"
    query = (select(Detainee, Organization).join(Organization, Detainee.facility_id == Organization.id)
             .where(or_(Detainee.booking_number.ilike(like), Detainee.name.ilike(like), Detainee.cell.ilike(like))))
    if not emergency:
        query = query.where(patient_scope(session, who).where(Detainee.patient_id, Detainee.facility_id))
    rows = session.exec(query.order_by(Detainee.booking_number).limit(LIMIT)).all()
    return [{
        "ref": d.patient_id, "name": d.name, "booking_number": d.booking_number, "cell": d.cell,
        "facility": (org.name_zh or org.name) if lang == "zh-CN" else org.name,
        "own_facility": d.facility_id == who.org_id, "sex": d.sex, "birth_date": d.birth_date,
    } for d, org in rows]


async def search(request: web.Request) -> web.Response:
    scope = request.query.get("scope", "")
    if scope not in SCOPES:
        raise api_error(400, f"scope must be empty or 'emergency', not {scope!r}")
    emergency = scope == "emergency"
    action = "detainee.search.emergency" if emergency else "detainee.search"
    who = require(request, Capability.BREAK_GLASS if emergency else Capability.CLINICAL_READ, action)
    text = request.query.get("q", "").strip()
    if len(text) > MAX_QUERY:
        raise api_error(400, f"q is longer than {MAX_QUERY} characters")
    if emergency and len(text) < EMERGENCY_MIN_QUERY:
        raise api_error(400, f"an emergency look-up needs at least {EMERGENCY_MIN_QUERY} characters")
    if not text:
        return json_response([])
    rows = await context_of(request).db.run(find, who, text, emergency, language(request))
    for row in rows:
        flagged = emergency and not row["own_facility"]
        audit(request, action, "allowed", patient_id=row["ref"], resource=f"Patient/{row['ref']}",
              reason="emergency look-up outside your facility" if flagged else "")
    return json_response(rows)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/detainees/search", search)
