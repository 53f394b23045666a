"""Entries taken on rounds and sent when the network allows: each comes with the key the browser
made when it was taken and the time it was taken. The first arrival of a key writes the entry
(a note or vitals through the record page's own writers, a complaint as care's sick-call request,
a watch check as an Observation on the watch Flag); a later arrival of the same key writes nothing and gets
the first answer again, so a resend after a lost answer records nothing twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from care import sickcall
from ehr import record_api, vitals
from ehr.access import WRITE, Gate
from ehr.charting import FieldErrors, Form
from rounds import once, watch
from telemed.models import Detainee

KINDS = ("note", "vitals", "complaint", "watch")


@dataclass(frozen=True)
class Sent:
    key: str
    patient_id: str
    kind: str
    taken_at: datetime
    fields: dict


def _write(session: Session, gate: Gate, sent: Sent, tz: ZoneInfo, lang: str, author: str) -> list[str]:
    """Vitals and notes through the record page's writers, dated when they were taken."""
    at = sent.taken_at.astimezone(tz).replace(tzinfo=None).isoformat(timespec="seconds")
    if sent.kind == "vitals":
        data = {v.key: sent.fields.get(v.key) for v in vitals.VITALS if sent.fields.get(v.key) not in (None, "")}
        return record_api.add_vitals(session, gate, sent.patient_id, Form({**data, "at": at}, tz, lang), gate.who)
    text = str(sent.fields.get("text") or "").strip()
    if sent.kind == "complaint":
        return [_sick_call(session, gate, sent, text, tz)]
    if sent.kind == "watch":
        written = watch.check(session, gate, sent.patient_id, sent.taken_at, text[:500], author)
        if not written:
            raise FieldErrors({"text": "rounds.error.no_watch"})
        return written
    form = Form({"shape": "free", "text": text, "at": at}, tz, lang)
    return record_api.add_note(session, gate, sent.patient_id, form, gate.who)


def _sick_call(session: Session, gate: Gate, sent: Sent, words: str, tz: ZoneInfo) -> str:
    """A complaint heard at the cell becomes a sick-call request, received when it was heard."""
    gate.check(session, WRITE, "care.sick_call.submit", "Patient", sent.patient_id, sent.patient_id)
    category = str(sent.fields.get("category") or sickcall.Category.ILLNESS)
    urgent = sent.fields.get("urgent") in (True, "on", "true")
    try:
        call = sickcall.submit(session, gate.who, session.get(Detainee, sent.patient_id), words, category, urgent,
                               sent.taken_at, tz)
    except sickcall.Refused as exc:
        raise FieldErrors({exc.field or "text": "rounds.error.complaint"}) from None
    return call.id


def receive(session: Session, gate: Gate, sent: Sent, tz: ZoneInfo, lang: str, author: str) -> tuple[int, bool]:
    """Write the entry once: (how many resources it wrote, whether this arrival was a resend)."""
    try:
        earlier = once.earlier(session, sent.key, gate.who.user_id, lambda e: e.patient_id == sent.patient_id)
    except once.KeyTaken:
        raise FieldErrors({"key": "rounds.error.key_taken"}) from None
    if earlier is not None:
        return earlier.written, True
    written = _write(session, gate, sent, tz, lang, author)
    once.remember(session, sent.key, gate.who.user_id, sent.patient_id, sent.kind, sent.taken_at, len(written))
    return len(written), False
