"""The administrator's account work over the API: edit, password reset, (de)activation, the
refusals (named field, machine code), who may do it, and that each step is audited."""

from __future__ import annotations

import re

from sqlmodel import select

from telemed.models import AuditEntry, User
from telemed.i18n import translate
from tests.conftest import PASSWORD, bearer, both_databases

NEW_PASSWORD = "violet harbour lantern gravel"


def user_id(context, username: str) -> int:
    return context.db.call(lambda s: s.exec(select(User.id).where(User.username == username)).one())


def actions(context, username: str) -> list[tuple[str, str]]:
    context.audit.flush()
    return context.db.call(lambda s: [(e.action, e.outcome) for e in s.exec(
        select(AuditEntry).where(AuditEntry.username == username).order_by(AuditEntry.seq)).all()])


@both_databases
async def test_edit_changes_only_what_is_given_and_refuses_at_the_field(client, login, context):
    admin = await login("admin")
    doc = user_id(context, "doc-a")
    edited = await client.patch(f"/api/admin/users/{doc}", headers=admin,
                                json={"display_name": "Dr A", "on_duty": True})
    assert edited.status == 200
    body = await edited.json()
    assert body["display_name"] == "Dr A" and body["on_duty"] and body["role"] == "facility_doctor"
    assert sorted(body["changed"]) == ["display_name", "on_duty"]
    for change, field, code in (({"role": "specialist"}, "org_id", "needs_hospital"),
                                ({"org_id": "nowhere"}, "org_id", "no_org"),
                                ({"role": "chief"}, "role", "role"),
                                ({"active": "no"}, "active", "boolean"),
                                ({"username": "x"}, "username", "not_editable"),
                                ({"display_name": "x" * 201}, "display_name", "too_long")):
        refused = await client.patch(f"/api/admin/users/{doc}", headers=admin, json=change)
        assert refused.status == 422, change
        assert {k: (await refused.json())[k] for k in ("field", "code")} == {"field": field, "code": code}
    unchanged = context.db.call(lambda s: s.get(User, doc))
    assert (unchanged.role, unchanged.org_id, unchanged.display_name) == ("facility_doctor", "fac-a", "Dr A")
    moved = await client.patch(f"/api/admin/users/{doc}", headers=admin,
                               json={"role": "specialist", "org_id": "hosp-1", "specialty": "cardiology"})
    assert moved.status == 200 and (await moved.json())["org_id"] == "hosp-1"
    assert ("admin.users.update", "allowed") in actions(context, "admin")
    assert ("admin.users.update", "denied") in actions(context, "admin")


async def test_password_reset_is_shown_once_and_ends_the_old_sessions(client, login, context):
    admin = await login("admin")
    old = await bearer(client, "officer-a")
    assert (await client.get("/api/campaigns", headers=old)).status == 200
    reset = await client.post(f"/api/admin/users/{user_id(context, 'officer-a')}/password", headers=admin)
    assert reset.status == 200 and reset.headers["Cache-Control"] == "no-store"
    password = (await reset.json())["password"]
    assert len(password) >= 12 and password != PASSWORD
    assert (await client.get("/api/campaigns", headers=old)).status == 401
    assert (await client.post("/api/auth/token", json={"username": "officer-a", "password": PASSWORD})).status == 401
    assert (await client.get("/api/campaigns", headers=await bearer(client, "officer-a", password))).status == 403
    stored = context.db.call(lambda s: s.get(User, user_id(context, "officer-a")).password_hash)
    assert password not in stored
    assert ("admin.users.password_reset", "allowed") in actions(context, "admin")


