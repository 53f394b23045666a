"""Every role against every endpoint class, on a detainee of its own facility and of another.

Each row names the users that may; everyone else must be refused with 403, and every
refusal and permission on a detainee's data must be in the audit trail. The FHIR API answers a
clinical reader outside its scope as it answers for data that does not exist (``concealed``):
404 for a read, an empty searchset for a search.
"""

from dataclasses import dataclass

import pytest
from sqlmodel import select

from telemed.models import AuditEntry

ALL = ("doc-a", "doc-b", "spec-1", "officer-a", "officer-b", "admin")
P = "fac-a-p1"  # a detainee of facility A
BOOKING = "fac-a-1"  # its booking number, in the addresses people see


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    path: str
    allowed: tuple[str, ...]
    body: dict | None = None
    patient: str | None = None  # set when the request touches a detainee's data: it must be audited
    concealed: int | None = None  # the answer to a clinical reader refused on this detainee


CLINICAL_READERS = ("doc-a", "doc-b", "spec-1", "officer-a", "officer-b")


ROWS = (
    Row("detainee list", "GET", "/api/detainees", ("doc-a", "doc-b", "spec-1", "officer-a", "officer-b")),
    Row("record page", "GET", f"/detainees/{BOOKING}", ("doc-a", "officer-a"), patient=P),
    Row("FHIR read", "GET", f"/fhir/Patient/{P}", ("doc-a", "officer-a"), patient=P, concealed=404),
    Row("FHIR search", "GET", f"/fhir/Observation?patient={P}", ("doc-a", "officer-a"), patient=P, concealed=200),
    Row("FHIR write", "POST", "/fhir/Observation", ("doc-a",), patient=P, body={
        "resourceType": "Observation", "status": "final", "code": {"text": "note"},
        "subject": {"reference": f"Patient/{P}"}, "valueString": "ok"}),
    Row("record page entry", "POST", f"/api/record/{P}/vitals", ("doc-a",), patient=P, body={"pulse": "72"}),
    Row("detainee picker", "GET", "/api/detainees/search?q=fac-a",
        ("doc-a", "doc-b", "spec-1", "officer-a", "officer-b")),
    Row("ICD-10 look-up", "GET", "/api/terminology/icd10?q=I10",
        ("doc-a", "doc-b", "spec-1", "officer-a", "officer-b")),
    Row("FHIR everything", "GET", f"/fhir/Patient/{P}/$everything", ("doc-a", "officer-a"), patient=P, concealed=404),
    Row("lab catalogue", "GET", "/api/labs/catalog", ("doc-a", "doc-b", "spec-1", "officer-a", "officer-b")),
    Row("lab order", "POST", "/api/labs/orders", ("doc-a",), patient=P, body={"patient_id": P, "panels": ["cbc"]}),
    Row("lab trends", "GET", f"/api/labs/trends?patient={P}&loinc=718-7", ("doc-a", "officer-a"), patient=P),
    Row("lab analyzers", "GET", "/api/labs/analyzers", ("doc-a", "doc-b")),
    Row("lab analyzers page", "GET", "/labs/analyzers", ("doc-a", "doc-b")),
    Row("consult request", "POST", "/api/consults", ("doc-a",), patient=P, body={
        "patient_id": P, "hospital_id": "hosp-1", "specialty": "cardiology", "question": "chest pain?",
        "urgency": "routine"}),
    Row("exam campaign", "POST", "/api/campaigns", ("officer-a",), body={
        "facility_id": "fac-a", "name": "2026H2", "period_start": "2026-07-01", "period_end": "2026-12-31",
        "patient_ids": [P]}),
    Row("audit review", "GET", f"/api/audit?patient={P}", ("officer-a", "officer-b")),
    Row("break the glass", "POST", "/api/break-glass", ("doc-a", "doc-b"),
        body={"patient_id": "fac-b-p1", "reason": "transferred last night, chest pain"}),
    Row("user admin", "GET", "/api/admin/users", ("admin",)),
    Row("organisation admin", "POST", "/api/admin/orgs", ("admin",),
        body={"id": "fac-c", "name": "Facility C", "kind": "facility"}),
)


@pytest.fixture
async def tokens(login):
    return {user: await login(user) for user in ALL}


def last_entry(context, username: str, patient: str) -> AuditEntry | None:
    context.audit.flush()
    return context.db.call(lambda s: s.exec(
        select(AuditEntry).where(AuditEntry.username == username, AuditEntry.patient_id == patient)
        .order_by(AuditEntry.seq.desc())).first())


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
async def test_matrix(client, context, tokens, row: Row):
    for user in ALL:
        before = last_entry(context, user, row.patient) if row.patient else None
        response = await client.request(row.method, row.path, json=row.body, headers=tokens[user])
        text = await response.text()
        if user in row.allowed:
            assert response.status in (200, 201), f"{row.name}: {user} refused: {response.status} {text[:300]}"
        elif row.concealed and user in CLINICAL_READERS:
            assert response.status == row.concealed, f"{row.name}: {user} got {response.status}: {text[:300]}"
            assert row.concealed != 200 or (await response.json())["total"] == 0, f"{row.name}: {user} saw data"
        else:
            assert response.status == 403, f"{row.name}: {user} got {response.status}, expected 403: {text[:300]}"
        if row.patient:
            entry = last_entry(context, user, row.patient)
            assert entry is not None and (before is None or entry.seq > before.seq), f"{row.name}: {user} not audited"
            assert entry.outcome == ("allowed" if user in row.allowed else "denied"), f"{row.name}: {user}"


async def test_lists_hold_only_what_each_may_see(client, tokens):
    seen = {}
    for user in ("doc-a", "doc-b", "spec-1", "officer-b"):
        response = await client.get("/api/detainees?limit=200", headers=tokens[user])
        seen[user] = {d["patient_id"] for d in await response.json()}
    assert seen["doc-a"] == {"fac-a-p1", "fac-a-p2", "fac-a-p3"}
    assert seen["doc-b"] == seen["officer-b"] == {"fac-b-p1", "fac-b-p2", "fac-b-p3"}
    assert seen["spec-1"] == set()  # no consult assigned yet
