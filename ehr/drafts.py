"""The on-site doctor's unsigned progress notes, ``/notes/drafts``: what their home page counts as
notes awaiting signature, each linking to the record where it is edited and signed."""

from __future__ import annotations

from typing import NamedTuple

import aiohttp_jinja2
from aiohttp import web
from sqlmodel import Session, select

from ehr import charting
from ehr.access import WRITE
from ehr.entries import Namer, attachment_text
from ehr.models import FhirResource
from ehr.store import Stored
from telemed.context import context_of
from telemed.http import audit_shown, require
from telemed.models import Detainee
from telemed.security import Principal
from telemed.ui import language


class Drafted(NamedTuple):
    patient_id: str
    name: str
    booking: str
    note: Stored


def mine(session: Session, who: Principal) -> list[Drafted]:
    """The caller's drafts, on the records of their own facility's detainees, newest first."""
    columns = (FhirResource, Detainee.patient_id, Detainee.name, Detainee.booking_number)
    rows = session.exec(select(*columns).join(Detainee, Detainee.patient_id == FhirResource.patient_id)
                        .where(Detainee.facility_id == who.org_id, FhirResource.type == "DocumentReference",
                               FhirResource.deleted == False)  # noqa: E712
                        .order_by(FhirResource.last_updated.desc())).all()
    found = [Drafted(*person, Stored.of(row)) for row, *person in rows if b"preliminary" in row.content]
    return [d for d in found if charting.is_draft(r := d.note.resource) and charting.is_progress_note(r)
            and r.get("status") == "current" and charting.drafted_by(r) == who.username]


def _row(drafted: Drafted, name: Namer) -> dict:
    resource = drafted.note.resource
    texts = (attachment_text(c.get("attachment", {})).strip() for c in resource.get("content", []))
    return {**drafted._asdict(), "saved": name.when(resource.get("date")), "first": next((t for t in texts if t), "")}


async def drafts_page(request: web.Request) -> web.StreamResponse:
    who = require(request, WRITE, "ehr.drafts")
    lang = language(request)
    name = Namer(lang, context_of(request).settings.tz)
    found = await context_of(request).db.read(mine, who)
    audit_shown(request, "ehr.drafts", [d.patient_id for d in found])
    rows = [_row(d, name) for d in found]
    return aiohttp_jinja2.render_template("ehr/drafts.html", request, {"drafts": rows})


def setup(app: web.Application) -> None:
    app.router.add_get("/notes/drafts", drafts_page)
