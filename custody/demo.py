"""Demo data of the custody workflows: detainees at each stage. A call to the clinic pending and
one brought; an outside referral on its way; an emergency whose clock is running; and returned
trips over the past months for the figures."""

from __future__ import annotations

import base64
import io
from datetime import timedelta

from PIL import Image, ImageDraw

from sqlmodel import Session

from custody import referrals, tasks
from custody.models import Referral, TaskKind
from ehr import store
from telemed.demo import DemoContext
from telemed.models import User
from telemed.timeutil import utcnow

# (months ago, urgency, hospital, department) of the trips that came back.
PAST_TRIPS = ((1, "routine", "示范合作三甲医院", "心内科"), (1, "urgent", "示范合作三甲医院", "骨科"),
              (2, "routine", "市第一人民医院", "口腔科"), (3, "emergency", "示范合作三甲医院", "急诊科"),
              (3, "routine", "市第一人民医院", "眼科"), (5, "urgent", "示范合作三甲医院", "普外科"))
SUMMARY_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Count 0/Kids[]>>endobj\n"
               b"trailer<</Root 1 0 R>>\n%%EOF\n")


def load(ctx: DemoContext) -> None:
    ctx.db.call(_photos, ctx.patient_ids[:40])
    ctx.db.call(_stages, ctx)


def portrait(seed: int) -> bytes:
    """A plain head-and-shoulders silhouette: the demo's stand-in for a booking photo."""
    image = Image.new("RGB", (96, 120), (200 + seed % 40, 210, 220 - seed % 30))
    draw = ImageDraw.Draw(image)
    draw.ellipse((28, 18, 68, 62), fill=(90, 100, 115))
    draw.ellipse((10, 68, 86, 150), fill=(90, 100, 115))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _photos(session: Session, patient_ids: list[str]) -> None:
    for n, patient_id in enumerate(patient_ids):
        patient = store.read(session, "Patient", patient_id).resource
        patient["photo"] = [{"contentType": "image/png", "data": base64.b64encode(portrait(n)).decode(),
                             "title": "booking photo"}]
        store.update(session, patient, patient_id)


def _referral(session: Session, ctx: DemoContext, patient: str, urgency: str, hospital: str, department: str,
              reason: str, level: str = "enhanced") -> Referral:
    doctor = session.get(User, ctx.users["doctor"])
    return referrals.create(session, {"patient_id": patient, "urgency": urgency, "hospital": hospital,
                                      "department": department, "reason": reason, "security_level": level},
                            facility_id=ctx.facility_id, user_id=doctor.id, requester=doctor.display_name,
                            leave_at=None)


def _stages(session: Session, ctx: DemoContext) -> None:
    now = utcnow()
    guard = session.get(User, ctx.users["guard"])
    p = ctx.patient_ids
    tasks.assign(session, facility_id=ctx.facility_id, patient_id=p[10], kind=TaskKind.BRING_TO_CLINIC,
                 due=now + timedelta(minutes=45), place="clinic", source=f"Task/demo-sick-call-{p[10]}")
    brought = tasks.assign(session, facility_id=ctx.facility_id, patient_id=p[11], kind=TaskKind.BRING_TO_CLINIC,
                           due=now - timedelta(hours=1), place="clinic", source=f"Task/demo-sick-call-{p[11]}")
    tasks.mark(session, brought.id, "brought", guard, at=now - timedelta(minutes=50))

    away = _referral(session, ctx, p[12], "urgent", "示范合作三甲医院", "心内科", "胸痛待查，需行冠脉造影评估")
    referrals.advance(session, away.id, "departed", by_user=guard.id, by_name=guard.display_name,
                      at=now - timedelta(minutes=40))
    emergency = _referral(session, ctx, p[13], "emergency", "示范合作三甲医院", "急诊科", "突发意识障碍", "high")
    emergency.decided_at = now - timedelta(minutes=7)
    session.add(emergency)

    for n, (months, urgency, hospital, department) in enumerate(PAST_TRIPS):
        when = now - timedelta(days=30 * months + n)
        trip = _referral(session, ctx, p[20 + n], urgency, hospital, department, "专科评估")
        trip.decided_at = when - timedelta(minutes=25 if urgency == "emergency" else 300)
        for step, minutes in (("departed", 0), ("arrived", 40), ("returned", 240)):
            referrals.advance(session, trip.id, step, by_user=guard.id, by_name=guard.display_name,
                              at=when + timedelta(minutes=minutes))
        referrals.attach_summary(session, trip.id, title=f"{department}门诊病历", content_type="application/pdf",
                                 data=SUMMARY_PDF, author=session.get(User, ctx.users["doctor"]).display_name)
