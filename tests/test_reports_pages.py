"""The exam pages render for the roles that use them and refuse the others."""

from __future__ import annotations

from tests.reports_support import PERIOD

NEW = {"name": "页面测试", "period_start": PERIOD[0], "period_end": PERIOD[1], "cohort_date": "2026-02-01"}


async def test_pages_render_for_officer_and_doctor_only(client, login):
    officer = await login("officer-a")
    campaign = await (await client.post("/api/campaigns", json=NEW, headers=officer)).json()
    exam = (await (await client.get(f"/api/campaigns/{campaign['id']}", headers=officer)).json())["exams"][0]
    doctor = await login("doc-a")
    page = await client.get(f"/exams/{campaign['id']}", headers=officer)
    text = await page.text()
    assert page.status == 200 and "页面测试" in text and 'id="batch-form"' in text and "close-campaign" in text
    doctor_page = await (await client.get(f"/exams/{campaign['id']}", headers=doctor)).text()
    assert 'id="batch-form"' not in doctor_page
    entry = await client.get(f"/exams/entry/{exam['exam_id']}", headers=doctor)
    assert entry.status == 200 and "收缩压" in await entry.text() and "腹部B超" in await entry.text()
    assert (await client.get("/exams?lang=en", headers=officer)).status == 200
    for user in ("spec-1", "admin"):
        assert (await client.get("/exams", headers=await login(user))).status == 403
    assert (await client.get(f"/exams/{campaign['id']}", headers=await login("officer-b"))).status == 403
    assert (await client.get(f"/exams/entry/{exam['exam_id']}", headers=await login("doc-b"))).status == 403
    assert (await client.get(f"/exams/entry/{exam['exam_id']}", headers=officer)).status == 403
    assert (await client.get("/static/reports/exams.js")).status == 200
