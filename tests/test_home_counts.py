"""Each role's home page counts only what that role may see, and links each count to its list."""

from __future__ import annotations

import re

from tests.conftest import both_databases
from tests.reports_support import PERIOD

NEW = {"name": "计数", "period_start": PERIOD[0], "period_end": PERIOD[1], "cohort_date": "2026-02-01"}


async def counts(client, headers) -> dict[str, tuple[int, str]]:
    page = await (await client.get("/?lang=en", headers=headers)).text()
    return {key: (int(value), href) for href, key, value in
            re.findall(r'<a class="count[^"]*" href="([^"]*)" data-count="([a-z_]+)"><b>(\d+)</b>', page)}


@both_databases
async def test_counts_stay_within_the_role_and_facility(client, login, world):
    officer_a, officer_b = await login("officer-a"), await login("officer-b")
    campaign = await (await client.post("/api/campaigns", json=NEW, headers=officer_a)).json()
    total = campaign["completion"]["total"]
    mine = await counts(client, officer_a)
    assert mine["exams_pending"] == (total, f"/exams/{campaign['id']}?status=pending")
    assert mine["exams_to_review"] == (0, f"/exams/{campaign['id']}?status=to_review")
    assert mine["campaigns_running"] == (1, "/exams")
    theirs = await counts(client, officer_b)
    assert theirs["exams_pending"][0] == 0 and theirs["campaigns_running"][0] == 0
    await client.post(f"/api/campaigns/{campaign['id']}/close", headers=officer_a)
    assert (await counts(client, officer_a))["exams_pending"][0] == 0  # a closed campaign waits for nobody

    assert set(await counts(client, await login("doc-a"))) == {
        "critical_results", "consults_awaiting_decision", "notes_awaiting_signature", "results_held", "lab_orders_open",
        "custody_on_the_way", "custody_referrals_open", "care_unscreened", "care_sick_calls"}
    assert set(await counts(client, await login("guard-a"))) == {"custody_open", "custody_escorts"}
    assert set(await counts(client, await login("spec-1"))) == {"consults_to_triage", "consults_scheduled",
                                                               "drafts_to_sign"}
    admin = await counts(client, await login("admin"))
    assert admin["accounts"] == (10, "/admin?state=active") and admin["inactive_accounts"][0] == 0
