"""An independent FHIR client library (fhirpy) against the real server."""

from __future__ import annotations

from fhirpy import AsyncFHIRClient
import pytest
from fhirpy.base.exceptions import ResourceNotFound

from tests.ehr_support import HEART_RATE, observation


async def test_fhirpy_crud_search_and_paging(client, login):
    headers = await login("doc-a")
    fhir = AsyncFHIRClient(str(client.make_url("/fhir")), authorization=headers["Authorization"])
    for day in range(1, 6):
        await fhir.resource("Observation", **observation("fac-a-p1", when=f"2026-04-0{day}T09:30:00+08:00", value=60 + day)).save()

    found = await fhir.resources("Observation").search(patient="fac-a-p1", code=f"http://loinc.org|{HEART_RATE}").limit(2).fetch_all()
    assert len(found) == 5
    assert await fhir.resources("Observation").search(patient="fac-a-p1", date__ge="2026-04-03").count() == 3
    later = await fhir.resources("Observation").search(patient="fac-a-p1").sort("-date").first()
    assert later["valueQuantity"]["value"] == 65

    patient = await later["subject"].to_resource()
    assert patient["id"] == "fac-a-p1" and patient["gender"] == "male"

    later["status"] = "amended"
    await later.save()
    assert (await fhir.reference("Observation", later["id"]).to_resource())["meta"]["versionId"] == "2"
    await later.delete()
    with pytest.raises(ResourceNotFound, match="deleted"):
        await fhir.reference("Observation", later["id"]).to_resource()
    # Another facility's detainee: nothing found, as for one that does not exist.
    assert await fhir.resources("Observation").search(patient="fac-b-p1").fetch() == []
