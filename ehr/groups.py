"""FHIR Group as this server keeps it: a list of detainees kept by one facility (its
``managingEntity``), for that facility's own use, such as a Group-level Bulk Data export."""

from __future__ import annotations

from ehr.errors import Issue

GROUP = "Group"


def facility_of(group: dict) -> str:
    """The facility keeping the Group ("" when it names none, which validation refuses)."""
    ref = group.get("managingEntity", {}).get("reference", "")
    return ref.removeprefix("Organization/") if ref.startswith("Organization/") else ""


def members_of(group: dict) -> list[str]:
    """The ids of the detainees in the Group."""
    refs = (m.get("entity", {}).get("reference", "") for m in group.get("member", []))
    return [ref.removeprefix("Patient/") for ref in refs if ref.startswith("Patient/")]


def group_issues(group: dict) -> list[Issue]:
    """What this server needs of a Group beyond the FHIR model: a facility, and detainees only."""
    issues = []
    if not facility_of(group):
        issues.append(Issue("required", "a Group belongs to a facility: Group.managingEntity must reference its "
                                        "Organization", ["Group.managingEntity"]))
    if group.get("type") != "person":
        issues.append(Issue("invalid", "a Group here lists detainees: Group.type must be person", ["Group.type"]))
    for n, member in enumerate(group.get("member", [])):
        ref = member.get("entity", {}).get("reference", "")
        if not ref.startswith("Patient/"):
            issues.append(Issue("invalid", f"a Group's members are Patients: {ref or 'no reference'} is not one",
                                [f"Group.member[{n}].entity"]))
    return issues
