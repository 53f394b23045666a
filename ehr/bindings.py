"""The required bindings of the FHIR R4 base specification on the types served here: a coded
element whose value must come from its value set. fhir.resources checks types and
cardinality but not these (its models list at most four codes of each set).

Each set is the value set's codes as published in FHIR R4 (4.0.1), hl7.org/fhir/R4/valueset-*.
"""

from __future__ import annotations

from ehr.errors import Issue
from ehr.params import values_at

_REQUEST_STATUS = "draft active on-hold revoked completed entered-in-error unknown"
_PRIORITY = "routine urgent asap stat"
_ADMIN_GENDER = "male female other unknown"
_PEOPLE = (("identifier.use", "usual official temp secondary old"),
           ("name.use", "usual official temp nickname anonymous old maiden"),
           ("telecom.system", "phone fax email pager url sms other"),
           ("telecom.use", "home work temp old mobile"),
           ("address.use", "home work temp old billing"),
           ("address.type", "postal physical both"))
_NARRATIVE = (("text.status", "generated extensions additional empty"),)
_COMPARATOR = "< <= >= >"

# type -> (element path, codes) for code elements.
CODES: dict[str, tuple[tuple[str, str], ...]] = {
    "Patient": (("gender", _ADMIN_GENDER), ("link.type", "replaced-by replaces refer seealso"),
                ("contact.gender", _ADMIN_GENDER), *_PEOPLE),
    "Practitioner": (("gender", _ADMIN_GENDER), *_PEOPLE),
    "Organization": (("identifier.use", _PEOPLE[0][1]), ("telecom.system", _PEOPLE[2][1]),
                     ("telecom.use", _PEOPLE[3][1]), ("address.use", _PEOPLE[4][1]), ("address.type", _PEOPLE[5][1])),
    "Encounter": (("status", "planned arrived triaged in-progress onleave finished cancelled entered-in-error unknown"),
                  ("statusHistory.status",
                   "planned arrived triaged in-progress onleave finished cancelled entered-in-error unknown")),
    "AllergyIntolerance": (("type", "allergy intolerance"), ("category", "food medication environment biologic"),
                           ("criticality", "low high unable-to-assess"), ("reaction.severity", "mild moderate severe")),
    "MedicationRequest": (
        ("status", "active on-hold cancelled completed entered-in-error stopped draft unknown"),
        ("intent", "proposal plan order original-order reflex-order filler-order instance-order option"),
        ("priority", _PRIORITY)),
    "MedicationStatement": (("status", "active completed entered-in-error intended stopped on-hold unknown not-taken"),),
    "Observation": (
        ("status", "registered preliminary final amended corrected cancelled entered-in-error unknown"),
        ("valueQuantity.comparator", _COMPARATOR), ("component.valueQuantity.comparator", _COMPARATOR)),
    "DiagnosticReport": (
        ("status", "registered partial preliminary final amended corrected appended cancelled entered-in-error unknown"),),
    "ServiceRequest": (
        ("status", _REQUEST_STATUS),
        ("intent", "proposal plan directive order original-order reflex-order filler-order instance-order option"),
        ("priority", _PRIORITY)),
    "Appointment": (
        ("status", "proposed pending booked arrived fulfilled cancelled noshow entered-in-error checked-in waitlist"),
        ("participant.status", "accepted declined tentative needs-action"),
        ("participant.required", "required optional information-only")),
    "DocumentReference": (("status", "current superseded entered-in-error"),
                          ("docStatus", "preliminary final amended entered-in-error"),
                          ("relatesTo.code", "replaces transforms signs appends")),
    "Consent": (("status", "draft proposed active rejected inactive entered-in-error"),
                ("provision.type", "deny permit")),
    "Provenance": (("entity.role", "derivation revision quotation source removal"),),
    "ObservationDefinition": (
        ("permittedDataType", "Quantity CodeableConcept string boolean integer Range Ratio SampledData time dateTime Period"),),
    "Immunization": (("status", "completed entered-in-error not-done"),),
    "Procedure": (("status", "preparation in-progress not-done on-hold stopped completed entered-in-error unknown"),),
    "Group": (("type", "person animal practitioner device medication substance"),),
    "Location": (("status", "active suspended inactive"), ("mode", "instance kind")),
    "CarePlan": (("status", _REQUEST_STATUS), ("intent", "proposal plan order option")),
    "CareTeam": (("status", "proposed active suspended inactive entered-in-error"),),
    "Goal": (("lifecycleStatus", "proposed planned accepted active on-hold completed cancelled entered-in-error rejected"),),
    "Device": (("status", "active inactive entered-in-error unknown"),),
    "Task": (
        ("status", "draft requested received accepted rejected ready cancelled in-progress on-hold failed completed "
                   "entered-in-error"),
        ("intent", "unknown proposal plan order original-order reflex-order filler-order instance-order option"),
        ("priority", _PRIORITY)),
    "Questionnaire": (
        ("status", "draft active retired unknown"),
        ("item.type", "group display boolean decimal integer date dateTime time string text url choice open-choice "
                      "attachment reference quantity")),
    "QuestionnaireResponse": (("status", "in-progress completed amended entered-in-error stopped"),),
    "Flag": (("status", "active inactive entered-in-error"),),
    "MedicationAdministration": (
        ("status", "in-progress not-done on-hold completed entered-in-error stopped unknown"),),
}
# type -> (element path, code system, codes) for CodeableConcepts bound to a code system's codes.
CONCEPTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "Condition": (
        ("clinicalStatus", "http://terminology.hl7.org/CodeSystem/condition-clinical",
         "active recurrence relapse inactive remission resolved"),
        ("verificationStatus", "http://terminology.hl7.org/CodeSystem/condition-ver-status",
         "unconfirmed provisional differential confirmed refuted entered-in-error")),
    "AllergyIntolerance": (
        ("clinicalStatus", "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active inactive resolved"),
        ("verificationStatus", "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
         "unconfirmed confirmed refuted entered-in-error")),
}
_CODE_SETS = {rtype: tuple((path, frozenset(codes.split())) for path, codes in (*rules, *_NARRATIVE))
              for rtype, rules in CODES.items()}
_ONLY_NARRATIVE = tuple((path, frozenset(codes.split())) for path, codes in _NARRATIVE)
_CONCEPT_SETS = {rtype: tuple((path, system, frozenset(codes.split())) for path, system, codes in rules)
                 for rtype, rules in CONCEPTS.items()}


def violations(rtype: str, resource: dict) -> list[Issue]:
    """An issue for each coded value outside its required value set."""
    issues = []
    for path, codes in _CODE_SETS.get(rtype, _ONLY_NARRATIVE):
        for value in values_at(resource, path):
            if value not in codes:
                issues.append(_issue(rtype, path, f"{value!r} is not one of {', '.join(sorted(codes))}"))
    for path, system, codes in _CONCEPT_SETS.get(rtype, ()):
        for concept in values_at(resource, path):
            codings = concept.get("coding") if isinstance(concept, dict) else None
            if not any(isinstance(c, dict) and c.get("system") == system and c.get("code") in codes
                       for c in codings or ()):
                issues.append(_issue(rtype, path, f"needs a coding from {system} ({', '.join(sorted(codes))})"))
    return issues


def _issue(rtype: str, path: str, message: str) -> Issue:
    return Issue("code-invalid", f"{rtype}.{path}: {message} (required binding)", [f"{rtype}.{path}"])
