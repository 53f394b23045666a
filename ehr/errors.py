"""FHIR errors; the API turns each into an OperationOutcome with its status."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Issue:
    code: str  # FHIR issue-type: invalid, structure, required, not-found, conflict, forbidden, ...
    diagnostics: str
    expression: list[str] = field(default_factory=list)
    severity: str = "error"

    def as_fhir(self) -> dict:
        issue = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            issue["expression"] = self.expression
        return issue


class FhirError(Exception):
    def __init__(self, status: int, issues: list[Issue] | Issue) -> None:
        self.status = status
        self.issues = issues if isinstance(issues, list) else [issues]
        super().__init__("; ".join(i.diagnostics for i in self.issues))

    def outcome(self) -> dict:
        return {"resourceType": "OperationOutcome", "issue": [i.as_fhir() for i in self.issues]}


def not_found(rtype: str, rid: str) -> FhirError:
    return FhirError(404, Issue("not-found", f"{rtype}/{rid} is not known"))


def unassignable(rtype: str, rid: str) -> FhirError:
    """A PUT to an id the caller cannot see: clients may not assign ids (HAPI's answer with
    client-assigned ids disabled), and an id that exists outside the caller's care gets the
    very same answer, so a PUT tells nothing of what others hold."""
    return FhirError(404, Issue("not-found", f"{rtype}/{rid} is not known, and clients may not assign ids: "
                                             f"create with POST {rtype}"))


def gone(rtype: str, rid: str) -> FhirError:
    return FhirError(410, Issue("deleted", f"{rtype}/{rid} has been deleted"))


def invalid(message: str, expression: list[str] | None = None, status: int = 422) -> FhirError:
    return FhirError(status, Issue("invalid", message, expression or []))


def conflict(message: str) -> FhirError:
    return FhirError(412, Issue("conflict", message))


def forbidden(message: str) -> FhirError:
    return FhirError(403, Issue("forbidden", message))


class Denied(FhirError):
    """A refusal on one detainee's data (not on the caller's role). Pages show its reason; the
    FHIR API answers ``concealed`` instead, which a caller cannot tell apart from the answer
    for data that does not exist, so refusals are no oracle."""

    def __init__(self, reason: str, concealed: FhirError) -> None:
        super().__init__(403, Issue("forbidden", reason))
        self.concealed = concealed


def concealed(error: FhirError) -> FhirError:
    return error.concealed if isinstance(error, Denied) else error


def not_yours(resource: str) -> FhirError:
    """The one answer to a write on data outside the caller's care, whether it exists or not."""
    return FhirError(403, Issue("forbidden", f"{resource}: no write access (unknown, or not in your care)"))
