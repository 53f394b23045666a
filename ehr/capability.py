"""The CapabilityStatement, built from the same tables that drive search and routing, so it
lists exactly what the server does."""

from __future__ import annotations

from ehr.params import AUDIT_PARAMS, PARAMS
from ehr.validation import SUPPORTED_TYPES

FHIR_VERSION = "4.0.1"
INTERACTIONS = ("read", "vread", "update", "delete", "history-instance", "history-type", "create", "search-type")
READ_ONLY = ("read", "search-type")
COMMON_PARAMS = (("_id", "token"), ("_lastUpdated", "date"))
RESULT_PARAMS = ("_count", "_sort", "_include", "_revinclude", "_summary", "_elements", "_total")


def _resource(rtype: str, base: str) -> dict:
    params = AUDIT_PARAMS if rtype == "AuditEvent" else PARAMS.get(rtype, ())
    search = [{"name": n, "type": k} for n, k in COMMON_PARAMS] + [{"name": p.name, "type": str(p.kind)} for p in params]
    interactions = READ_ONLY if rtype == "AuditEvent" else INTERACTIONS
    entry = {
        "type": rtype,
        "interaction": [{"code": code} for code in interactions],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": rtype != "AuditEvent",
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "searchInclude": sorted({f"{rtype}:{p.name}" for p in params if str(p.kind) == "reference"}),
        "searchRevInclude": sorted({f"{src}:{p.name}" for src, ps in PARAMS.items() for p in ps
                                    if str(p.kind) == "reference" and p.target in (None, rtype)}),
        "searchParam": search,
    }
    if rtype == "Patient":
        entry["operation"] = [{"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"},
                              {"name": "transfer", "definition": f"{base}/OperationDefinition/Patient-transfer"}]
    if rtype != "AuditEvent":
        entry.setdefault("operation", []).append(
            {"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"})
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
        "rest": [{
            "mode": "server",
            "security": {"service": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "OAuth"}]}],
                "description": "Bearer token from POST /api/auth/token"},
            "resource": [_resource(rtype, base) for rtype in SUPPORTED_TYPES],
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
            "searchParam": [{"name": n, "type": "special" if n != "_count" else "number"} for n in RESULT_PARAMS],
        }],
    }
