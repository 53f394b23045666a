"""The FHIR Gate (``ehr/access.py``) decided directly, without the server: each role, a system's
scopes, each kind of resource (a detainee's, reference data, a Group), the answer each refusal
gives (a plain 403 for a role or a scope; for data outside the caller's care, exactly the answer
for data that does not exist), and what is noted for the audit trail. On both databases, in one
rolled-back transaction per test: fast enough to run per mutant (``scripts/mutation.py``), while
``tests/test_ehr_access.py`` drives the same rules through the API."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select, true

from ehr import store
from ehr.access import CATALOG_TYPES, READ, WRITE, Gate, Noted
from ehr.errors import Denied, FhirError, not_found, not_yours
from ehr.models import FhirResource
from telemed.models import User
from telemed.policy import HOSPITAL_SYSTEM, Decision, open_break_glass
from telemed.scopes import parse_scopes
from telemed.security import Principal, principal_of
from tests.ehr_support import condition, observation, open_consult
from tests.test_fhir_group_export import group

R = FhirResource.__table__
NO_CLINICAL_READ = ("admin", "guard-a", "kiosk-a")


@dataclass
class Ward:
    """The shared world and what each test here adds to it: Observations on both facilities'
    detainees, a Group of each facility, facility A's Organization, and spec-1's consult on fac-a-p1
    sharing one Observation."""

    session: object
    world: object
    group_id: str

    def who(self, username: str) -> Principal:
        return principal_of(self.session.get(User, self.world.users[username]))

    def stored(self, rtype: str, rid: str):
        return store.read(self.session, rtype, rid)

    def visible_ids(self, gate: Gate, rtype: str) -> list[str]:
        condition = gate.restriction(self.session, rtype)
        rows = self.session.execute(select(R.c.id).where(R.c.type == rtype, true() if condition is None else condition))
        return sorted(rows.scalars())


@pytest.fixture
def ward(rolled_back) -> Ward:
    session, world = rolled_back
    store.create(session, observation("fac-a-p1"), resource_id="obs-a1")
    store.create(session, observation("fac-a-p1", value=90), resource_id="obs-a2")
    store.create(session, observation("fac-b-p1"), resource_id="obs-b1")
    store.create(session, condition("fac-a-p1"), resource_id="cond-a1")
    made = store.create(session, group("fac-a", "fac-a-p1"))
    store.create(session, group("fac-b", "fac-b-p1"), resource_id="group-b")
    store.create(session, {"resourceType": "Organization", "name": "Facility A"}, resource_id="fac-a")
    open_consult(session, "c-1", "fac-a-p1", world.users["spec-1"], shared=(("Observation", "obs-a1"),))
    session.flush()
    return Ward(session, world, made.id)


def system(scopes: str, org: str = "hosp-1") -> Principal:
    """A partner hospital's system, signed in with these SMART scopes."""
    return Principal(user_id=0, username="client:hosp", display_name="hospital system", role=HOSPITAL_SYSTEM,
                     org_id=org, scopes=parse_scopes(scopes)[0])


def refusal(gate: Gate, session, capability, rtype: str, rid: str, patient_id: str | None) -> FhirError:
    with pytest.raises(FhirError) as raised:
        gate.check(session, capability, "fhir.test", rtype, rid, patient_id)
    return raised.value


def answer(error: FhirError) -> tuple[int, dict]:
    """What the FHIR API sends for ``error``: a Denied one is answered as what it conceals."""
    shown = error.concealed if isinstance(error, Denied) else error
    return shown.status, shown.outcome()


# -- reads of a detainee's data: who is allowed, and how a refusal looks --------------------------

