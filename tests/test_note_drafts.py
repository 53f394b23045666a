"""Progress-note drafts from the record page, at the HTTP level: saved, listed, edited and signed
by their author only; a signed note is amended, never turned back into a draft; a specialist is
never shown a draft, even one a consult tries to share."""

from __future__ import annotations

from telemed.accounts import add_user
from telemed.models import Role
from tests.conftest import PASSWORD, both_databases
from tests.consults_support import call
from tests.test_record_write import P, post, resources


def notes(context) -> list[dict]:
    return resources(context, "DocumentReference")


@both_databases
async def test_a_draft_is_saved_edited_and_signed_by_its_author(client, login, context, world):
    doc = await login("doc-a")
    await post(client, doc, "notes/draft", {"shape": "free", "text": "first thoughts"})
    [draft] = notes(context)
    assert (draft["docStatus"], draft["status"], "authenticator" in draft) == ("preliminary", "current", False)

    page = await client.get("/notes/drafts?lang=en", headers=doc)
    assert page.status == 200 and "first thoughts" in await page.text()
    home = await client.get("/?lang=en", headers=doc)
    assert 'href="/notes/drafts"' in await home.text()

    await post(client, doc, f"notes/{draft['id']}/draft", {"shape": "soap", "subjective": "cough", "plan": "review"})
    await post(client, doc, f"notes/{draft['id']}/amend", {"shape": "free", "text": "x", "reason": "y"}, 422)
    await post(client, doc, f"notes/{draft['id']}/sign", {"shape": "soap", "subjective": "cough 3 days",
                                                          "plan": "review"})
    [note] = notes(context)
    assert (note["id"], note["docStatus"], note["authenticator"]["display"], note["meta"]["versionId"]) == (
        draft["id"], "final", "doc-a", "3")

    refused = await post(client, doc, f"notes/{draft['id']}/draft?lang=en", {"shape": "free", "text": "undo"}, 422)
    assert refused["errors"] == {"text": "This note is signed: it can only be amended, not edited as a draft."}
    await post(client, doc, f"notes/{draft['id']}/sign", {"shape": "free", "text": "again"}, 422)
    assert notes(context)[0]["meta"]["versionId"] == "3"  # nothing changed by the refusals
    assert "cough 3 days" not in await (await client.get("/notes/drafts?lang=en", headers=doc)).text()


@both_databases
async def test_only_the_author_edits_or_signs_a_draft_and_no_specialist_sees_it(client, login, context, world):
    context.db.call(lambda s: add_user(s, "doc-a2", PASSWORD, role=Role.FACILITY_DOCTOR, org_id="fac-a",
                                       display_name="doc-a2"))
    doc = await login("doc-a")
    await post(client, doc, "notes/draft", {"shape": "free", "text": "mine"})
    [draft] = notes(context)
    colleague = await login("doc-a2")
    for action in ("draft", "sign"):
        await post(client, colleague, f"notes/{draft['id']}/{action}", {"shape": "free", "text": "theirs"}, 403)
    assert "mine" not in await (await client.get("/notes/drafts", headers=colleague)).text()
    for user in ("spec-1", "officer-a", "doc-b"):
        await post(client, await login(user), f"notes/{draft['id']}/sign", {"shape": "free", "text": "x"}, 403)
        await post(client, await login(user), "notes/draft", {"shape": "free", "text": "x"}, 403)
    consult = {"patient_id": P, "hospital_id": "hosp-1", "specialty": "cardiology", "urgency": "routine",
               "question": "?", "share": [{"type": "DocumentReference", "id": draft["id"]}]}
    refused = await call(client, "POST", "/api/consults", doc, consult, status=422)
    assert "unsigned draft" in str(refused)
    spec = await login("spec-1")
    read = await client.get(f"/fhir/DocumentReference/{draft['id']}", headers=spec)
    assert read.status == 404  # not shared with them: as if it did not exist
    assert (await client.get("/notes/drafts", headers=spec)).status == 403
    [unchanged] = notes(context)
    assert (unchanged["meta"]["versionId"], unchanged["docStatus"]) == ("1", "preliminary")
