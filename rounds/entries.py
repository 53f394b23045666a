"""Entries taken on rounds and sent when the network allows: each comes with the key the browser
made when it was taken and the time it was taken. The first arrival of a key writes the entry
(through the record page's own writers); a later arrival of the same key writes nothing and gets
the first answer again, so a resend after a lost answer records nothing twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from ehr import record_api, vitals
from ehr.access import Gate
from ehr.charting import FieldErrors, Form
from rounds.models import RoundsEntry

KINDS = ("note", "vitals", "complaint")
COMPLAINT_PREFIX = {"en": "Complaint at rounds (sick-call request): ", "zh-CN": "巡诊主诉（就诊申请）："}


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
        return record_api.add_vitals(session, gate, sent.patient_id, Form({**data, "at": at}, tz, lang), author)
    text = str(sent.fields.get("text") or "").strip()
    if text and sent.kind == "complaint":
        text = COMPLAINT_PREFIX.get(lang, COMPLAINT_PREFIX["en"]) + text
    form = Form({"shape": "free", "text": text, "at": at}, tz, lang)
    return record_api.add_note(session, gate, sent.patient_id, form, author)


def receive(session: Session, gate: Gate, sent: Sent, tz: ZoneInfo, lang: str, author: str) -> tuple[int, bool]:
    """Write the entry once: (how many resources it wrote, whether this arrival was a resend)."""
    earlier = session.get(RoundsEntry, sent.key)
    if earlier is not None:
        if earlier.user_id != gate.who.user_id or earlier.patient_id != sent.patient_id:
            raise FieldErrors({"key": "rounds.error.key_taken"})
        return earlier.written, True
    written = _write(session, gate, sent, tz, lang, author)
    session.add(RoundsEntry(key=sent.key, user_id=gate.who.user_id, patient_id=sent.patient_id, kind=sent.kind,
                            taken_at=sent.taken_at, written=len(written)))
    session.flush()
    return len(written), False
