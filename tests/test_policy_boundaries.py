"""The access policy at its limits, role by role and rule by rule: the exact instants a
consult window and a break-the-glass grant open and close, shares seen only through the consult
that made them, the list scope, and the written reason for emergency access."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from telemed.accounts import add_user
from telemed.models import BreakGlass, ConsultAccess, ConsultShare, Detainee, Role, User
from telemed.policy import (BREAK_GLASS_HOURS, HOSPITAL_SYSTEM, decide_custody, ROLE_CAPABILITIES, BreakGlassRefused, Capability, Decision,
                            PatientScope, active_consults, decide, decide_facility, may, open_break_glass,
                            patient_scope, shared_resources)
from telemed.security import Principal, principal_of
from telemed.timeutil import as_utc, utcnow

C = Capability
READ = C.CLINICAL_READ
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
TICK = timedelta(microseconds=1)
# Written out here, not read from the module: a change to the table must fail this test.
EXPECTED = {
    Role.FACILITY_DOCTOR: {C.CLINICAL_READ, C.CLINICAL_WRITE, C.ORDER_LABS, C.ENTER_RESULTS, C.VIEW_CATALOG,
                           C.REQUEST_CONSULT, C.JOIN_CONSULT, C.ENTER_EXAMS, C.BREAK_GLASS, C.SUBMIT_SICK_CALL},
    Role.SPECIALIST: {C.CLINICAL_READ, C.VIEW_CATALOG, C.TRIAGE_CONSULT, C.SIGN_CONSULT, C.JOIN_CONSULT},
    Role.MEDICAL_OFFICER: {C.CLINICAL_READ, C.VIEW_CATALOG, C.MANAGE_CAMPAIGNS, C.PRINT_REPORTS, C.REVIEW_AUDIT,
                           C.APPROVE_ACCOUNTS, C.SET_CARE_RULES},
    Role.ADMIN: {C.MANAGE_USERS, C.MANAGE_ORGS},
    Role.CUSTODY_OFFICER: {C.CUSTODY_ROSTER, C.CUSTODY_TASKS, C.SUBMIT_SICK_CALL},
    Role.CELL_KIOSK: {C.SUBMIT_SICK_CALL},
}


def who(session, username: str) -> Principal:
    return principal_of(session.exec(select(User).where(User.username == username)).one())


def access(session, world, *, consult="c-1", specialist="spec-1", patient="fac-a-p1", accepted=NOW - timedelta(days=1),
           closed=None, shares=()):
    session.add(ConsultAccess(consult_id=consult, patient_id=patient, specialist_id=world.users[specialist],
                              accepted_at=accepted, closed_at=closed))
    for rtype, rid in shares:
        session.add(ConsultShare(consult_id=consult, resource_type=rtype, resource_id=rid))
    session.flush()


def grant(session, world, user: str, patient: str, expires: datetime) -> None:
    session.add(BreakGlass(user_id=world.users[user], patient_id=patient, reason="written reason", expires_at=expires))
    session.flush()


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("capability", list(Capability))
def test_each_role_against_each_capability(role, capability):
    principal = Principal(user_id=1, username="u", display_name="u", role=role, org_id="fac-a")
    assert may(principal, capability) is (capability in EXPECTED[role])


def test_an_unknown_role_may_nothing():
    stranger = Principal(user_id=1, username="u", display_name="u", role="nurse", org_id="fac-a")
    assert not any(may(stranger, capability) for capability in Capability)


def test_a_decision_is_true_only_when_allowed():
    assert bool(Decision(True, "ok")) and not bool(Decision(False, "no"))
    assert not bool(Decision(False, "no", break_glass=True, consult_ids=("c-1",)))


def test_no_such_detainee_is_denied_to_every_reader(rolled_back):
    session, world = rolled_back
    for username in ("doc-a", "officer-a", "spec-1"):
        decision = decide(session, who(session, username), READ, "nobody", now=NOW)
        assert decision == Decision(False, "no detainee nobody"), username


def test_denials_name_the_role_and_the_capability(rolled_back):
    session, world = rolled_back
    assert decide(session, who(session, "admin"), READ, "fac-a-p1", now=NOW) == Decision(
        False, "role admin may not clinical.read")
    assert decide(session, who(session, "spec-1"), C.CLINICAL_WRITE, "fac-a-p1", now=NOW) == Decision(
        False, "role specialist may not clinical.write")


def test_a_role_with_the_capability_but_no_data_rule_reads_nothing(rolled_back, monkeypatch):
    """Fail closed: a role added to the table without a rule for detainee data sees none."""
    monkeypatch.setitem(ROLE_CAPABILITIES, "auditor", frozenset({READ}))

    session, world = rolled_back
    auditor = Principal(user_id=world.users["admin"], username="x", display_name="x", role="auditor",
                        org_id="fac-a")
    assert decide(session, auditor, READ, "fac-a-p1", now=NOW) == Decision(
        False, "role auditor reads no clinical data")


def test_facility_staff_own_facility_and_nothing_else(rolled_back):
    session, world = rolled_back
    for username in ("doc-a", "officer-a"):
        assert decide(session, who(session, username), READ, "fac-a-p2", now=NOW) == Decision(True, "own facility")
        assert decide(session, who(session, username), READ, "fac-b-p2", now=NOW) == Decision(
            False, "detainee belongs to another facility")


def test_break_the_glass_holds_until_the_exact_expiry(rolled_back):
    session, world = rolled_back
    doc_a = who(session, "doc-a")
    grant(session, world, "doc-a", "fac-b-p1", NOW)
    assert decide(session, doc_a, READ, "fac-b-p1", now=NOW - TICK) == Decision(
        True, "break-the-glass", break_glass=True)
    assert not decide(session, doc_a, READ, "fac-b-p1", now=NOW)  # expired at that instant
    assert not decide(session, doc_a, READ, "fac-b-p2", now=NOW - TICK)  # another detainee
    colleague = add_user(session, "doc-a2", "another-long-password", role=Role.FACILITY_DOCTOR, org_id="fac-a",
                         display_name="doc-a2")
    assert not decide(session, principal_of(colleague), READ, "fac-b-p1", now=NOW - TICK)  # doc-a's grant, not theirs


def test_break_the_glass_is_honoured_only_for_the_facility_doctor(rolled_back):
    """A grant row for a medical officer (which open_break_glass refuses) gives them nothing."""
    session, world = rolled_back
    grant(session, world, "officer-a", "fac-b-p1", NOW + timedelta(hours=1))
    officer = who(session, "officer-a")
    assert decide(session, officer, READ, "fac-b-p1", now=NOW) == Decision(
        False, "detainee belongs to another facility")
    assert patient_scope(session, officer, NOW) == PatientScope(facility_id="fac-a")


def test_the_consult_window_opens_at_acceptance_and_closes_after_the_grace(rolled_back):
    session, world = rolled_back
    accepted, closed = NOW - timedelta(days=40), NOW - timedelta(days=30)
    access(session, world, accepted=accepted, closed=closed)
    spec = who(session, "spec-1")
    assert not decide(session, spec, READ, "fac-a-p1", now=accepted - TICK)
    assert decide(session, spec, READ, "fac-a-p1", now=accepted) == Decision(
        True, "assigned consult", consult_ids=("c-1",))
    assert decide(session, spec, READ, "fac-a-p1", now=NOW)  # exactly 30 days after closing: still open
    assert decide(session, spec, READ, "fac-a-p1", now=NOW + TICK) == Decision(
        False, "no open consult assigned to you for this detainee")
    assert active_consults(session, spec, "fac-a-p1", NOW) == ("c-1",)
    assert active_consults(session, spec, "fac-a-p1", NOW + TICK) == ()


def test_an_open_consult_never_closes_by_time(rolled_back):
    session, world = rolled_back
    access(session, world, accepted=NOW - timedelta(days=400))
    assert decide(session, who(session, "spec-1"), READ, "fac-a-p1", now=NOW).allowed


def test_the_list_scope_follows_the_consult_window(rolled_back):
    session, world = rolled_back
    spec = who(session, "spec-1")
    access(session, world, consult="c-1", patient="fac-a-p1", accepted=NOW - timedelta(days=40),
           closed=NOW - timedelta(days=30))
    access(session, world, consult="c-2", patient="fac-b-p1", accepted=NOW + timedelta(hours=1))
    access(session, world, consult="c-3", patient="fac-a-p3", specialist="spec-2")
    assert patient_scope(session, spec, NOW) == PatientScope(patient_ids=frozenset({"fac-a-p1"}))
    assert patient_scope(session, spec, NOW + TICK) == PatientScope()
    assert patient_scope(session, spec, NOW + timedelta(hours=1)) == PatientScope(
        patient_ids=frozenset({"fac-b-p1"}))


def test_a_hospital_system_reads_through_its_own_hospitals_specialists_only(rolled_back):
    """A partner hospital's system sees what the consults of that hospital's specialists opened,
    window by window, and nothing a user of another organisation was given."""
    session, world = rolled_back
    system = Principal(user_id=0, username="client:x", display_name="x", role=HOSPITAL_SYSTEM, org_id="hosp-1")
    access(session, world, consult="c-1", patient="fac-a-p1")
    access(session, world, consult="c-2", patient="fac-a-p2", specialist="spec-2")
    access(session, world, consult="c-3", patient="fac-b-p1", specialist="doc-b")  # not of hosp-1
    assert patient_scope(session, system, NOW) == PatientScope(patient_ids=frozenset({"fac-a-p1", "fac-a-p2"}))
    assert active_consults(session, system, "fac-a-p2", NOW) == ("c-2",)
    assert active_consults(session, system, "fac-b-p1", NOW) == ()
    elsewhere = Principal(user_id=0, username="client:y", display_name="y", role=HOSPITAL_SYSTEM, org_id="fac-b")
    assert patient_scope(session, elsewhere, NOW) == PatientScope(patient_ids=frozenset({"fac-b-p1"}))


def test_the_list_scope_of_a_doctor_counts_only_live_grants_of_their_own(rolled_back):
    session, world = rolled_back
    doc_a = who(session, "doc-a")
    grant(session, world, "doc-a", "fac-b-p1", NOW + timedelta(hours=1))
    grant(session, world, "doc-a", "fac-b-p2", NOW)  # expires at that instant
    grant(session, world, "doc-b", "fac-b-p3", NOW + timedelta(hours=1))
    assert patient_scope(session, doc_a, NOW) == PatientScope(facility_id="fac-a",
                                                               patient_ids=frozenset({"fac-b-p1"}))
    assert patient_scope(session, doc_a, NOW - TICK).patient_ids == frozenset({"fac-b-p1", "fac-b-p2"})
    assert patient_scope(session, who(session, "admin"), NOW) == PatientScope()


def test_the_scope_condition_selects_exactly_its_detainees(rolled_back):
    def rows(session, scope: PatientScope) -> set[str]:
        query = select(Detainee.patient_id).where(scope.where(Detainee.patient_id, Detainee.facility_id))
        return set(session.exec(query).all())

    session, world = rolled_back
    assert rows(session, PatientScope()) == set()
    assert rows(session, PatientScope(facility_id="fac-a")) == {"fac-a-p1", "fac-a-p2", "fac-a-p3"}
    assert rows(session, PatientScope(patient_ids=frozenset({"fac-b-p2"}))) == {"fac-b-p2"}
    assert rows(session, PatientScope(facility_id="fac-b", patient_ids=frozenset({"fac-a-p1"}))) == {
        "fac-a-p1", "fac-b-p1", "fac-b-p2", "fac-b-p3"}


def test_a_share_is_seen_only_through_the_consult_that_made_it(rolled_back):
    session, world = rolled_back
    spec = who(session, "spec-1")
    access(session, world, consult="c-1", shares=[("Observation", "obs-1")])
    # The same specialist's closed consult on the same detainee, and another specialist's open one.
    access(session, world, consult="c-old", accepted=NOW - timedelta(days=90), closed=NOW - timedelta(days=31),
           shares=[("Observation", "obs-old")])
    access(session, world, consult="c-2", specialist="spec-2", shares=[("Observation", "obs-2")])

    def read(resource):
        return decide(session, spec, READ, "fac-a-p1", resource=resource, now=NOW)

    assert read(("Observation", "obs-1")) == Decision(True, "shared with consult", consult_ids=("c-1",))
    assert read(("Observation", "obs-old")) == Decision(
        False, "Observation/obs-old was not shared with your consult")
    assert not read(("Observation", "obs-2"))
    assert not read(("Condition", "obs-1"))  # the type counts, not just the id
    assert read(("Patient", "fac-a-p1")) == Decision(True, "assigned consult", consult_ids=("c-1",))
    assert not read(("Patient", "fac-a-p2"))
    assert shared_resources(session, ("c-1",)) == {("Observation", "obs-1")}
    assert shared_resources(session, ("c-1", "c-2")) == {("Observation", "obs-1"), ("Observation", "obs-2")}


def test_staff_act_on_new_data_only_in_their_own_facility(rolled_back):
    session, world = rolled_back
    assert decide_facility(who(session, "doc-a"), C.CLINICAL_WRITE, "fac-a") == Decision(True, "own facility")
    assert decide_facility(who(session, "officer-a"), C.MANAGE_CAMPAIGNS, "fac-a") == Decision(
        True, "own facility")
    assert decide_facility(who(session, "doc-a"), C.CLINICAL_WRITE, "fac-b") == Decision(
        False, "facility fac-b is not yours")
    # A specialist may read, but no facility is theirs, not even their hospital.
    assert decide_facility(who(session, "spec-1"), READ, "hosp-1") == Decision(
        False, "facility hosp-1 is not yours")
    assert decide_facility(who(session, "officer-a"), C.CLINICAL_WRITE, "fac-a") == Decision(
        False, "role medical_officer may not clinical.write")


def test_a_break_the_glass_grant_lasts_four_hours(rolled_back):
    session, world = rolled_back
    before = utcnow()
    opened = open_break_glass(session, who(session, "doc-a"), "fac-b-p1", "  transferred, chest pain  ")
    after = utcnow()
    assert opened.id is not None and opened.user_id == world.users["doc-a"] and opened.patient_id == "fac-b-p1"
    assert opened.reason == "transferred, chest pain"
    assert BREAK_GLASS_HOURS == 4
    assert before + timedelta(hours=4) <= as_utc(opened.expires_at) <= after + timedelta(hours=4)


def test_break_the_glass_refusals(rolled_back):
    session, world = rolled_back
    doc_a = who(session, "doc-a")
    for username in ("officer-a", "spec-1", "admin"):
        role = who(session, username).role
        with pytest.raises(BreakGlassRefused, match=f"^role {role} may not use emergency access$"):
            open_break_glass(session, who(session, username), "fac-b-p1", "a long enough reason")
    with pytest.raises(BreakGlassRefused, match="^a written reason of at least 10 characters is required$"):
        open_break_glass(session, doc_a, "fac-b-p1", "   123456789   ")  # 9 characters once stripped
    with pytest.raises(BreakGlassRefused, match="^no detainee nobody$"):
        open_break_glass(session, doc_a, "nobody", "a long enough reason")
    assert open_break_glass(session, doc_a, "fac-b-p1", "1234567890").reason == "1234567890"  # exactly 10
    assert len(session.exec(select(BreakGlass)).all()) == 1  # the refusals wrote nothing


def test_a_custody_officer_reads_no_clinical_data_of_any_detainee(rolled_back):
    """Refused at the role, in their own facility too, for every clinical capability; no list scope."""
    session, world = rolled_back
    guard = who(session, "guard-a")
    clinical = set(Capability) - {C.CUSTODY_ROSTER, C.CUSTODY_TASKS, C.SUBMIT_SICK_CALL}
    for capability in clinical:
        assert decide(session, guard, capability, "fac-a-p1", now=NOW) == Decision(
            False, f"role custody_officer may not {capability.value}"), capability
        assert not decide_facility(guard, capability, "fac-a")
    assert patient_scope(session, guard, NOW) == PatientScope()
    grant(session, world, "guard-a", "fac-a-p1", NOW + timedelta(hours=1))  # a grant row gives them nothing
    assert not decide(session, guard, READ, "fac-a-p1", now=NOW)
    with pytest.raises(BreakGlassRefused):
        open_break_glass(session, guard, "fac-a-p1", "needs the history at once")


def test_a_cell_kiosk_only_enters_sick_calls(rolled_back):
    """Shared by a cell: every capability but entering a request is refused, custody ones too."""
    session, world = rolled_back
    kiosk = who(session, "kiosk-a")
    for capability in set(Capability) - {C.SUBMIT_SICK_CALL}:
        assert decide(session, kiosk, capability, "fac-a-p1", now=NOW) == Decision(
            False, f"role cell_kiosk may not {capability.value}"), capability
        assert not decide_facility(kiosk, capability, "fac-a")
        assert not decide_custody(session, kiosk, capability, "fac-a-p1")
    assert may(kiosk, C.SUBMIT_SICK_CALL)
    assert patient_scope(session, kiosk, NOW) == PatientScope()


def test_the_custody_decision_is_the_officers_own_facility_only(rolled_back):
    session, world = rolled_back
    guard = who(session, "guard-a")
    for capability in (C.CUSTODY_ROSTER, C.CUSTODY_TASKS):
        assert decide_custody(session, guard, capability, "fac-a-p2") == Decision(True, "own facility")
        assert decide_custody(session, guard, capability, "fac-b-p2") == Decision(
            False, "detainee belongs to another facility")
        assert decide_custody(session, guard, capability, "nobody") == Decision(False, "no detainee nobody")
        assert decide_custody(session, who(session, "guard-b"), capability, "fac-b-p2")
    # Clinical staff and administrators hold no custody capability; a clinical one asked here is refused.
    for username in ("doc-a", "officer-a", "spec-1", "admin"):
        assert decide_custody(session, who(session, username), C.CUSTODY_TASKS, "fac-a-p1") == Decision(
            False, f"role {who(session, username).role} may not custody.tasks")
    # A clinical capability never passes here, even for a role that holds it.
    for username in ("guard-a", "doc-a"):
        assert decide_custody(session, who(session, username), READ, "fac-a-p1") == Decision(
            False, "clinical.read is not a custody capability")
