"""Search: :missing answered on string, date, quantity and reference parameters; what is still not implemented
(:above/:below, combo composites, sorting by a token) refused with a 400 naming it."""

from __future__ import annotations

import pytest

from ehr import store
from tests.conftest import both_databases
from tests.ehr_support import condition, fhir, ids, observation


def seeded(session) -> dict[str, str]:
    plain = observation("fac-a-p1")
    linked = {**observation("fac-a-p1", value=80), "encounter": {"reference": "Encounter/e1"}}
    no_value = {k: v for k, v in observation("fac-a-p2").items() if k != "valueQuantity"}
    return {"plain": store.create(session, plain).id, "linked": store.create(session, linked).id,
            "no-value": store.create(session, no_value).id,
            "condition": store.create(session, {k: v for k, v in condition("fac-a-p1").items()
                                                if k != "recordedDate"}).id}


@both_databases
async def test_missing_on_each_kind(client, context, login):
    made = context.db.call(seeded)
    doc = await login("doc-a")

    async def found(query: str) -> list[str]:
        status, bundle, _ = await fhir(client, "GET", query, doc)
        assert status == 200, bundle
        return sorted(ids(bundle))

    assert await found("/fhir/Observation?encounter:missing=true") == sorted([made["plain"], made["no-value"]])
    assert await found("/fhir/Observation?encounter:missing=false") == [made["linked"]]
    assert await found("/fhir/Observation?value-quantity:missing=true") == [made["no-value"]]
    assert await found("/fhir/Observation?patient=fac-a-p1&encounter:missing=true") == [made["plain"]]
    assert await found("/fhir/Observation?patient:missing=false&value-quantity:missing=false&encounter:missing=false") \
        == [made["linked"]]
    assert await found("/fhir/Observation?patient:missing=true") == []
    assert await found("/fhir/Condition?recorded-date:missing=true") == [made["condition"]]
    assert await found("/fhir/Patient?family:missing=false&birthdate:missing=false") == ["fac-a-p1", "fac-a-p2", "fac-a-p3"]
    status, outcome, _ = await fhir(client, "GET", "/fhir/Observation?date:missing=maybe", doc)
    assert status == 400 and outcome["issue"][0]["expression"] == ["Observation?date:missing"]


@both_databases
@pytest.mark.parametrize("query, named", [
    ("combo-code-value-quantity=8480-6$gt100", "combo-code-value-quantity"),
    ("component-code-value-concept=8480-6$x", "component-code-value-concept"),
    ("code:above=8867-4", "code:above"),
    ("code:below=8867-4", "code:below"),
    ("subject:missing=true,false", "subject:missing"),
    ("component-code-value-quantity=8480-6", "component-code-value-quantity"),
    ("_sort=status,-_lastUpdated", "_sort"),  # token rows are hashes: no order
])
async def test_what_is_not_implemented_is_refused_by_name(client, login, query, named):
    status, outcome, _ = await fhir(client, "GET", f"/fhir/Observation?{query}", await login("doc-a"))
    assert status == 400 and outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert named in " ".join(issue.get("expression", [])) + issue["diagnostics"], issue
