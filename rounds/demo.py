"""Demo data of rounds: block 3's detainees on regular medicines (one controlled, with its count),
three days of the pill line behind them (given, refused, held, and one detainee refusing three
times running, which flags the doctor), and photos for the ID cards."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from ehr import charting, interactions
from ehr.access import Gate
from rounds import due, medpass, photo, schedule
from rounds.blocks import block_of
from rounds.medpass import DoseEntry
from telemed.demo import DemoContext
from telemed.models import Detainee, User
from telemed.security import principal_of
from telemed.timeutil import utcnow

BLOCK = "3"
# (drug, dose, frequency); the first detainees of the block get one each
# (drug as the facility's doctor writes it, dose in mg, frequency)
ORDERS = (("氨氯地平", "5", "qd"), ("二甲双胍", "500", "bid"), ("地西泮", "5", "qn"), ("奥美拉唑", "20", "qd"),
          ("布洛芬", "200", "tid"), ("左甲状腺素", "50", "qd"))
DAYS = 3


def load(ctx: DemoContext) -> None:
    ctx.db.call(_seed, ctx)


def _face(n: int) -> bytes:
    import io

    from PIL import Image, ImageDraw
    picture = Image.new("RGB", (480, 640), (200 + n * 7 % 50, 210, 220))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((120, 140, 360, 460), fill=(236, 200, 170), outline=(70, 50, 40), width=5)
    draw.ellipse((180, 260, 210, 290), fill=(30, 30, 30))
    draw.ellipse((270, 260, 300, 290), fill=(30, 30, 30))
    draw.arc((200, 330, 280, 390), 20, 160, fill=(120, 40, 40), width=4)
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def _seed(session: Session, ctx: DemoContext) -> None:
    doctor = principal_of(session.get(User, ctx.users["doctor"]))
    gate = Gate(doctor)
    tz = ctx.settings.tz
    people = [d for d in (session.get(Detainee, pid) for pid in ctx.patient_ids) if d and block_of(d.cell) == BLOCK]
    start = (utcnow().astimezone(tz) - timedelta(days=DAYS)).date()
    for n, (detainee, (drug, dose, frequency)) in enumerate(zip(people, ORDERS)):
        form = charting.Form({"drug": drug, "dose": dose, "dose_unit": "mg", "route": "oral", "frequency": frequency,
                              "start": start.isoformat()}, tz, "zh-CN")
        interactions.create(session, gate, charting.medication(form, detainee.patient_id, doctor.display_name))
        photo.store(session, gate, detainee.patient_id, _face(n), doctor.display_name)
    due.recount(session, ctx.facility_id, "地西泮", 30)
    session.flush()
    _past_pass(session, gate, ctx, start, doctor.display_name)


def _past_pass(session: Session, gate: Gate, ctx: DemoContext, start, nurse: str) -> None:
    """The days before today at the pill line, witnessed by the custody officer (and the medical
    officer for the controlled medicine); the amlodipine patient refuses every dose."""
    tz = ctx.settings.tz
    officer, second = [w.id for w in medpass.witnesses(session, ctx.facility_id) if w.id != gate.who.user_id][:2]
    for offset in range(DAYS):
        day = start + timedelta(days=offset)
        for n, dose in enumerate(schedule.doses(session, ctx.facility_id, day, block=BLOCK)):
            outcome = "refused" if dose.medicine == "氨氯地平" else ("held" if n % 5 == 4 else "given")
            taken = datetime.combine(day, schedule.SLOTS[dose.slot], tz) + timedelta(minutes=10 + n)
            medpass.record(session, gate, ctx.facility_id, DoseEntry(
                dose.key, outcome, dose.patient_id, officer, second,
                reason="血糖偏低，暂停一次" if outcome == "held" else "", taken_at=taken), nurse)
