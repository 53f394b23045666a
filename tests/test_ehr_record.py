"""The detainee record page: every section, both languages, and the access rules."""

from __future__ import annotations

from ehr import store
from tests.ehr_support import GLUCOSE, condition, observation, open_consult
from tests.test_ehr_access import audit_rows


def seed_record(session) -> None:
    store.create(session, condition("fac-a-p1", text="Essential hypertension"), resource_id="cond-1")
    store.create(session, {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/fac-a-p1"},
                           "criticality": "high", "code": {"text": "Penicillin"}}, resource_id="allergy-1")
    store.create(session, {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                           "subject": {"reference": "Patient/fac-a-p1"},
                           "medicationCodeableConcept": {"text": "Amlodipine 5 mg"},
                           "dosageInstruction": [{"text": "once daily"}]}, resource_id="med-1")
    store.create(session, observation("fac-a-p1", value=70, when="2026-03-01T08:00:00Z"), resource_id="hr-old")
    store.create(session, observation("fac-a-p1", value=88, when="2026-03-02T08:00:00Z"), resource_id="hr-new")
    lab = observation("fac-a-p1", code=GLUCOSE, value=11.2, unit="mmol/L", category="laboratory", display="Glucose")
    lab["interpretation"] = [{"coding": [{"code": "H", "display": "High"}]}]
    store.create(session, lab, resource_id="lab-1")
    store.create(session, {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB", "display": "ambulatory"},
                           "subject": {"reference": "Patient/fac-a-p1"}, "period": {"start": "2026-03-02T07:00:00Z"},
                           "type": [{"text": "Clinic visit"}]}, resource_id="enc-1")
    store.create(session, {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
                           "category": [{"coding": [{"code": "consult"}]}], "code": {"text": "Cardiology consult"},
                           "subject": {"reference": "Patient/fac-a-p1"}, "authoredOn": "2026-03-03"}, resource_id="consult-1")
    store.create(session, {"resourceType": "DocumentReference", "status": "current", "description": "Cardiology note",
                           "subject": {"reference": "Patient/fac-a-p1"}, "date": "2026-03-04T00:00:00Z",
                           "content": [{"attachment": {"contentType": "text/plain", "data": "b2s="}}]}, resource_id="note-1")


async def test_record_page_shows_every_section(client, login, context):
    context.db.call(seed_record)
    doc = await login("doc-a")
    page = await client.get("/detainees/fac-a-1?lang=en", headers=doc)
    html = await page.text()
    assert page.status == 200
    for text in ("Essential hypertension", "Penicillin", "high risk", "Amlodipine 5 mg", "once daily", "88 /min",
                 "Glucose", "11.2 mmol/L", "flag-H", "Clinic visit", "Cardiology consult", "Cardiology note",
                 "Facility A", 'id="lab-trends" data-patient="fac-a-p1"', "/static/labs/trends.js",
                 'href="/consults?detainee=fac-a-1"'):
        assert text in html, text
    latest = html[html.index('id="vitals"'):html.index('data-testid="vital-history"')]
    assert "88 /min" in latest and "70 /min" not in latest  # the latest of each kind; earlier ones below
    assert "70 /min" in html[html.index('data-testid="vital-history"'):]
    assert html.index("Cardiology note") < html.index("Cardiology consult") < html.index("Clinic visit")
    chinese = await (await client.get("/detainees/fac-a-1?lang=zh-CN", headers=doc)).text()
    assert "问题列表" in chinese and "过敏史" in chinese and "甲看守所" in chinese and "会诊申请" in chinese
    assert audit_rows(context, username="doc-a", action="ehr.record", patient_id="fac-a-p1")


async def test_record_page_access(client, login, context, world):
    context.db.call(seed_record)
    for user in ("doc-b", "admin", "spec-1"):
        response = await client.get("/detainees/fac-a-1", headers=await login(user))
        assert response.status == 403, user
    # A booking number nobody has is refused as one out of reach is: the page does not tell which.
    assert (await client.get("/detainees/nobody", headers=await login("doc-a"))).status == 403
    context.db.call(open_consult, "c-1", "fac-a-p1", world.users["spec-1"], shared=(("Condition", "cond-1"),))
    html = await (await client.get("/detainees/fac-a-1?lang=en", headers=await login("spec-1"))).text()
    assert "Essential hypertension" in html and "Penicillin" not in html and "Glucose" not in html
    assert "/consults?detainee=" not in html  # only on-site doctors request consults
    assert audit_rows(context, username="doc-b", action="ehr.record", outcome="denied")


async def test_record_page_has_no_untranslated_key_in_either_language(client, login, context):
    import re

    from tests.test_record_browser import seed_history

    from ehr import vitals

    context.db.call(seed_record)
    context.db.call(seed_history)
    for vital in (vitals.blood_pressure(150, 95, "fac-a-p1", "2026-03-05T01:00:00Z", "doc-a"),
                  vitals.observation(vitals.BY_KEY["temperature"], 38.2, "fac-a-p1", "2026-03-05T01:00:00Z", "doc-a")):
        context.db.call(store.create, vital)
    doc = await login("doc-a")
    key = re.compile(r"\b(?:ehr|common|picker|detainee|labs|home)\.[a-z_-]+(?:\.[a-z_-]+)*\b")
    for lang in ("en", "zh-CN"):
        html = await (await client.get(f"/detainees/fac-a-1?lang={lang}", headers=doc)).text()
        shown = re.sub(r"<script.*?</script>|<[^>]+>", " ", html, flags=re.S)
        assert key.findall(shown) == [], lang
        assert "150/95 mmHg" in shown and "38.2°C" in shown
        for raw in ("mm[Hg]", "Cel", "Blood pressure panel", "consult-note", "problem-list-item", "progress-note"):
            assert not re.search(rf"(?<!\w){re.escape(raw)}(?!\w)", shown), (lang, raw)
