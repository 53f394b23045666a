"""What this server asks of a FHIR Group (ehr/groups.py): the facility keeping it, Patients only as
members, each refusal naming its field."""

from __future__ import annotations

from ehr.groups import GROUP, facility_of, group_issues, members_of
from ehr.errors import Issue


def group(**fields) -> dict:
    return {"resourceType": GROUP, "type": "person", "managingEntity": {"reference": "Organization/fac-a"}, **fields}


def test_the_facility_is_the_managing_organization_only():
    assert GROUP == "Group"
    assert facility_of(group()) == "fac-a"
    for other in ({"reference": "Practitioner/fac-a"}, {"reference": "fac-a"}, {"display": "Organization/fac-a"}, {}):
        assert facility_of(group(managingEntity=other)) == "", other
    assert facility_of({"resourceType": GROUP}) == ""


def test_members_are_the_patients_listed():
    members = [{"entity": {"reference": "Patient/p1"}}, {"entity": {"reference": "Device/d1"}}, {"entity": {}}, {},
               {"entity": {"reference": "Patient/p2"}}]
    assert members_of(group(member=members)) == ["p1", "p2"]
    assert members_of(group()) == []


def test_a_well_formed_group_has_no_issue():
    assert group_issues(group(member=[{"entity": {"reference": "Patient/p1"}}])) == []
    assert group_issues(group()) == []


def test_each_refusal_names_its_field():
    assert group_issues(group(managingEntity={"reference": "Practitioner/x"})) == [Issue(
        "required", "a Group belongs to a facility: Group.managingEntity must reference its Organization",
        ["Group.managingEntity"])]
    for kind in ("device", None):
        fields = {"type": kind} if kind else {}
        body = group(**fields) if kind else {k: v for k, v in group().items() if k != "type"}
        assert group_issues(body) == [Issue("invalid", "a Group here lists detainees: Group.type must be person",
                                            ["Group.type"])]
    members = [{"entity": {"reference": "Patient/p1"}}, {"entity": {"reference": "Device/d1"}}, {}]
    assert group_issues(group(member=members)) == [
        Issue("invalid", "a Group's members are Patients: Device/d1 is not one", ["Group.member[1].entity"]),
        Issue("invalid", "a Group's members are Patients: no reference is not one", ["Group.member[2].entity"])]


def test_every_issue_at_once():
    found = group_issues({"resourceType": GROUP, "type": "animal", "member": [{"entity": {"reference": "Group/g"}}]})
    assert [(i.code, i.expression) for i in found] == [("required", ["Group.managingEntity"]), ("invalid", ["Group.type"]),
                                                       ("invalid", ["Group.member[0].entity"])]
