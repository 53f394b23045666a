"""The administrator's account work over the API: edit, password reset, (de)activation, the
refusals (named field, machine code), who may do it, and that each step is audited."""

from __future__ import annotations

from sqlmodel import select

from telemed.models import AuditEntry, User
from tests.conftest import PASSWORD, bearer, both_databases


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
    assert (await client.get("/api/campaigns", headers=await bearer(client, "officer-a", password))).status == 200
    stored = context.db.call(lambda s: s.get(User, user_id(context, "officer-a")).password_hash)
    assert password not in stored
    assert ("admin.users.password_reset", "allowed") in actions(context, "admin")


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
