"""The record page in headless Chromium at 1366x768, in both languages, through the pages only:
the on-site doctor adds each kind of entry and sees it after a reload; a bad value is refused
beside its field with nothing saved; a signed note is amended and its history shows; times are
the facility's; the timeline's entries open; other roles get no write controls and a forged post
is refused. The screenshots the README shows are saved under docs/screenshots/."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

from ehr import store
from telemed.i18n import translate
from tests.browser_support import launch, signed_in, watch
from tests.conftest import both_databases
from tests.ehr_support import open_consult
from webrtc import resources as consult_fhir

P = "fac-a-p1"
BOOKING = "fac-a-1"  # its booking number: the address people see
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
# Signed at 23:42 UTC on 3 March: 07:42 on 4 March in the facility (Asia/Shanghai).
SIGNED = datetime(2026, 3, 3, 23, 42, tzinfo=timezone.utc)
LOCAL_SIGNED = {"en": "04 Mar 2026 07:42", "zh-CN": "2026-03-04 07:42"}

TEXT = {
    "en": {"problem_words": "hypertension", "problem": "Essential (primary) hypertension", "implausible": "Outside what",
           "high": "High", "amended": "Earlier versions (1)", "no_known": "No known allergies", "bp": "BP",
           "temp": "Temperature", "pulse_high": "High ↑", "potassium": "Potassium", "consult_dx": "Angina pectoris",
           "once": "once daily", "substance": "Penicillin", "route": "oral",
           "diabetes": "Type 2 diabetes mellitus without complications", "dental": "Dental"},
    "zh-CN": {"problem_words": "高血压", "problem": "特发性（原发性）高血压", "implausible": "超出成人可测范围",
              "high": "偏高", "amended": "更正前的版本（1）", "no_known": "无已知过敏", "bp": "血压",
              "temp": "体温", "pulse_high": "偏高 ↑", "potassium": "钾", "consult_dx": "心绞痛",
              "once": "每日一次", "substance": "青霉素", "route": "口服",
              "diabetes": "2型糖尿病，不伴有并发症", "dental": "口腔科"},
}


def seed_history(session) -> None:
    """What other parts of the platform wrote: a consult with its note, diagnosis and
    prescription; a lab report; and a progress note signed late in the evening, UTC."""
    text = base64.b64encode("Chest pain on exertion. ECG: ST depression.".encode()).decode()
    store.create(session, consult_fhir.service_request(
        patient_id=P, hospital_id="hosp-1", specialty="cardiology", question="Chest pain", urgency="urgent",
        requester="doc-a", shared=[], authored=SIGNED, status="completed"), resource_id="consult-7")
    note = consult_fhir.consult_note(patient_id=P, consult_id="consult-7", author="spec-1", text="", at=SIGNED)
    note["content"][0]["attachment"]["data"] = text
    store.create(session, note, resource_id="consult-note-1")
    store.create(session, consult_fhir.condition(patient_id=P, consult_id="consult-7", at=SIGNED, author="spec-1",
                                                 diagnosis={"code": "I20.9", "display": "心绞痛"}))
    store.create(session, consult_fhir.medication_request(
        patient_id=P, consult_id="consult-7", at=SIGNED, author="spec-1",
        prescription={"medication": "Aspirin 100 mg", "dose_value": 100, "dose_unit": "mg", "route": "oral",
                      "frequency": "qd", "duration_days": None}, lang="en"))
    potassium = {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3", "display": "Potassium"}], "text": "钾 (K)"},
        "subject": {"reference": f"Patient/{P}"}, "effectiveDateTime": "2026-03-02T01:00:00Z",
        "valueQuantity": {"value": 6.9, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
        "interpretation": [{"coding": [{"code": "HH"}]}],
        "referenceRange": [{"low": {"value": 3.5, "unit": "mmol/L", "code": "mmol/L"},
                            "high": {"value": 5.3, "unit": "mmol/L", "code": "mmol/L"}}]}
    store.create(session, potassium, resource_id="k-1")
    store.create(session, {
        "resourceType": "DiagnosticReport", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "24326-1", "display": "Electrolytes panel"}],
                 "text": "电解质"},
        "subject": {"reference": f"Patient/{P}"}, "effectiveDateTime": "2026-03-02T01:00:00Z",
        "result": [{"reference": "Observation/k-1"}]}, resource_id="lytes-1")
    signed = {"resourceType": "DocumentReference", "status": "current", "docStatus": "final",
              "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}]},
              "subject": {"reference": f"Patient/{P}"}, "date": "2026-03-03T23:42:00Z",
              "author": [{"display": "doc-a"}],
              "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "title": "subjective",
                                          "data": base64.b64encode("Slept badly.".encode()).decode()}}]}
    store.create(session, signed, resource_id="night-note")
    store.create(session, {
        "resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
        "type": [{"coding": [{"system": "http://telemed.example.org/fhir/CodeSystem/exam-section",
                              "code": "health-check", "display": "Physical examination"}], "text": "健康体检"}],
        "subject": {"reference": f"Patient/{P}"}, "period": {"start": "2026-02-10T02:00:00Z"}}, resource_id="exam-1")
    store.create(session, {
        "resourceType": "Observation", "status": "final", "encounter": {"reference": "Encounter/exam-1"},
        "category": [{"coding": [{"code": "exam"}]}],
        "code": {"coding": [{"system": "http://telemed.example.org/fhir/CodeSystem/exam-section", "code": "dental",
                             "display": "Dental"}], "text": "口腔科"},
        "subject": {"reference": f"Patient/{P}"}, "effectiveDateTime": "2026-02-10T02:00:00Z",
        "valueString": "caries 36", "interpretation": [{"coding": [{"code": "A"}]}]})


async def submit(page: Page, form: str) -> None:
    """Submit and wait for the reload that follows a save."""
    async with page.expect_navigation():
        await page.click(f"{form} button[type=submit]")


@pytest.fixture
async def browser():
    async with async_playwright() as playwright:
        chromium = await launch(playwright)
        yield chromium
        await chromium.close()


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_doctor_documents_the_record(client, world, context, browser, lang):
    context.db.call(seed_history)
    t = TEXT[lang]
    base = str(client.make_url("")).rstrip("/")
    page = await signed_in(browser, base, "doc-a", lang)
    problems = watch(page)
    await page.goto(f"{base}/detainees/{BOOKING}")
    await page.wait_for_selector("#record")

    # times are the facility's: the note signed 23:42 UTC shows at 07:42 the next morning
    note_entry = page.locator("#timeline li[data-kind=progress-note]")
    assert await note_entry.locator("[data-testid=entry-time]").inner_text() == LOCAL_SIGNED[lang]

    # a problem, found by words in the page's language
    await page.click("[data-testid=add-problem]")
    await page.fill("[data-testid=icd-picker]", t["problem_words"])
    await page.wait_for_selector("#problem-form [role=option]")
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("Enter")
    assert (await page.input_value("[data-testid=icd-picker]")).startswith("I10")
    await page.fill("#problem-form input[name=onset]", "2025-03-01")
    await submit(page, "#problem-form")
    assert t["problem"] in await page.inner_text("#problems")

    # edited to a more exact code, then resolved
    await page.click("[data-testid=problem][data-id] [data-edit-problem]")
    assert await page.input_value("#problem-form input[name=onset]") == "2025-03-01"
    await page.fill("[data-testid=icd-picker]", "E11.9")
    await page.wait_for_selector("#problem-form [role=option]")
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("Enter")
    await submit(page, "#problem-form")
    assert t["diabetes"] in await page.inner_text("#problems")
    assert t["problem"] not in await page.inner_text("#problems")
    diabetes = page.locator("[data-testid=problem]", has_text=t["diabetes"])
    await diabetes.locator("[data-open^=resolve-]").click()
    await diabetes.locator("input[name=abatement]").fill("2026-01-02")
    await submit(page, f"#{await diabetes.locator('form').get_attribute('id')}")
    assert t["diabetes"] in await page.text_content("[data-testid=resolved-problem]")

    # an allergy, after "no known allergies", which it replaces
    async with page.expect_navigation():
        await page.click("[data-testid=nka]")
    assert await page.inner_text("[data-testid=allergy-state]") == t["no_known"]
    await page.click("#allergies [data-open=allergy-form]")
    await page.fill("#allergy-form input[name=substance]", t["substance"])
    await page.fill("#allergy-form input[name=reaction]", "rash")
    await page.select_option("#allergy-form select[name=criticality]", "high")
    await submit(page, "#allergy-form")
    assert t["substance"] in await page.inner_text("#allergies")
    assert await page.locator("[data-testid=allergy-state]").count() == 0

    # a medication
    await page.click("#medications [data-open=medication-form]")
    await page.fill("#medication-form input[name=drug]", "Amlodipine")
    await page.fill("#medication-form input[name=dose]", "5")
    await page.select_option("#medication-form select[name=frequency]", "qd")
    await submit(page, "#medication-form")
    medication = await page.inner_text("[data-testid=medication]")
    assert "Amlodipine" in medication and "5 mg" in medication and t["once"] in medication and t["route"] in medication

    stop = page.locator("[data-testid=medication]", has_text="Amlodipine")
    await stop.locator("[data-open^=stop-]").click()
    await stop.locator("input[name=reason]").fill("ankle oedema")
    await submit(page, f"#{await stop.locator('form').get_attribute('id')}")
    assert "ankle oedema" in await page.text_content("[data-testid=stopped-medication]")
    await page.click("#medications [data-open=medication-form]")
    await page.fill("#medication-form input[name=drug]", "Amlodipine")
    await page.fill("#medication-form input[name=dose]", "5")
    await page.select_option("#medication-form select[name=frequency]", "qd")
    await submit(page, "#medication-form")

    # vital signs: flagged as typed; an impossible temperature is refused beside it, nothing saved
    await page.click("#vitals [data-open=vitals-form]")
    await page.fill("#vitals-form input[name=sbp]", "150")
    await page.fill("#vitals-form input[name=dbp]", "95")
    await page.fill("#vitals-form input[name=pulse]", "118")
    assert await page.inner_text("[data-flag-for=pulse]") == t["pulse_high"]
    await page.fill("#vitals-form input[name=temperature]", "52")
    assert t["implausible"] in await page.inner_text("[data-flag-for=temperature]")
    await page.click("#vitals-form button[type=submit]")
    error = page.locator("[data-error-for=temperature]")
    await error.wait_for()
    assert t["implausible"] in await error.inner_text()
    assert await page.get_attribute("#vitals-form input[name=temperature]", "aria-invalid") == "true"
    await page.screenshot(path=str(SHOTS / f"record-vitals-refused-{lang}.png"))
    await page.reload()
    assert await page.locator("[data-testid=vital]").count() == 0  # the good values were not saved alone
    await page.click("#vitals [data-open=vitals-form]")
    for name, value in (("sbp", "150"), ("dbp", "95"), ("pulse", "118"), ("temperature", "36.8")):
        await page.fill(f"#vitals-form input[name={name}]", value)
    await submit(page, "#vitals-form")
    vitals = await page.inner_text("#vitals")
    assert "150/95 mmHg" in vitals and "36.8°C" in vitals and t["bp"] in vitals and t["temp"] in vitals
    assert "Blood pressure panel" not in vitals and "mm[Hg]" not in vitals and "Cel" not in vitals

    # a SOAP note, signed, then amended: the history shows under the current version
    await page.click("[data-testid=write-note]")
    await page.fill("#note-form textarea[name=subjective]", "Headache since yesterday")
    await page.fill("#note-form textarea[name=assessment]", "Tension headache")
    await submit(page, "#note-form")
    newest = page.locator("#timeline li[data-kind=progress-note]").first
    await newest.locator(":scope > details > summary").click()
    assert "Tension headache" in await newest.inner_text()
    await newest.locator("[data-amend-note]").click()
    assert await page.input_value("#note-form textarea[name=assessment]") == "Tension headache"
    await page.fill("#note-form textarea[name=assessment]", "Tension-type headache; BP raised")
    await page.fill("#note-form input[name=reason]", "BP added")
    await submit(page, "#note-form")
    newest = page.locator("#timeline li[data-kind=progress-note]").first
    await newest.locator(":scope > details > summary").click()
    await newest.locator("[data-testid=amendments] summary").click()
    opened = await newest.inner_text()
    assert t["amended"] in opened and "Tension-type headache; BP raised" in opened and "Tension headache\n" in opened

    # every timeline entry opens: the consult note with its diagnosis and prescription, the lab report's values
    consult = page.locator("#timeline li[data-kind=consult-note]")
    await consult.locator(":scope > details > summary").click()
    shown = await consult.inner_text()
    assert "ST depression" in shown and t["consult_dx"] in shown and "Aspirin 100 mg" in shown
    link = consult.locator("[data-testid=open-consult]")  # to the consult's own page
    assert await link.get_attribute("href") == "/consults/consult-7"
    assert await link.inner_text() == translate(lang, "ehr.consult_link.open")
    report = page.locator("#timeline li[data-kind=lab-report]")
    await report.locator(":scope > details > summary").click()
    shown = await report.inner_text()
    assert t["potassium"] in shown and "6.9 mmol/L" in shown and "3.5–5.3 mmol/L" in shown
    exam = page.locator("#timeline li[data-kind=exam]")
    await exam.locator(":scope > details > summary").click()
    assert "caries 36" in await exam.inner_text() and t["dental"] in await exam.inner_text()
    await page.screenshot(path=str(SHOTS / f"record-doctor-{lang}.png"), full_page=True)
    assert problems == [f"422 api/record/{P}/vitals"]  # the refused temperature, and nothing else


@pytest.mark.browser
@both_databases
async def test_other_roles_see_no_write_controls_and_a_forged_post_is_refused(client, world, context, browser):
    context.db.call(seed_history)
    context.db.call(open_consult, "c-1", P, world.users["spec-1"], shared=(("DocumentReference", "night-note"),))
    base = str(client.make_url("")).rstrip("/")
    for user in ("spec-1", "officer-a"):
        page = await signed_in(browser, base, user, "en")
        problems = watch(page)
        await page.goto(f"{base}/detainees/{BOOKING}")
        await page.wait_for_selector("#record")
        assert await page.locator("#record form[data-record-form], [data-open], [data-amend-note]").count() == 0
        note = page.locator("#timeline li[data-kind=progress-note]")
        await note.locator(":scope > details > summary").click()
        assert "Slept badly." in await note.inner_text()
        if user == "officer-a":  # the consult page is the doctor's and the specialist's: no link to it
            assert await page.locator("#timeline li[data-kind=consult-note]").count() == 1
            assert await page.locator("#timeline [data-testid=open-consult]").count() == 0
        status = await page.evaluate("""async (patient) => (await fetch(`/api/record/${patient}/notes`, {
            method: "POST", headers: {"Content-Type": "application/json",
            "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content},
            body: JSON.stringify({shape: "free", text: "forged"})})).status""", P)
        assert status == 403, user
        assert problems == [f"403 api/record/{P}/notes"], user
        await page.context.close()
    notes = context.db.call(lambda s: [x.resource for x in store.by_patient(s, P, ("DocumentReference",))])
    assert len(notes) == 2  # the seeded ones: nothing forged was written
