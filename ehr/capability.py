"""The CapabilityStatement, built from the same tables that drive search and routing, so it
lists exactly what the server does (tests/test_ehr_capability.py asks each thing it lists,
and is refused each thing it does not)."""

from __future__ import annotations

from ehr import smart
from ehr.params import AUDIT_PARAMS, COMPOSITES, PARAMS, Kind
from ehr.search import SUMMARIES
from ehr.validation import SUPPORTED_TYPES

FHIR_VERSION = "4.0.1"
INTERACTIONS = ("read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create",
                "search-type")
READ_ONLY = ("read", "search-type")
COMMON_PARAMS = (("_id", "token"), ("_lastUpdated", "date"))
# Parameters of every search (rest.searchParam): the result parameters, and _has.
RESULT_PARAMS = (("_count", "number"), ("_sort", "special"), ("_include", "special"), ("_revinclude", "special"),
                 ("_summary", "special"), ("_elements", "special"), ("_total", "special"), ("_has", "special"))
OPERATIONS = {"validate": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
              "meta": "http://hl7.org/fhir/OperationDefinition/Resource-meta"}
READ_ONLY_TYPES = ("AuditEvent",)
BULK_DATA = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition"


def _references(rtype: str) -> list[str]:
    return sorted(f"{rtype}:{p.name}" for p in PARAMS.get(rtype, ()) if p.kind is Kind.REFERENCE)


def _resource(rtype: str, base: str) -> dict:
    if rtype in READ_ONLY_TYPES:
        return {"type": rtype, "interaction": [{"code": code} for code in READ_ONLY],
                "searchParam": [{"name": p.name, "type": str(p.kind)} for p in AUDIT_PARAMS]}
    params = PARAMS.get(rtype, ())
    entry = {
        "type": rtype,
        "interaction": [{"code": code} for code in INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": False,  # ids are the server's: see interactions.existing
        "conditionalCreate": True,
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "searchInclude": _references(rtype),
        "searchRevInclude": sorted({f"{src}:{p.name}" for src, ps in PARAMS.items() for p in ps
                                    if p.kind is Kind.REFERENCE and p.target in (None, rtype)}),
        "searchParam": [{"name": n, "type": k} for n, k in COMMON_PARAMS]
                       + [{"name": p.name, "type": "composite" if p.pair else str(p.kind)} for p in params]
                       + [{"name": name, "type": "composite"} for name in COMPOSITES.get(rtype, {})],
        "operation": [{"name": name, "definition": url} for name, url in OPERATIONS.items()],
    }
    if rtype == "Patient":
        entry["operation"] += [
            {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"},
            {"name": "transfer", "definition": f"{base}/OperationDefinition/Patient-transfer"},
            {"name": "export", "definition": f"{BULK_DATA}/patient-export"}]
    if rtype == "Group":
        entry["operation"].append({"name": "export", "definition": f"{BULK_DATA}/group-export"})
    return entry


def capability_statement(base: str, software_version: str, date: str) -> dict:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "kind": "instance",
        "software": {"name": "telemed EHR", "version": software_version},
        "implementation": {"description": "Custody-facility telemedicine FHIR R4 server", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [{
            "mode": "server",
            "documentation": f"_summary takes {', '.join(SUMMARIES)}. Chained parameters "
                             "(subject:Patient.identifier=...) and _include:iterate are supported.",
            "security": smart.security(base),
            "resource": [_resource(rtype, base) for rtype in SUPPORTED_TYPES],
            "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}],
            "searchParam": [{"name": n, "type": k} for n, k in RESULT_PARAMS],
            "operation": [{"name": "export", "definition": f"{BULK_DATA}/export"}],
        }],
    }
