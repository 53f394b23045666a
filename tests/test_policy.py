"""The access policy itself, on both databases. The HTTP matrix is in test_permission_matrix.py."""

from datetime import timedelta

import pytest

from ehr import store
from ehr.custody import custody_extension

from telemed.models import ConsultAccess, ConsultShare, User
from telemed.policy import (BreakGlassRefused, Capability, decide, open_break_glass, patient_scope)
from telemed.security import principal_of
from telemed.timeutil import utcnow
from tests.conftest import both_databases

READ = Capability.CLINICAL_READ


def who(session, username):
    from sqlmodel import select

    return principal_of(session.exec(select(User).where(User.username == username)).one())


def grant_consult(session, world, specialist="spec-1", patient="fac-a-p1", *, accepted_days_ago=1,
                  closed_days_ago=None, shares=(("Observation", "obs-1"),), consult_id="c-1"):
    now = utcnow()
    session.add(ConsultAccess(
        consult_id=consult_id, patient_id=patient, specialist_id=world.users[specialist],
        accepted_at=now - timedelta(days=accepted_days_ago),
        closed_at=None if closed_days_ago is None else now - timedelta(days=closed_days_ago)))
    for rtype, rid in shares:
        session.add(ConsultShare(consult_id=consult_id, resource_type=rtype, resource_id=rid))
    session.flush()


@both_databases
def test_facility_staff_see_only_their_facility(context, world):
    def check(session):
        doc_a, officer_a = who(session, "doc-a"), who(session, "officer-a")
        assert decide(session, doc_a, READ, "fac-a-p1").allowed
        assert decide(session, doc_a, Capability.CLINICAL_WRITE, "fac-a-p1").allowed
        assert decide(session, officer_a, READ, "fac-a-p1").allowed
        denied = decide(session, doc_a, READ, "fac-b-p1")
        assert not denied.allowed and denied.reason == "detainee belongs to another facility"
        assert not decide(session, officer_a, READ, "fac-b-p2").allowed
        # Officers read but do not write clinical data.
        assert not decide(session, officer_a, Capability.CLINICAL_WRITE, "fac-a-p1").allowed

    context.db.call(check)


def test_admin_reads_no_clinical_data(context, world):
    def check(session):
        admin = who(session, "admin")
        decision = decide(session, admin, READ, "fac-a-p1")
        assert not decision.allowed and "may not clinical.read" in decision.reason
        assert patient_scope(session, admin).facility_id is None

    context.db.call(check)


@both_databases
def test_specialist_sees_only_assigned_and_shared(context, world):
    def check(session):
        grant_consult(session, world)
        spec1, spec2 = who(session, "spec-1"), who(session, "spec-2")
        assert decide(session, spec1, READ, "fac-a-p1").consult_ids == ("c-1",)
        assert decide(session, spec1, READ, "fac-a-p1", resource=("Observation", "obs-1")).allowed
        not_shared = decide(session, spec1, READ, "fac-a-p1", resource=("Observation", "obs-2"))
        assert not not_shared.allowed and "not shared" in not_shared.reason
        assert not decide(session, spec1, READ, "fac-a-p2").allowed  # another detainee
        assert not decide(session, spec2, READ, "fac-a-p1").allowed  # not their consult
        assert not decide(session, spec1, Capability.CLINICAL_WRITE, "fac-a-p1").allowed
        assert patient_scope(session, spec1).patient_ids == frozenset({"fac-a-p1"})

    context.db.call(check)


@pytest.mark.parametrize("accepted_days_ago, closed_days_ago, allowed", [
    (-1, None, False),  # accepted in the future: not yet open
    (10, None, True),   # open consult
    (60, 29, True),     # closed 29 days ago: still inside the 30-day grace
    (60, 31, False),    # closed 31 days ago: window shut
])
def test_specialist_window(context, world, accepted_days_ago, closed_days_ago, allowed):
    def check(session):
        grant_consult(session, world, accepted_days_ago=accepted_days_ago, closed_days_ago=closed_days_ago)
        return decide(session, who(session, "spec-1"), READ, "fac-a-p1").allowed

    assert context.db.call(check) is allowed


@both_databases
def test_break_the_glass(context, world):
    def check(session):
        doc_a = who(session, "doc-a")
        with pytest.raises(BreakGlassRefused, match="reason"):
            open_break_glass(session, doc_a, "fac-b-p1", "urgent")
        with pytest.raises(BreakGlassRefused, match="may not"):
            open_break_glass(session, who(session, "officer-a"), "fac-b-p1", "transferred detainee, chest pain")
        grant = open_break_glass(session, doc_a, "fac-b-p1", "transferred last night, chest pain now")
        decision = decide(session, doc_a, READ, "fac-b-p1")
        assert decision.allowed and decision.break_glass
        assert "fac-b-p1" in patient_scope(session, doc_a).patient_ids
        assert not decide(session, doc_a, READ, "fac-b-p2").allowed  # only that detainee
        grant.expires_at = utcnow() - timedelta(seconds=1)
        session.add(grant)
        session.flush()
        assert not decide(session, doc_a, READ, "fac-b-p1").allowed

    context.db.call(check)


def test_transfer_moves_access(context, world):
    def transfer(session):
        patient = store.read(session, "Patient", "fac-a-p1").resource
        patient["managingOrganization"] = {"reference": "Organization/fac-b"}
        patient["extension"] = [custody_extension("fac-b", "2-02", "2026-01-05")]
        store.update(session, patient, "fac-a-p1")

    def check(session):
        assert not decide(session, who(session, "doc-a"), READ, "fac-a-p1").allowed
        assert decide(session, who(session, "doc-b"), READ, "fac-a-p1").allowed
        assert len(store.history(session, "Patient", "fac-a-p1")) == 2  # the history moved with them

    context.db.call(transfer)
    context.db.call(check)
