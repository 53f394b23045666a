"""The consult demo fills every consult work list of the demo doctor and specialist."""

from __future__ import annotations

from telemed import demo
from telemed.models import User
from telemed.security import principal_of
from webrtc import demo as consult_demo
from webrtc.views import LISTS, work_lists


def test_demo_fills_the_work_lists(context):
    # Only the foundation's part of the demo, then ours: other packages' demos are theirs to test.
    loaded = demo.DemoContext(db=context.db, settings=context.settings)
    context.db.call(demo._organisations_and_users, loaded)
    context.db.call(demo._detainees, loaded, 60)
    consult_demo.load(loaded)
    for role in ("doctor", "specialist"):
        who = context.db.call(lambda s: principal_of(s.get(User, loaded.users[role])))
        lists = context.db.call(work_lists, who)
        filled = {name for name in LISTS if lists[name]}
        assert filled >= {"awaiting_decision", "awaiting_signature"}, (role, filled)
        assert any(c["flags"]["decision_overdue"] for c in lists["awaiting_decision"])
