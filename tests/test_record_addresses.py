"""The addresses people see name a detainee by booking number (telemed/addresses.py), within
the caller's access: an old Patient-id address is redirected for whom may read it, refused as
out of reach for anyone else; a booking number nobody has is refused the same way; a booking
number reused in another facility means the caller's own detainee; a detainee with no booking
number gets an opaque address that names nobody."""

from __future__ import annotations

import re

from sqlmodel import select

from ehr import store
from ehr.custody import custody_extension
from telemed import addresses
from telemed.models import Detainee
from tests.conftest import both_databases, make_patient


def _no_redirect(client, path: str, headers: dict):
    return client.get(path, headers=headers, allow_redirects=False)


@both_databases
async def test_the_record_is_addressed_by_booking_number(client, login, context, world):
    doc_a, doc_b = await login("doc-a"), await login("doc-b")
    page = await client.get("/detainees/fac-a-1?lang=en", headers=doc_a)
    assert page.status == 200 and not re.search(r'(?:href|action)="[^"]*fac-a-p1', await page.text())
    old = await _no_redirect(client, "/detainees/fac-a-p1?lang=en", doc_a)
    assert old.status == 302 and old.headers["Location"] == "/detainees/fac-a-1?lang=en"
    card = await _no_redirect(client, "/rounds/card/fac-a-p1.pdf", doc_a)
    assert card.status == 302 and card.headers["Location"] == "/rounds/card/fac-a-1.pdf"
    refused = []
    for path in ("/detainees/fac-a-p1", "/detainees/fac-a-1", "/detainees/no-such-booking"):
        answer = await _no_redirect(client, f"{path}?lang=en", doc_b)
        assert answer.status == 403 and "Location" not in answer.headers, path
        refused.append(re.search(r'<section class="card error-page".*?</section>', await answer.text(), re.S)[0])
    assert refused[0] == refused[1] == refused[2]  # out of reach or nobody: the page does not tell


@both_databases
async def test_a_booking_number_in_two_facilities_and_a_detainee_without_one(client, login, context, world):
    def seed(session) -> tuple[str, str]:
        twin = make_patient(session, "fac-b", "fac-a-1", family="李", given="四", resource_id="fac-b-twin")
        unbooked = store.create(session, {
            "resourceType": "Patient", "name": [{"family": "赵", "given": ["六"], "text": "赵六"}],
            "managingOrganization": {"reference": "Organization/fac-a"},
            "extension": [custody_extension("fac-a", "1-02", "2020-01-05")]}, resource_id="fac-a-unbooked").id
        return twin, unbooked
    twin, unbooked = context.db.call(seed)
    assert context.db.call(lambda s: s.get(Detainee, unbooked).booking_number) == ""
    doc_a, doc_b = await login("doc-a"), await login("doc-b")
    assert "王小明" in await (await client.get("/detainees/fac-a-1", headers=doc_a)).text()
    assert "李四" in await (await client.get("/detainees/fac-a-1", headers=doc_b)).text()
    address = addresses.record("", unbooked)
    assert address.startswith("/detainees/~") and unbooked not in address
    assert "赵六" in await (await client.get(address, headers=doc_a)).text()
    assert (await client.get(address, headers=doc_b)).status == 403
    assert (await client.get("/detainees/~0000000000000000", headers=doc_a)).status == 403
    listed = await (await client.get("/api/detainees?q=赵", headers=doc_a)).json()
    assert [d["record"] for d in listed] == [address]


async def test_a_booking_number_with_a_slash_or_a_space_is_encoded(client, login, context, world):
    context.db.call(lambda s: make_patient(s, "fac-a", "B/2026 07", family="钱", given="七"))
    address = addresses.record("B/2026 07", "ignored")
    assert address == "/detainees/B%2F2026%2007"
    assert "钱七" in await (await client.get(address, headers=await login("doc-a"))).text()
    assert context.db.call(lambda s: s.exec(select(Detainee).where(Detainee.booking_number == "B/2026 07")).one())