@pytest.mark.parametrize("username, rid, reason", [
    ("doc-b", "obs-a1", "detainee belongs to another facility"),
    ("officer-b", "obs-a1", "detainee belongs to another facility"),
    ("spec-1", "obs-a2", "Observation/obs-a2 was not shared with your consult"),
    ("spec-2", "obs-a1", "no open consult assigned to you for this detainee"),
])
def test_a_read_outside_ones_care_is_answered_as_not_found(ward, username, rid, reason):
    gate = Gate(ward.who(username))
    error = refusal(gate, ward.session, READ, "Observation", rid, "fac-a-p1")
    assert isinstance(error, Denied) and (error.status, error.issues[0].diagnostics) == (403, reason)  # for pages
    assert answer(error) == answer(not_found("Observation", rid))  # for the API: as if it did not exist
    assert gate.noted == [Noted("fhir.test", False, reason, "fac-a-p1", f"Observation/{rid}")]


@pytest.mark.parametrize("username, rid", [("doc-a", "obs-a1"), ("officer-a", "obs-a2"), ("spec-1", "obs-a1")])
def test_reads_in_ones_care_are_allowed_and_noted_without_a_reason(ward, username, rid):
    gate = Gate(ward.who(username))
    assert gate.check_read(ward.session, ward.stored("Observation", rid), "fhir.read").allowed
    assert gate.noted == [Noted("fhir.read", True, "", "fac-a-p1", f"Observation/{rid}")]


