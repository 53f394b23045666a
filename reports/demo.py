"""Demo data of the reports capability: a half-yearly exam campaign over the demo facility's
detainees, two thirds of them examined (with the usual share of abnormal findings), a few
refused, the rest still pending, so the completion, entry and batch pages have something to show."""

from __future__ import annotations

from datetime import date, timedelta

from reports.campaigns import CampaignSpec, create_campaign
from reports.synthetic import examine
from telemed.demo import DemoContext

EXAMINED_SHARE = 2 / 3


def load(ctx: DemoContext) -> None:
    """Add this capability's demo data."""
    today = date.today()
    start = today - timedelta(days=20)
    half = "上半年" if today.month <= 6 else "下半年"
    spec = CampaignSpec(ctx.facility_id, f"{today.year}年{half}在押人员健康体检", start.isoformat(),
                        (start + timedelta(days=60)).isoformat(), cohort_date=today.isoformat())
    campaign_id = ctx.db.call(lambda session: create_campaign(session, spec, ctx.users["officer"]).id)
    chosen = sorted(ctx.rng.sample(ctx.patient_ids, int(len(ctx.patient_ids) * EXAMINED_SHARE)))
    examine(ctx.db, campaign_id, chosen, seed=2026, refused=0.05, pending=0.0)
