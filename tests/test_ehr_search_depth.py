"""Search depth from issue 16 against the real server on both databases: multi-key ``_sort``
stable across pages, token ``:text``, ``system|`` and ``:missing``, and what stays refused."""

from __future__ import annotations

from fhirpy import AsyncFHIRClient

from ehr import store
from tests.conftest import both_databases
from tests.ehr_support import HEART_RATE, fhir, observation

DAYS = ("2026-03-02", "2026-03-01", "2026-03-02", "2026-03-01", "2026-03-02", "2026-03-03")


def seed_days(context) -> list[str]:
    """Observations written in this order (so _lastUpdated grows with it), on DAYS."""
    def write(session):
        return [store.create(session, observation("fac-a-p1", when=f"{day}T08:00:00Z", value=60 + i)).id
                for i, day in enumerate(DAYS)]
    return context.db.call(write)


async def every_page(client, url: str, headers: dict) -> list[str]:
    """The ids of every page, following the next links."""
    found: list[str] = []
    while url:
        status, page, _ = await fhir(client, "GET", url, headers)
        assert status == 200, page
        found += [e["resource"]["id"] for e in page.get("entry", [])]
        nxt = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        url = nxt.split(str(client.make_url("")).rstrip("/"))[-1] if nxt else None
    return found


@both_databases
async def test_multi_key_sort_is_stable_across_pages(client, login, context):
    written = seed_days(context)
    doc = await login("doc-a")
    order = list(range(len(DAYS)))
    newest_day_first = sorted(order, key=lambda i: (-int(DAYS[i].replace("-", "")), i))
    base = f"/fhir/Observation?patient=fac-a-p1&code={HEART_RATE}&_count=2"
    assert await every_page(client, f"{base}&_sort=-date,_lastUpdated", doc) == [written[i] for i in newest_day_first]
    oldest_day_last_written_first = sorted(order, key=lambda i: (DAYS[i], -i))
    assert await every_page(client, f"{base}&_sort=date,-_lastUpdated", doc) == [written[i] for i in oldest_day_last_written_first]
    by_day_then_id = sorted(order, key=lambda i: (DAYS[i], written[i]))
    assert await every_page(client, f"{base}&_sort=date,_id", doc) == [written[i] for i in by_day_then_id]
    fhirpy = AsyncFHIRClient(str(client.make_url("/fhir")), authorization=doc["Authorization"])
    found = await fhirpy.resources("Observation").search(patient="fac-a-p1").sort("-date", "_lastUpdated").fetch_all()
    assert [r["id"] for r in found] == [written[i] for i in newest_day_first]


@both_databases
async def test_sort_refusals_name_the_key(client, login, context):
    doc = await login("doc-a")
    for value in ("status", "date,date", "_id,date", "date,", "-nonsense"):
        status, said, _ = await fhir(client, "GET", f"/fhir/Observation?_sort={value}", doc)
        assert status == 400 and said["issue"][0]["expression"] == ["_sort"], value
    status, said, _ = await fhir(client, "GET", "/fhir/Observation?_sort=date&_cursor=WzEsMiwzXQ", doc)  # [1,2,3]
    assert status == 400 and said["issue"][0]["expression"] == ["_cursor"]
