"""Shared helpers of the consult tests: a lab result to share, a second hospital, and the
workflow driven through the API up to any step."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ehr import store
from telemed.accounts import add_org, add_user
from telemed.models import OrgKind, Role
from telemed.timeutil import utcnow
from tests.conftest import PASSWORD
from webrtc import workflow

PATIENT = "fac-a-p1"


def observation(session, patient_id: str = PATIENT) -> str:
    return store.create(session, {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3", "display": "Potassium"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "valueQuantity": {"value": 4.1, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
    }).id


def add_outside_specialist(context, world) -> None:
    """spec-x: a cardiologist at another hospital, with no part in any consult."""
    def seed(session) -> None:
        add_org(session, "hosp-2", "Other Hospital", OrgKind.HOSPITAL, "其他医院")
        world.users["spec-x"] = add_user(session, "spec-x", PASSWORD, role=Role.SPECIALIST, org_id="hosp-2",
                                         display_name="spec-x", specialty="cardiology", on_duty=True).id
    context.db.call(seed)


async def call(client, method: str, url: str, headers: dict, body: dict | None = None, status: int = 200) -> dict:
    response = await client.request(method, url, json=body, headers=headers)
    text = await response.text()
    assert response.status == status, text
    return await response.json() if text else {}


async def requested(client, login, *, urgency: str = "routine", share: list | None = None) -> dict:
    doc = await login("doc-a")
    body = {"patient_id": PATIENT, "hospital_id": "hosp-1", "specialty": "cardiology", "urgency": urgency,
            "question": "Chest pain on exertion; ECG attached. Angina?", "share": share or []}
    return await call(client, "POST", "/api/consults", doc, body, status=201)


async def scheduled(client, login, *, recording: bool = True) -> dict:
    """A consult accepted by spec-1, confirmed by doc-a, custody facts recorded."""
    consult = await requested(client, login)
    start = (utcnow() + timedelta(minutes=5)).isoformat()
    await call(client, "POST", f"/api/consults/{consult['id']}/triage", await login("spec-1"),
               {"decision": "accept", "proposed_start": start, "reason": "seen today"})
    doc = await login("doc-a")
    await call(client, "POST", f"/api/consults/{consult['id']}/confirm", doc, {})
    return await call(client, "POST", f"/api/consults/{consult['id']}/custody", doc, {
        "consult_consent": True, "recording_consent": recording, "officer_present": True,
        "security_note": "handcuffs on, officer at the door"})


def start_call(context, consult_id: str) -> None:
    context.db.call(workflow.mark_call_started, consult_id, context.settings.tz)


# Chromium with a fake camera and microphone that it may use without asking.
CHROMIUM_ARGS = ["--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"]


async def write_note(page, *, note: str, recommendations: str, code: str, medication: str, dose: str):
    """Fill the room's "Note & sign" pane: note, one ICD-10 diagnosis picked by its code, one
    prescription; the prescription's row, for the caller to complete."""
    await page.click("[data-tab=closing]")
    await page.fill("#closing-form textarea[name=note]", note)
    await page.fill("#closing-form textarea[name=recommendations]", recommendations)
    await page.fill("[data-testid=diagnosis-picker]", code)
    await page.click("#closing-form [role=option]")
    await page.click("#add-rx")
    row = page.locator("#prescriptions .rx-row").last
    await row.locator("[name=medication]").fill(medication)
    await row.locator("[name=dose_value]").fill(dose)
    return row


@pytest.fixture(params=["embedded", "janus"])
def media(request) -> str:
    """Import with ``settings`` into a test module to run its calls through both media backends."""
    return request.param


@pytest.fixture
def settings(settings, media: str, request):
    """The same calls through the embedded relay and through Janus (skipped where Janus is absent)."""
    if media == "embedded":
        return settings
    janus = request.getfixturevalue("janus_server")
    return replace(settings, media="janus", janus_url=janus.url, janus_admin_url=janus.admin_url,
                   janus_admin_secret=janus.options.admin_secret)