@pytest.mark.parametrize("username", NO_CLINICAL_READ)
def test_a_role_without_clinical_reads_is_refused_plainly(ward, username):
    """A refusal by role says nothing about the data: a plain 403 whatever the id, known or not."""
    gate = Gate(ward.who(username))
    role = ward.who(username).role
    for rid, patient_id in (("obs-a1", "fac-a-p1"), ("no-such-id", "no-such-patient")):
        error = refusal(gate, ward.session, READ, "Observation", rid, patient_id)
        assert not isinstance(error, Denied)
        assert answer(error) == (403, {"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "forbidden", "diagnostics": f"role {role} may not clinical.read"}]})
    assert [n.reason for n in gate.noted] == [f"role {role} may not clinical.read"] * 2


def test_a_clinical_resource_of_no_detainee_is_refused_to_everyone(ward):
    for username in ("doc-a", "spec-1"):
        decision = Gate(ward.who(username)).decide(ward.session, READ, "Observation", "loose", None)
        assert decision == Decision(False, "Observation/loose belongs to no detainee")
    error = refusal(Gate(ward.who("doc-a")), ward.session, READ, "Observation", "loose", None)
    assert answer(error) == answer(not_found("Observation", "loose"))


def test_a_specialists_decisions_are_remembered_per_resource(ward):
    """One gate decides a whole Bundle or search: what it remembers of one resource must not
    answer for another of the same detainee, nor for another detainee."""
    gate = Gate(ward.who("spec-1"))
    assert gate.decide(ward.session, READ, "Observation", "obs-a1", "fac-a-p1").allowed
    assert not gate.decide(ward.session, READ, "Observation", "obs-a2", "fac-a-p1").allowed
    assert gate.decide(ward.session, READ, "Observation", "obs-a1", "fac-a-p1").allowed
    assert not gate.decide(ward.session, READ, "Observation", "obs-b1", "fac-b-p1").allowed
    doctor = Gate(ward.who("doc-a"))
    assert doctor.decide(ward.session, READ, "Observation", "obs-a1", "fac-a-p1").allowed
    assert not doctor.decide(ward.session, READ, "Observation", "obs-b1", "fac-b-p1").allowed


def test_break_the_glass_is_allowed_and_noted_with_its_reason(ward):
    open_break_glass(ward.session, ward.who("doc-b"), "fac-a-p1", "collapsed in transit, needs history now")
    gate = Gate(ward.who("doc-b"))
    assert gate.check_read(ward.session, ward.stored("Observation", "obs-a1"), "fhir.read").break_glass
    assert gate.noted == [Noted("fhir.read", True, "break-the-glass", "fac-a-p1", "Observation/obs-a1", True)]
    assert ward.visible_ids(gate, "Observation") == ["obs-a1", "obs-a2", "obs-b1"]


# -- writes ---------------------------------------------------------------------------------------

def test_a_write_outside_ones_care_is_answered_as_for_an_unknown_detainee(ward):
    gate = Gate(ward.who("doc-b"))
    error = refusal(gate, ward.session, WRITE, "Observation", "obs-a1", "fac-a-p1")
    assert isinstance(error, Denied) and error.issues[0].diagnostics == "detainee belongs to another facility"
    assert answer(error) == answer(not_yours("Patient/fac-a-p1"))
    loose = refusal(gate, ward.session, WRITE, "Observation", "loose", None)
    assert answer(loose) == answer(not_yours("Observation/loose"))
    assert Gate(ward.who("doc-a")).check(ward.session, WRITE, "fhir.update", "Observation", "obs-a1", "fac-a-p1")


@pytest.mark.parametrize("username", ["officer-a", "spec-1", *NO_CLINICAL_READ])
def test_a_role_without_clinical_writes_is_refused_plainly(ward, username):
    role = ward.who(username).role
    error = refusal(Gate(ward.who(username)), ward.session, WRITE, "Observation", "obs-a1", "fac-a-p1")
    assert not isinstance(error, Denied) and answer(error)[0] == 403
    assert error.issues[0].diagnostics == f"role {role} may not clinical.write"


def test_an_update_needs_write_access_to_the_detainee_before_and_after(ward):
    doc_a, session = ward.who("doc-a"), ward.session
    moved = {**observation("fac-a-p2"), "id": "obs-a1"}
    gate = Gate(doc_a)
    gate.check_write(session, "fhir.update", moved, "obs-a1", "fac-a-p2", ward.stored("Observation", "obs-a1"))
    assert gate.noted == [Noted("fhir.update", True, "", pid, "Observation/obs-a1") for pid in ("fac-a-p2", "fac-a-p1")]
    gate = Gate(doc_a)  # taken from another facility's detainee: refused on the one it held
    with pytest.raises(Denied) as raised:
        gate.check_write(session, "fhir.update", {**observation("fac-a-p1"), "id": "obs-b1"}, "obs-b1", "fac-a-p1",
                         ward.stored("Observation", "obs-b1"))
    assert answer(raised.value) == answer(not_yours("Patient/fac-b-p1"))
    assert gate.noted == [Noted("fhir.update", True, "", "fac-a-p1", "Observation/obs-b1"),
                          Noted("fhir.update", False, "detainee belongs to another facility", "fac-b-p1",
                                "Observation/obs-b1")]
    gate = Gate(doc_a)  # a create: only the detainee it names
    gate.check_write(session, "fhir.create", observation("fac-a-p3"), "new-obs", "fac-a-p3", None)
    assert [(n.patient_id, n.resource) for n in gate.noted] == [("fac-a-p3", "Observation/new-obs")]


def test_a_new_detainee_is_written_only_in_ones_own_facility(ward):
    patient = store.read(ward.session, "Patient", "fac-a-p1").resource
    gate = Gate(ward.who("doc-a"))
    gate.check_write(ward.session, "fhir.create", patient, "new-p", "new-p", None)
    assert gate.noted == [Noted("fhir.create", True, "", "new-p", "Patient/new-p")]
    gate = Gate(ward.who("doc-b"))
    with pytest.raises(FhirError) as raised:
        gate.check_write(ward.session, "fhir.create", patient, "new-p", "new-p", None)
    assert not isinstance(raised.value, Denied) and raised.value.status == 403
    assert gate.noted == [Noted("fhir.create", False, "facility fac-a is not yours", "new-p", "Patient/new-p")]
    nowhere = {k: v for k, v in patient.items() if k not in ("managingOrganization", "extension")}
    gate = Gate(ward.who("doc-a"))
    with pytest.raises(FhirError) as raised:
        gate.check_write(ward.session, "fhir.create", nowhere, "new-p", "new-p", None)
    assert raised.value.status == 422 and raised.value.issues[0].expression == ["Patient.managingOrganization"]
    assert raised.value.issues[0].diagnostics == ("a detainee needs its facility: Patient.managingOrganization (or the "
                                                  "custody extension's facility) is required")
    assert gate.noted == []


# -- reference data -------------------------------------------------------------------------------

@pytest.mark.parametrize("rtype", sorted(CATALOG_TYPES))
def test_reference_data_is_read_by_clinical_readers_and_kept_by_doctors(ward, rtype):
    for username in ("doc-a", "officer-b", "spec-1"):
        assert Gate(ward.who(username)).decide(ward.session, READ, rtype, "x", None).allowed, username
    assert Gate(system("system/*.read")).decide(ward.session, READ, rtype, "x", None).allowed
    for username in NO_CLINICAL_READ:
        gate = Gate(ward.who(username))
        error = refusal(gate, ward.session, READ, rtype, "x", None)
        assert not isinstance(error, Denied) and answer(error)[0] == 403, username
    assert Gate(ward.who("doc-a")).decide(ward.session, WRITE, rtype, "x", None).allowed
    for username in ("officer-a", "spec-1"):
        error = refusal(Gate(ward.who(username)), ward.session, WRITE, rtype, "x", None)
        assert not isinstance(error, Denied) and answer(error)[0] == 403, username


# -- Groups ---------------------------------------------------------------------------------------

def test_a_group_is_its_facilitys_and_as_absent_as_a_missing_one_to_others(ward):
    gid = ward.group_id
    for username in ("doc-a", "officer-a"):
        assert Gate(ward.who(username)).decide(ward.session, READ, "Group", gid, None).allowed
        assert ward.visible_ids(Gate(ward.who(username)), "Group") == [gid]
    for username in ("doc-b", "officer-b"):
        gate = Gate(ward.who(username))
        error = refusal(gate, ward.session, READ, "Group", gid, None)
        assert error.issues[0].diagnostics == "facility fac-a is not yours"
        assert answer(error) == answer(not_found("Group", gid))
        assert ward.visible_ids(gate, "Group") == ["group-b"]
    missing = Gate(ward.who("doc-a")).decide(ward.session, READ, "Group", "no-such-group", None)
    assert missing == Decision(False, "facility (none) is not yours")
    for username in ("spec-1", "admin"):
        assert ward.visible_ids(Gate(ward.who(username)), "Group") == []


def test_only_facility_staff_with_a_facility_see_groups(ward):
    """Even a Group naming the specialists' own hospital is not theirs to see (a Group is a
    facility's list of detainees); staff without a facility see none."""
    store.create(ward.session, group("hosp-1", "fac-a-p1"), resource_id="hosp-group")
    assert ward.visible_ids(Gate(ward.who("spec-1")), "Group") == []
    assert ward.visible_ids(Gate(system("system/*.read")), "Group") == []
    nowhere = Principal(user_id=999, username="doc-x", display_name="x", role=ward.who("doc-a").role, org_id="")
    assert ward.visible_ids(Gate(nowhere), "Group") == []


def test_a_group_is_written_by_its_facility_and_the_one_that_kept_it(ward):
    gid, session = ward.group_id, ward.session
    gate = Gate(ward.who("doc-a"))
    gate.check_write(session, "fhir.create", group("fac-a", "fac-a-p2"), "new-group", None, None)
    assert gate.noted == [Noted("fhir.create", True, "", None, "Group/new-group")]
    gate = Gate(ward.who("doc-b"))
    with pytest.raises(FhirError) as raised:  # a new Group of another facility: plainly refused
        gate.check_write(session, "fhir.create", group("fac-a", "fac-a-p2"), "new-group", None, None)
    assert not isinstance(raised.value, Denied) and raised.value.status == 403
    assert gate.noted == [Noted("fhir.create", False, "facility fac-a is not yours", None, "Group/new-group")]
    gate = Gate(ward.who("doc-b"))
    with pytest.raises(Denied) as raised:  # another facility's Group, as a write on something unknown
        gate.check_write(session, "fhir.update", group("fac-b"), gid, None, ward.stored("Group", gid))
    assert answer(raised.value) == answer(not_yours(f"Group/{gid}"))
    gate = Gate(ward.who("doc-a"))
    with pytest.raises(FhirError):  # handed to another facility: refused by the one it names
        gate.check_write(session, "fhir.update", group("fac-b"), gid, None, ward.stored("Group", gid))
    assert gate.noted == [Noted("fhir.update", True, "", None, f"Group/{gid}"),
                          Noted("fhir.update", False, "facility fac-b is not yours", None, f"Group/{gid}")]


# -- a system's scopes ----------------------------------------------------------------------------

def test_a_systems_scopes_come_first_and_are_refused_plainly(ward):
    gate = Gate(system("system/Observation.read"))
    assert gate.check_read(ward.session, ward.stored("Observation", "obs-a1"), "fhir.read").allowed  # spec-1's share
    for rtype, rid, patient_id in (("Condition", "cond-a1", "fac-a-p1"), ("Organization", "fac-a", None),
                                   ("Group", ward.group_id, None), ("Patient", "fac-a-p1", "fac-a-p1")):
        error = refusal(gate, ward.session, READ, rtype, rid, patient_id)
        assert not isinstance(error, Denied), rtype
        assert error.issues[0].diagnostics == f"the token's scopes do not grant system/{rtype}.r"
    error = refusal(gate, ward.session, WRITE, "Observation", "obs-a1", "fac-a-p1")
    assert error.issues[0].diagnostics == "the token's scopes do not grant system/Observation.u"
    assert not isinstance(error, Denied)
    shared = refusal(gate, ward.session, READ, "Observation", "obs-a2", "fac-a-p1")  # granted type, not shared
    assert answer(shared) == answer(not_found("Observation", "obs-a2"))


def test_a_systems_searches_keep_to_its_scopes(ward):
    reader = Gate(system("system/Observation.read"))
    assert reader.scoped_types() == frozenset({"Observation"})
    assert Gate(system("system/*.read")).scoped_types() is None
    assert Gate(ward.who("doc-a")).scoped_types() is None
    assert ward.visible_ids(reader, "Observation") == ["obs-a1"]
    assert ward.visible_ids(reader, "Condition") == ward.visible_ids(reader, "Organization") == []
    assert ward.visible_ids(Gate(system("system/*.read")), "Patient") == ["fac-a-p1"]
    reader.require_clinical("fhir.search", "Observation", {"fac-a-p1"})
    reader.require_clinical("fhir.history", "*")  # the system history: the types are weighed one by one
    Gate(system("system/Observation.rs")).require_clinical("fhir.read", "Observation/obs-a1")  # weighed on its type
    assert reader.noted == []
    readonly = Gate(system("system/Observation.r"))  # may read one by one, not search
    with pytest.raises(FhirError) as raised:
        readonly.require_clinical("fhir.search", "Observation", {"fac-a-p1"})
    assert raised.value.issues[0].diagnostics == "the token's scopes do not grant system/Observation.s"
    assert readonly.noted == [Noted("fhir.search", False, "the token's scopes do not grant system/Observation.s",
                                    "fac-a-p1", "Observation")]


def test_only_a_person_in_their_own_facility_is_allowed_at_once(ward):
    """The fast path of a read: reference data, or staff in their own facility; anything else is
    left to ``decide``, which words each denial and weighs a system's scopes."""
    obs, org, grp = ward.stored("Observation", "obs-a1"), ward.stored("Organization", "fac-a"), ward.stored(
        "Group", ward.group_id)
    doc_a = Gate(ward.who("doc-a"))
    assert doc_a.allowed_at_once(obs, "fac-a") == Decision(True, "own facility")
    assert doc_a.allowed_at_once(org, None).allowed
    assert doc_a.allowed_at_once(obs, None) is None and doc_a.allowed_at_once(grp, "fac-a") is None
    assert Gate(ward.who("doc-b")).allowed_at_once(obs, "fac-a") is None
    assert Gate(ward.who("spec-1")).allowed_at_once(obs, "fac-a") is None
    assert Gate(ward.who("admin")).allowed_at_once(org, None) is None
    assert Gate(system("system/*.read", org="fac-a")).allowed_at_once(org, None) is None


# -- searches and records -------------------------------------------------------------------------

def test_a_search_is_restricted_to_what_each_role_may_read(ward):
    for username, observations, patients in (
            ("doc-a", ["obs-a1", "obs-a2"], ["fac-a-p1", "fac-a-p2", "fac-a-p3"]),
            ("officer-b", ["obs-b1"], ["fac-b-p1", "fac-b-p2", "fac-b-p3"]),
            ("spec-1", ["obs-a1"], ["fac-a-p1"]),
            ("spec-2", [], []),
            ("admin", [], [])):
        gate = Gate(ward.who(username))
        assert ward.visible_ids(gate, "Observation") == observations, username
        assert ward.visible_ids(gate, "Patient") == patients, username
        assert "fac-a" in ward.visible_ids(gate, "Organization")  # reference data: unrestricted


def test_a_share_is_of_one_type_and_id(ward):
    """A Condition that happens to have the id of a shared Observation is not shared with it."""
    store.create(ward.session, condition("fac-a-p1"), resource_id="obs-a1")
    specialist = Gate(ward.who("spec-1"))
    assert ward.visible_ids(specialist, "Observation") == ["obs-a1"]
    assert ward.visible_ids(specialist, "Condition") == []


def test_a_specialist_sees_of_a_record_only_what_was_shared(ward):
    found = [ward.stored("Observation", rid) for rid in ("obs-a1", "obs-a2")]
    specialist = Gate(ward.who("spec-1"))
    assert specialist.shares_only and Gate(system("system/*.read")).shares_only
    assert [s.id for s in specialist.record_of(ward.session, found, "ehr.record")] == ["obs-a1"]
    assert specialist.noted == [
        Noted("ehr.record", True, "", "fac-a-p1", "Observation/obs-a1"),
        Noted("ehr.record", False, "Observation/obs-a2 was not shared with your consult", "fac-a-p1",
              "Observation/obs-a2")]
    doctor = Gate(ward.who("doc-a"))
    assert not doctor.shares_only
    assert doctor.record_of(ward.session, found, "ehr.record") == found and doctor.noted == []
    assert [s.id for s in doctor.visible(ward.session, [*found, ward.stored("Observation", "obs-b1")], "x")] == [
        "obs-a1", "obs-a2"]


@pytest.mark.parametrize("username", NO_CLINICAL_READ)
def test_a_refused_search_names_each_detainee_it_was_about(ward, username):
    gate = Gate(ward.who(username))
    reason = f"role {ward.who(username).role} may not clinical.read"
    with pytest.raises(FhirError) as raised:
        gate.require_clinical("fhir.search", "Observation", {"fac-b-p1", "fac-a-p2"})
    assert raised.value.status == 403 and not isinstance(raised.value, Denied)
    assert gate.noted == [Noted("fhir.search", False, reason, pid, "Observation") for pid in ("fac-a-p2", "fac-b-p1")]
    gate = Gate(ward.who(username))
    with pytest.raises(FhirError):
        gate.require_clinical("fhir.history", "*")
    assert gate.noted == [Noted("fhir.history", False, reason, None, "*")]


def test_a_search_page_is_audited_per_detainee_and_break_the_glass_flagged(ward):
    open_break_glass(ward.session, ward.who("doc-b"), "fac-a-p1", "collapsed in transit, needs history now")
    found = [ward.stored(t, i) for t, i in (("Observation", "obs-a1"), ("Observation", "obs-b1"),
                                            ("Observation", "obs-a2"), ("Organization", "fac-a"))]
    gate = Gate(ward.who("doc-b"))
    gate.note_results(ward.session, "fhir.search", found, "Observation?")
    assert gate.noted == [Noted("fhir.search", True, "break-the-glass", "fac-a-p1", "Observation?", True),
                          Noted("fhir.search", True, "", "fac-b-p1", "Observation?", False)]
    officer = Gate(ward.who("officer-b"))  # no break-the-glass but a doctor's
    officer.note_results(ward.session, "fhir.search", found, "Observation?")
    assert [n.break_glass for n in officer.noted] == [False, False]
    nothing = Gate(ward.who("doc-a"))
    nothing.note_results(ward.session, "fhir.search", [ward.stored("Organization", "fac-a")], "Organization?")
    assert nothing.noted == []
