"""Notifications kept per recipient (telemed/notifications.py): stored once where the push is
made, for exactly the users the audience names; each user reads and dismisses only their own;
reads are audited."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event
from sqlmodel import select

from custody import push
from telemed.events import Audience, notice, staff_of, users
from telemed.models import Notification, Role, User
from telemed.notifications import dismiss, listed, store, unread_count
from tests.conftest import both_databases
from tests.consults_support import PATIENT, call, requested
from tests.rounds_support import audited
from tests.test_custody_tasks import CLINICAL_WORDS, assign


def _message() -> dict:
    return notice("lab.critical", "labs.notice_critical", link="/labs", severity="critical", name="王小明",
                  booking="fac-a-1", test="K", value="6.9 mmol/L", flag="HH")


@both_databases
def test_stored_for_exactly_the_audience(context, world):
    u = world.users

    def check(session) -> None:
        inactive = session.get(User, u["officer-a"])
        key = store(session, _message(), staff_of("fac-a", Role.FACILITY_DOCTOR), PATIENT)
        assert [n.user_id for n in session.exec(select(Notification).where(Notification.key == key))] == [u["doc-a"]]
        guards = Audience(org_id="fac-a", roles=(str(Role.CUSTODY_OFFICER),), except_user_ids=(u["guard-a"],))
        assert session.exec(select(Notification).where(Notification.key == store(session, _message(), guards, None))
                            ).all() == []
        inactive.active = False
        session.add(inactive)
        named = store(session, _message(), users([u["spec-1"], u["officer-a"]]), PATIENT)
        assert [n.user_id for n in session.exec(select(Notification).where(Notification.key == named))] == [u["spec-1"]]
        session.flush()
        assert unread_count(session, u["doc-a"]) == 1
        assert dismiss(session, u["doc-b"], key) == 0 and unread_count(session, u["doc-a"]) == 1
        assert dismiss(session, u["doc-a"], key) == 1 and unread_count(session, u["doc-a"]) == 0
        mine = listed(session, u["doc-a"])
        assert mine.unread == [] and [n.key for n in mine.dismissed] == [key]
        second = store(session, _message(), staff_of("fac-a", Role.FACILITY_DOCTOR), PATIENT)
        third = store(session, _message(), staff_of("fac-a", Role.FACILITY_DOCTOR), PATIENT)
        assert [n.key for n in listed(session, u["doc-a"]).unread] == [third, second]  # newest first
        assert dismiss(session, u["doc-a"]) == 2 and unread_count(session, u["doc-a"]) == 0
    context.db.call(check)


@both_databases
async def test_a_consult_request_is_kept_for_the_specialists_on_duty(client, login, context, world):
    await requested(client, login)
    spec, other, doctor = await login("spec-1"), await login("spec-2"), await login("doc-b")
    page = await (await client.get("/notifications?lang=en", headers=spec)).text()
    assert "Consult request" in page and 'href="/consults"' in page and "Dismiss all" in page
    assert "Chest pain" in page
    [entry] = [e for e in audited(context, "notification.list") if e.patient_id]
    assert entry.patient_id == PATIENT and entry.username == "spec-1"
    chinese = await (await client.get("/notifications?lang=zh-CN", headers=spec)).text()
    assert "会诊申请" in chinese
    assert "Chest pain" not in await (await client.get("/notifications?lang=en", headers=doctor)).text()
    key = context.db.call(lambda s: s.exec(select(Notification.key).where(
        Notification.user_id == world.users["spec-1"])).one())
    await call(client, "POST", f"/api/notifications/{key}/dismiss", doctor, status=404)  # not theirs
    await call(client, "POST", "/api/notifications/not-a-key/dismiss", spec, status=404)
    answer = await call(client, "POST", f"/api/notifications/{key}/dismiss", spec)
    assert answer == {"dismissed": 1, "unread": 0}
    assert (await call(client, "POST", f"/api/notifications/{key}/dismiss", spec))["dismissed"] == 0
    after = await (await client.get("/notifications?lang=en", headers=spec)).text()
    assert "No notifications waiting." in after and "Dismissed" in after and "Chest pain" in after
    assert context.db.call(unread_count, world.users["spec-2"]) == 1  # spec-2 dismissed nothing
    assert (await call(client, "POST", "/api/notifications/dismiss-all", other)) == {"dismissed": 1, "unread": 0}
    assert [e.username for e in audited(context, "notification.dismiss")] == ["spec-1", "spec-1", "spec-2"]


async def test_a_custody_task_is_kept_for_the_facilitys_officers_without_clinical_words(client, login, context, world):
    assign(context, note="after the chest pain review")
    guard = world.users["guard-a"]
    for _ in range(600):  # the custody pusher, a background task of the app, keeps it
        if context.db.call(unread_count, guard):
            break
        await asyncio.sleep(0.1)
    kept = context.db.call(lambda s: s.exec(select(Notification)).all())
    assert [n.user_id for n in kept] == [guard]
    [notice_] = kept
    words = " ".join(notice_.toast.values())
    assert "王小明" in words and not any(w.lower() in words.lower() for w in (*CLINICAL_WORDS, "chest pain"))
    page = await (await client.get("/notifications?lang=en", headers=await login("guard-a"))).text()
    assert "Custody task" in page and 'href="/custody"' in page


async def test_only_pages_read_the_bells_count(client, login, context, world):
    """The bell is counted for pages alone: the template context runs for every request, and a
    count per API or FHIR request doubled the server's cost of a FHIR read."""
    context.db.call(store, _message(), users([world.users["doc-a"]]), PATIENT)
    asked: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        if "notification" in statement:
            asked.append(statement)

    event.listen(context.db.engine, "before_cursor_execute", seen)
    try:
        doctor = await login("doc-a")
        for path in ("/api/me", f"/fhir/Patient/{PATIENT}"):
            assert (await client.get(path, headers=doctor)).status == 200
        assert asked == []
        page = await (await client.get("/?lang=en", headers=doctor)).text()
        assert '<span class="bell-count" data-testid="bell-count">1</span>' in page and asked
    finally:
        event.remove(context.db.engine, "before_cursor_execute", seen)


@both_databases
def test_a_claimed_task_and_its_notification_are_one_transaction(context, world):
    """The pusher claims a task and keeps its notification in one transaction: rolled back, the
    task is claimable again and nothing is kept; committed, the notification is there whether or
    not the push that follows reaches anyone (a process killed before it loses nothing)."""
    assign(context)

    def claim_then_fail(session) -> None:
        assert len(push.claim_and_keep(session)) == 1
        raise RuntimeError("killed before commit")

    with pytest.raises(RuntimeError):
        context.db.call(claim_then_fail)
    assert context.db.call(unread_count, world.users["guard-a"]) == 0
    [kept] = context.db.call(push.claim_and_keep)
    assert kept.key and context.db.call(unread_count, world.users["guard-a"]) == 1
    assert context.db.call(push.claim_and_keep) == []  # claimed once
