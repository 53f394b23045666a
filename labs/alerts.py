"""Critical-result alerts: listed until a doctor acknowledges them, and pushed to the facility's
doctors by whichever web process sees them first (results may arrive in another process)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import Counter
from sqlalchemy import select, update
from sqlmodel import Session

from labs.catalog import catalogue
from labs.marks import row_marks
from labs.models import LabAlert, LabResult
from telemed import addresses, display
from telemed.context import context_of
from telemed.events import notice, staff_of
from telemed.i18n import LANGUAGES, translate
from telemed.metrics import METRICS
from telemed.models import Detainee, Role
from telemed.notifications import Kept, announce, keep
from telemed.pusher import Pusher
from telemed.timeutil import utcnow

PUSHED = web.AppKey("labs_alerts_pushed", Counter)


def alert_json(alert: LabAlert, name: str = "", booking: str = "", result: LabResult | None = None) -> dict:
    test = catalogue().test(alert.loinc)
    return {"id": alert.id, "patient_id": alert.patient_id, "name": name, "booking_number": booking,
            "marks": {lang: row_marks(result, lang) if result else [] for lang in LANGUAGES},
            "loinc": alert.loinc, "test": test.abbr if test else alert.loinc,
            "test_zh": test.name_zh if test else "", "test_en": test.name_en if test else "",
            "value": alert.value, "flag": alert.flag, "created_at": alert.created_at.isoformat(),
            "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
            "acknowledged_by": alert.acknowledged_by}


def _with_names(session: Session, query) -> list[dict]:
    """Alerts with the detainee's name and their result (whose marks go with the value)."""
    rows = session.execute(query.join(Detainee, Detainee.patient_id == LabAlert.patient_id, isouter=True)
                           .join(LabResult, LabResult.id == LabAlert.result_id, isouter=True)
                           .add_columns(Detainee.name, Detainee.booking_number, LabResult)).all()
    return [alert_json(a, name or "", booking or "", result) for a, name, booking, result in rows]


def open_alerts(session: Session, facility_id: str) -> list[dict]:
    """Alerts nobody acknowledged and no correction closed."""
    return _with_names(session, select(LabAlert).where(LabAlert.facility_id == facility_id,
                                                       LabAlert.acknowledged_at.is_(None),
                                                       LabAlert.closed_at.is_(None))
                       .order_by(LabAlert.created_at.desc()))


def acknowledge(session: Session, alert_id: int, user_id: int) -> LabAlert | None:
    """Record who acknowledged and when; the first acknowledgement stands."""
    alert = session.get(LabAlert, alert_id)
    if alert is not None and alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = utcnow(), user_id
        session.add(alert)
    return alert


def claim_unpushed(session: Session) -> list[dict]:
    """Alerts no process has pushed yet, marked pushed by this one (the UPDATE decides races)."""
    candidates = session.execute(select(LabAlert.id).where(LabAlert.pushed_at.is_(None)).limit(500)).scalars().all()
    claimed = []
    for alert_id in candidates:
        done = session.execute(update(LabAlert).where(LabAlert.id == alert_id, LabAlert.pushed_at.is_(None))
                               .values(pushed_at=utcnow()))
        if done.rowcount:
            claimed.append(alert_id)
    if not claimed:
        return []
    found = _with_names(session, select(LabAlert).where(LabAlert.id.in_(claimed)))
    facilities = dict(session.execute(select(LabAlert.id, LabAlert.facility_id).where(LabAlert.id.in_(claimed))).all())
    return [a | {"facility_id": facilities[a["id"]]} for a in found]


def push_message(alert: dict) -> dict:
    """A dismissible notification that opens the detainee's record, in both languages."""
    number, _, unit = alert["value"].partition(" ")
    message = notice("lab.critical", "labs.notice_critical",
                     link=addresses.record(alert["booking_number"], alert["patient_id"]),
                     severity="critical", name=alert["name"], booking=alert["booking_number"],
                     test=lambda lang: alert["test_en"] if lang == "en" else alert["test_zh"] or alert["test"],
                     value=lambda lang: f"{number} {display.unit(unit, lang)}".strip()
                     + "".join(f" [{mark}]" for mark in alert["marks"][lang]),  # haemolysed, corrected
                     flag=lambda lang: translate(lang, f"labs.flag_{alert['flag']}"))
    return {**message, "alert": alert}


def claim_and_keep(session: Session) -> list[tuple[dict, Kept]]:
    return [(alert, keep(session, push_message(alert), staff_of(alert["facility_id"], Role.FACILITY_DOCTOR),
                         alert["patient_id"])) for alert in claim_unpushed(session)]


async def publish_pending(app: web.Application) -> int:
    ctx = context_of(app)
    claimed = await ctx.db.run(claim_and_keep)
    for alert, kept in claimed:
        announce(ctx, kept)
        app[PUSHED].labels(alert["flag"]).inc()
    return len(claimed)


PUSHER = Pusher("labs_alerts", publish_pending)
wake = PUSHER.wake


def setup(app: web.Application) -> None:
    app[PUSHED] = app[METRICS].counter("telemed_lab_alerts_pushed_total", "Critical lab results pushed to doctors",
                                       ("flag",))
    PUSHER.setup(app)
