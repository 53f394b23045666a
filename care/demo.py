"""Demo data of the care capability: arrivals not yet screened (one overdue), arrivals screened
with the flags their answers raised, and sick calls at each stage, one past its triage
deadline."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, select

from care import intake, questionnaire, sickcall
from care.models import Intake
from ehr import store
from ehr.custody import BOOKING_SYSTEM, custody_extension
from telemed.demo import DemoContext
from telemed.models import Detainee, User
from telemed.security import principal_of
from telemed.timeutil import utcnow

ARRIVALS = (("周", "建华", "male"), ("吴", "海波", "male"), ("郑", "丽娟", "female"), ("孙", "志强", "male"),
            ("马", "晓东", "male"))
# (category, words, urgent, hours ago)
REQUESTS = (
    ("dental", "牙疼了三天，晚上睡不着", False, 1),
    ("illness", "发烧两天了，浑身没劲", False, 30),
    ("illness", "胸口闷，喘不上气", True, 0),
    ("medication", "我的降压药吃完了", False, 3),
    ("injury", "昨天打球扭到脚踝，肿了", False, 20),
    ("other", "想问体检结果什么时候出来", False, 5),
)


def load(ctx: DemoContext) -> None:
    ctx.db.call(_seed, ctx)


def _seed(session: Session, ctx: DemoContext) -> None:
    doctor = principal_of(session.get(User, ctx.users["doctor"]))
    now, tz = utcnow(), ctx.settings.tz
    arrivals = [_arrive(session, ctx, n, *person) for n, person in enumerate(ARRIVALS)]
    overdue, _waiting, suicidal, coughing, well = arrivals
    _shift(overdue, hours=7)
    for row, answers in ((suicidal, {"suicide_thoughts": True, "medication_now": True,
                                     "medication_list": "氨氯地平 5 mg 每日一次"}),
                         (coughing, {"tb_cough": True, "tb_fever_sweats": True, "alcohol_daily": True}),
                         (well, {})):
        person = session.get(Detainee, row.patient_id)
        intake.record_screening(session, doctor, row, person, questionnaire.negative() | answers, now)
    calls = [sickcall.submit(session, doctor, session.get(Detainee, ctx.patient_ids[10 + n * 3]), words, category,
                             urgent, now - timedelta(hours=ago), tz)
             for n, (category, words, urgent, ago) in enumerate(REQUESTS)]
    _waiting, _late, _urgent, scheduled, seen, closed = calls
    visit = now + timedelta(hours=2)
    sickcall.triage(session, doctor, scheduled, urgent=False, visit_at=visit, place="clinic", reason="", now=now, tz=tz)
    sickcall.triage(session, doctor, seen, urgent=False, visit_at=visit, place="clinic", reason="", now=now, tz=tz)
    sickcall.record_visit(session, seen, "seen", "左踝软组织挫伤，冰敷，布洛芬 3 天。", now)
    sickcall.triage(session, doctor, closed, urgent=False, visit_at=None, place="", now=now, tz=tz,
                    reason="体检报告已出，由管教转告本人。")


def _arrive(session: Session, ctx: DemoContext, n: int, family: str, given: str, sex: str) -> Intake:
    patient = store.create(session, {
        "resourceType": "Patient", "identifier": [{"system": BOOKING_SYSTEM, "value": f"KS{date.today():%Y}{901 + n:05d}"}],
        "name": [{"family": family, "given": [given], "text": family + given}], "gender": sex,
        "birthDate": f"{1975 + n * 4}-0{n + 1}-15", "managingOrganization": {"reference": f"Organization/{ctx.facility_id}"},
        "extension": [custody_extension(ctx.facility_id, f"{n + 1}-0{n + 1}", date.today().isoformat())],
    }, resource_id=f"demo-new-{n + 1}").id
    session.flush()
    return session.exec(select(Intake).where(Intake.patient_id == patient)).one()


def _shift(row: Intake, hours: int) -> None:
    row.admitted_at -= timedelta(hours=hours)

