"""``telemed demo``: one facility, one partner hospital, a user of each role, 200 detainees,
then each capability's own demo data. Deterministic: the same seed gives the same people."""

from __future__ import annotations

import importlib
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from ehr import store
from ehr.custody import BOOKING_SYSTEM, NATIONAL_ID_SYSTEM, custody_extension
from telemed.accounts import add_org, add_user
from telemed.config import Settings
from telemed.db import Database
from telemed.models import Detainee, OrgKind, Organization, Role, User

FACILITY = "demo-facility"
HOSPITAL = "demo-hospital"
DETAINEES = 200
# Capabilities that add their own demo data, each as ``load(DemoContext)``.
FEATURE_DEMOS = ("labs.demo", "webrtc.demo", "reports.demo", "custody.demo", "care.demo", "rounds.demo")

USERS = (
    # username, password, role, org, display name, specialty
    ("doctor", "doctor-demo-2026", Role.FACILITY_DOCTOR, FACILITY, "王建国 (Dr Wang)", None),
    ("specialist", "specialist-demo-2026", Role.SPECIALIST, HOSPITAL, "李敏 (Dr Li)", "cardiology"),
    ("officer", "officer-demo-2026", Role.MEDICAL_OFFICER, FACILITY, "张卫 (Officer Zhang)", None),
    ("admin", "admin-demo-2026", Role.ADMIN, FACILITY, "系统管理员 (Admin)", None),
    ("guard", "guard-demo-2026", Role.CUSTODY_OFFICER, FACILITY, "赵刚 (Officer Zhao)", None),
    ("kiosk", "kiosk-demo-2026", Role.CELL_KIOSK, FACILITY, "监室终端 3 (Cell kiosk 3)", None),
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林欢阳建国志文斌海东晨峰亮成军红玉兰芳娟丽静敏燕艳霞"
PINYIN_FAMILY = {"王": "Wang", "李": "Li", "张": "Zhang", "刘": "Liu", "陈": "Chen"}


class DemoRefused(Exception):
    pass


@dataclass
class DemoContext:
    db: Database
    settings: Settings
    facility_id: str = FACILITY
    hospital_id: str = HOSPITAL
    users: dict[str, int] = field(default_factory=dict)
    patient_ids: list[str] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(2026))


def state(session: Session) -> str:
    """'empty', 'demo' (already loaded) or 'real' (holds data that is not ours)."""
    if session.get(Organization, FACILITY) is not None:
        return "demo"
    orgs = session.exec(select(func.count()).select_from(Organization)).one()
    users = session.exec(select(func.count()).select_from(User)).one()
    detainees = session.exec(select(func.count()).select_from(Detainee)).one()
    return "empty" if orgs == users == detainees == 0 else "real"


def load(db: Database, settings: Settings, detainees: int = DETAINEES) -> DemoContext:
    current = db.call(state)
    if current != "empty":
        raise DemoRefused("demo data is already loaded" if current == "demo" else
                          "the database already holds real data; the demo loads only into an empty database")
    ctx = DemoContext(db=db, settings=settings)
    db.call(_organisations_and_users, ctx)
    db.call(_detainees, ctx, detainees)
    for name in FEATURE_DEMOS:
        importlib.import_module(name).load(ctx)
    return ctx


def _organisations_and_users(session: Session, ctx: DemoContext) -> None:
    add_org(session, FACILITY, "Demo Detention Centre No. 1", OrgKind.FACILITY, "示范第一看守所")
    add_org(session, HOSPITAL, "Demo Partner Tertiary Hospital", OrgKind.HOSPITAL, "示范合作三甲医院")
    for org_id, name in ((FACILITY, "Demo Detention Centre No. 1"), (HOSPITAL, "Demo Partner Tertiary Hospital")):
        store.create(session, {"resourceType": "Organization", "active": True, "name": name}, resource_id=org_id)
    for username, password, role, org, display, specialty in USERS:
        user = add_user(session, username, password, role=role, org_id=org, display_name=display,
                        specialty=specialty, on_duty=role == Role.SPECIALIST)
        ctx.users[username] = user.id


def _detainees(session: Session, ctx: DemoContext, count: int) -> None:
    today = date.today()
    for n in range(1, count + 1):
        patient = synthetic_patient(ctx.rng, n, ctx.facility_id, today)
        ctx.patient_ids.append(store.create(session, patient, resource_id=f"demo-p{n:04d}").id)


def synthetic_patient(rng: random.Random, n: int, facility_id: str, today: date) -> dict:
    family = rng.choice(SURNAMES)
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
    sex = "male" if rng.random() < 0.88 else "female"
    age_days = rng.randint(18 * 365, 70 * 365)
    birth = today - timedelta(days=age_days)
    admitted = today - timedelta(days=rng.randint(1, 700))
    region = rng.choice(("310101", "320102", "330106", "420106", "440305", "510104"))
    body = f"{region}{birth:%Y%m%d}{rng.randint(0, 99):02d}{1 if sex == 'male' else 2}"
    return {
        "resourceType": "Patient",
        "identifier": [
            {"system": BOOKING_SYSTEM, "value": f"KS{admitted:%Y}{n:05d}", "type": {"text": "booking number"}},
            {"system": NATIONAL_ID_SYSTEM, "value": body + national_id_check(body)},
        ],
        "name": [{"use": "official", "family": family, "given": [given], "text": family + given}],
        "gender": sex,
        "birthDate": birth.isoformat(),
        "managingOrganization": {"reference": f"Organization/{facility_id}"},
        "extension": [custody_extension(facility_id, f"{rng.randint(1, 12)}-{rng.randint(1, 30):02d}",
                                        admitted.isoformat())],
    }


def national_id_check(body17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of a Chinese resident identity number."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(d) * w for d, w in zip(body17, weights)) % 11]
