"""Monthly figures per facility: outside trips (and how many were emergencies), trips avoided
by video consults (``webrtc.views.outcome_counts``), and, when the care workflows are present,
their sick-call clocks met and screenings on time (``care.figures.monthly``)."""

from __future__ import annotations

import csv
import importlib
import io
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from sqlalchemy import func
from sqlmodel import Session, select

from custody.models import Referral, Urgency
from telemed.models import Role
from telemed.security import Principal
from webrtc.views import outcome_counts

MONTHS = 12
# The series in the order the page and the exports show them.
OWN_SERIES = ("outside_trips", "emergencies", "trips_avoided")
# Of what care.figures.monthly answers: the sick-call clocks met (of all sick calls) and the
# screenings on time (of all arrivals); any key it does not answer is left out.
CARE_SERIES = ("sick_calls", "sick_call_triage_met", "sick_call_visit_met", "arrivals", "screenings_on_time",
               "assessments_on_time")


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @property
    def label(self) -> str:
        return f"{self.year}-{self.month:02d}"

    def start(self, tz: ZoneInfo) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=tz)

    def next(self) -> "Month":
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> "Month":
        return Month(self.year - (self.month == 1), 12 if self.month == 1 else self.month - 1)


def last_months(until: Month, count: int = MONTHS) -> list[Month]:
    months = [until]
    while len(months) < count:
        months.append(months[-1].previous())
    return months[::-1]


def care_monthly():
    """``care.figures.monthly`` if the care workflows are installed, else None."""
    try:
        return importlib.import_module("care.figures").monthly
    except ModuleNotFoundError:
        return None


def month_figures(session: Session, facility_id: str, month: Month, tz: ZoneInfo) -> dict[str, int]:
    since, until = month.start(tz), month.next().start(tz)
    trips = dict(session.exec(select(Referral.urgency, func.count()).where(
        Referral.facility_id == facility_id, Referral.departed_at >= since, Referral.departed_at < until)
        .group_by(Referral.urgency)).all())
    facility = Principal(user_id=0, username="", display_name="", role=Role.MEDICAL_OFFICER, org_id=facility_id)
    figures = {"outside_trips": int(sum(trips.values())), "emergencies": int(trips.get(Urgency.EMERGENCY, 0)),
               "trips_avoided": outcome_counts(session, facility, since, until)["trips_avoided"]}
    care = care_monthly()
    if care is not None:
        found = care(session, facility_id, month.year, month.month, tz=tz)
        figures |= {key: int(found[key]) for key in CARE_SERIES if key in found}
    return figures


def series(session: Session, facility_id: str, until: Month, tz: ZoneInfo) -> tuple[list[Month], dict[str, list[int]]]:
    months = last_months(until)
    rows = [month_figures(session, facility_id, m, tz) for m in months]
    names = list(OWN_SERIES) + [k for k in rows[0] if k not in OWN_SERIES]
    return months, {name: [r.get(name, 0) for r in rows] for name in names}


def as_csv(months: list[Month], data: dict[str, list[int]], labels: dict[str, str], month_label: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([month_label, *(labels[n] for n in data)])
    for i, month in enumerate(months):
        writer.writerow([month.label, *(data[n][i] for n in data)])
    return out.getvalue()


def as_xlsx(months: list[Month], data: dict[str, list[int]], labels: dict[str, str], month_label: str,
            title: str) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append([month_label, *(labels[n] for n in data)])
    for i, month in enumerate(months):
        sheet.append([month.label, *(data[n][i] for n in data)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    value: int
    label: str


CHART_W, CHART_H, PAD = 560, 160, 24


def bars(months: list[Month], values: list[int]) -> list[Bar]:
    """The bars of one series, in chart coordinates (the template draws the SVG)."""
    top = max(values + [1])
    width = (CHART_W - PAD) / len(values)
    return [Bar(x=PAD + i * width + 2, y=CHART_H - PAD - v / top * (CHART_H - 2 * PAD),
                height=v / top * (CHART_H - 2 * PAD), value=v, label=f"{m.month:02d}")
            for i, (m, v) in enumerate(zip(months, values))]
