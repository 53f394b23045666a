"""Validation against the fhir.resources R4B models, done once, on write."""

from __future__ import annotations

from functools import cache

import pydantic
from fhir.resources.R4B import get_fhir_model_class

from ehr.errors import FhirError, Issue

SUPPORTED_TYPES = (
    "Patient", "Organization", "Practitioner", "PractitionerRole", "Encounter",
    "Condition", "AllergyIntolerance", "MedicationRequest", "MedicationStatement",
    "Observation", "DiagnosticReport", "ServiceRequest", "Appointment",
    "DocumentReference", "Consent", "Provenance", "AuditEvent", "ObservationDefinition",
)


@cache
def model_for(resource_type: str) -> type[pydantic.BaseModel]:
    return get_fhir_model_class(resource_type)


def check_type(resource: object, expected: str | None = None) -> str:
    if not isinstance(resource, dict):
        raise FhirError(400, Issue("structure", "the body must be a JSON object"))
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise FhirError(422, Issue("required", "resourceType is required", ["resourceType"]))
    if rtype not in SUPPORTED_TYPES:
        raise FhirError(422, Issue("not-supported", f"resource type {rtype} is not supported here", ["resourceType"]))
    if expected and rtype != expected:
        raise FhirError(422, Issue("invalid", f"resourceType {rtype} does not match the URL ({expected})", ["resourceType"]))
    return rtype


def validate(resource: dict, expected: str | None = None) -> str:
    """Raise a 422 FhirError naming every bad element path; return the resource type."""
    rtype = check_type(resource, expected)
    try:
        model_for(rtype).model_validate(resource)
    except pydantic.ValidationError as exc:
        raise FhirError(422, [_issue(rtype, err) for err in exc.errors()]) from None
    return rtype


def _issue(rtype: str, err: dict) -> Issue:
    path = ".".join([rtype, *(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"])]).replace(".[", "[")
    message = err["msg"].removeprefix("Value error, ")
    code = "required" if "missing" in err["type"] else "invalid"
    return Issue(code, f"{path}: {message}", [path])