@both_databases
async def test_a_reset_password_is_replaced_by_its_user_before_anything_else(client, login, context):
    admin = await login("admin")
    password = (await (await client.post(f"/api/admin/users/{user_id(context, 'officer-a')}/password",
                                         headers=admin)).json())["password"]
    token = await bearer(client, "officer-a", password)
    refused = await client.get("/api/campaigns", headers=token)
    assert refused.status == 403 and "/account/password" in (await refused.json())["error"]
    assert (await client.get("/fhir/Patient", headers=token)).status == 403
    signed_in = await client.post("/login", data={"username": "officer-a", "password": password, "next": "/exams"},
                                  allow_redirects=False)
    assert signed_in.status == 303
    for path in ("/", "/exams"):  # every page leads to the change first
        page = await client.get(path, allow_redirects=False)
        assert (page.status, page.headers["Location"]) == (303, "/account/password")
    page = await client.get("/account/password", headers={"Accept-Language": "en"})
    text = await page.text()
    assert page.status == 200 and translate("en", "password.forced") in text
    form = {"csrf_token": re.search(r'name="csrf-token" content="([^"]+)"', text).group(1),
            "current": password, "password": NEW_PASSWORD, "again": NEW_PASSWORD}
    assert (await client.post("/account/password", data=form | {"csrf_token": "forged"})).status == 403
    for change, code in (({"current": PASSWORD}, "current_wrong"), ({"again": NEW_PASSWORD + "!"}, "password_mismatch"),
                         ({"password": password, "again": password}, "password_same"),
                         ({"password": "short", "again": "short"}, "password_short"),
                         ({"password": "password1234", "again": "password1234"}, "password_weak")):
        bad = await client.post("/account/password", data=form | change, headers={"Accept-Language": "en"})
        assert bad.status == 422 and translate("en", f"password.err.{code}") in await bad.text(), code
    assert (await client.get("/api/campaigns", headers=token)).status == 403  # refusals changed nothing
    done = await client.post("/account/password", data=form, allow_redirects=False)
    assert (done.status, done.headers["Location"]) == (303, "/")
    assert (await client.get("/", allow_redirects=False)).status == 200  # the new session cookie is let in
    assert (await client.get("/api/campaigns", headers=token)).status == 401  # sessions of the reset one: ended
    assert (await client.get("/api/campaigns", headers=await bearer(client, "officer-a", NEW_PASSWORD))).status == 200
    assert context.db.call(lambda s: s.get(User, user_id(context, "officer-a")).must_change_password) is False
    assert [a for a in actions(context, "officer-a") if a[0] == "auth.password_change"] == \
        [("auth.password_change", "denied")] * 5 + [("auth.password_change", "allowed")]


async def test_deactivation_signs_out_and_the_admin_cannot_lock_themself_out(client, login, context):
    admin = await login("admin")
    doctor = await bearer(client, "doc-b")
    gone = await client.post(f"/api/admin/users/{user_id(context, 'doc-b')}/deactivate", headers=admin)
    assert gone.status == 200 and not (await gone.json())["active"]
    assert (await client.get("/api/detainees", headers=doctor)).status == 401
    me = user_id(context, "admin")
    for refused in (await client.post(f"/api/admin/users/{me}/deactivate", headers=admin),
                    await client.patch(f"/api/admin/users/{me}", headers=admin, json={"active": False}),
                    await client.patch(f"/api/admin/users/{me}", headers=admin, json={"role": "medical_officer"})):
        assert refused.status == 422 and (await refused.json())["code"] == "own_account"
    assert context.db.call(lambda s: s.get(User, me).active)
    assert (await client.patch("/api/admin/users/99999", headers=admin, json={})).status == 404


async def test_only_the_administrator_edits_accounts(client, login, context):
    target = user_id(context, "doc-a")
    for username in ("doc-a", "officer-a", "spec-1"):
        headers = await login(username)
        edit = await client.patch(f"/api/admin/users/{target}", headers=headers, json={"display_name": "x"})
        assert edit.status == 403
        assert (await client.post(f"/api/admin/users/{target}/password", headers=headers)).status == 403
        assert ("admin.users.update", "denied") in actions(context, username)
    assert context.db.call(lambda s: s.get(User, target).display_name) == "doc-a"
