"""The consult pages render for their roles only; the request form's helpers answer."""

from __future__ import annotations

import re

from tests.consults_support import PATIENT, call, observation, scheduled


async def test_pages_and_form_helpers(client, login, context, world):
    obs = context.db.call(observation)
    cid = (await scheduled(client, login))["id"]
    doc = await login("doc-a")
    page = await client.get("/consults?lang=en", headers=doc)
    assert page.status == 200 and 'data-testid="list-awaiting_decision"' in await page.text()
    room = await client.get(f"/consults/{cid}/room?lang=zh-CN", headers=doc)
    assert room.status == 200 and "会诊室" in await room.text()
    spec = await login("spec-1")
    for lang in ("en", "zh-CN"):  # every key translated: a missing one would show as "webrtc.<key>"
        for path, who in (("/consults", doc), ("/consults/history", doc), (f"/consults/{cid}", doc),
                          (f"/consults/{cid}/room", doc), (f"/consults/{cid}/room", spec)):
            page = await (await client.get(f"{path}?lang={lang}", headers=who)).text()
            text = re.sub(r'(src|href)="[^"]*"', "", page)  # file names such as picker.js are no keys
            assert not re.search(r"\b(webrtc|picker|labs)\.[a-z_]", text), (path, lang)
    assert (await client.get("/consults", headers=await login("officer-a"))).status == 403
    assert (await client.get(f"/consults/{cid}/room", headers=await login("spec-2"))).status == 403

    options = await call(client, "GET", "/api/consult-options", doc)
    hospital = options["hospitals"][0]
    assert (hospital["id"], hospital["name_zh"], hospital["specialties"]) == ("hosp-1", "合作医院", ["cardiology"])
    assert {s["id"] for s in hospital["specialists"]} == {world.users["spec-1"], world.users["spec-2"]}
    items = await call(client, "GET", f"/api/consult-shareable?patient_id={PATIENT}&lang=en", doc)
    assert [(i["type"], i["id"], i["label"]) for i in items] == [("Observation", obs, "Potassium (K): 4.1 mmol/L")]
    await call(client, "GET", f"/api/consult-shareable?patient_id={PATIENT}", await login("doc-b"), status=403)
