"""Validation against the fhir.resources R4B models, done once, on write."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from itertools import islice
from typing import Generic, NamedTuple, TypeVar

import orjson
import pydantic
from fhir.resources.R4B import get_fhir_model_class

from ehr.bindings import violations
from ehr.errors import FhirError, Issue
from ehr.groups import GROUP, group_issues
from telemed.children import die_with_parent

T = TypeVar("T")
R = TypeVar("R")

SUPPORTED_TYPES = (
    "Patient", "Organization", "Practitioner", "PractitionerRole", "Encounter",
    "Condition", "AllergyIntolerance", "MedicationRequest", "MedicationStatement",
    "Observation", "DiagnosticReport", "ServiceRequest", "Appointment",
    "DocumentReference", "Consent", "Provenance", "AuditEvent", "ObservationDefinition",
    "Immunization", "Procedure", "Location", "CarePlan", "CareTeam", "Goal", "Device", "Task",
    "Questionnaire", "QuestionnaireResponse", "Flag", "MedicationAdministration", "Group",
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
    issues = _nulls(rtype, resource) + violations(rtype, resource)
    if rtype == GROUP:
        issues += group_issues(resource)
    if issues:
        raise FhirError(422, issues)
    return rtype


def _nulls(rtype: str, resource: dict) -> list[Issue]:
    """FHIR JSON has no null values (the models take them for absent). Looked for in the text
    first: the walk runs only when a null is there."""
    if b"null" not in orjson.dumps(resource):
        return []
    found: list[Issue] = []

    def walk(value: object, path: str) -> None:
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            where = f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]"
            if item is None:
                found.append(Issue("structure", f"{where}: null is not a FHIR value; leave the element out", [where]))
            else:
                walk(item, where)
    walk(resource, rtype)
    return found


def _issue(rtype: str, err: dict) -> Issue:
    path = ".".join([rtype, *(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"])]).replace(".[", "[")
    message = err["msg"].removeprefix("Value error, ")
    code = "required" if "missing" in err["type"] else "invalid"
    return Issue(code, f"{path}: {message}", [path])


VALUE_TYPES = {"valueReference": dict, "valueString": str, "resource": dict}


def parameter_values(parameters: dict, wanted: dict[str, str]) -> dict[str, object]:
    """An operation's Parameters: {name: value} for the names in ``wanted`` (name -> its value
    element: valueReference, valueString or resource). Anything else in them is refused; a
    resource given is returned as it is, for the operation to validate."""
    items = parameters.get("parameter", [])
    if not isinstance(items, list):
        raise FhirError(400, Issue("structure", "Parameters.parameter must be an array", ["Parameters.parameter"]))
    found: dict[str, object] = {}
    for n, item in enumerate(items):
        where = f"Parameters.parameter[{n}]"
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or name not in wanted:
            raise FhirError(400, Issue("not-supported", f"{where}: parameter {name!r} is not supported here (only "
                                                        f"{', '.join(wanted)})", [where]))
        value = item.get(wanted[name])
        if not isinstance(value, VALUE_TYPES[wanted[name]]) or name in found:
            raise FhirError(400, Issue("structure", f"{where}: {name} needs one {wanted[name]}", [where]))
        found[name] = value
    return found


class Invalid(NamedTuple):
    """A validation error as a worker process hands it back."""

    status: int
    issues: list[Issue]


def invalid(resource: dict) -> Invalid | None:
    """The resource's validation error, or None when it is valid."""
    try:
        validate(resource)
    except FhirError as error:
        return Invalid(error.status, error.issues)
    return None


class Validator:
    """Validates the resources of large Bundles in worker processes, chunk by chunk, while the
    database thread writes the chunks already validated. Pydantic takes ~0.1 ms per resource,
    all of it Python: in the server process it would hold the GIL that the event loop (and live
    video) needs, and keep to one core of several. The work done on each resource is the
    caller's: a function of a chunk that validates each item (with ``invalid``) and may do more."""

    MIN_PARALLEL = 64  # below this, the hand-over costs more than it saves
    CHUNK = 32

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self._pool is not None

    def wanted(self, count: int) -> bool:
        return count >= self.MIN_PARALLEL

    def submit(self, work: Callable[[list[T]], list[Invalid | R]], items: Iterable[T]) -> list[Verdict[R]]:
        """A verdict per item, from ``work`` (a module-level function) in the workers; the first
        call starts them (~1 s). Each chunk goes out as soon as ``items`` yields it."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=die_with_parent, initargs=(os.getpid(),))
        verdicts = []
        pending = iter(items)
        while chunk := list(islice(pending, self.CHUNK)):
            done = self._pool.submit(work, chunk)
            verdicts += [Verdict(done, n) for n in range(len(chunk))]
        return verdicts

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


@dataclass(frozen=True)
class Verdict(Generic[R]):
    """One item's place in a chunk at the workers."""

    chunk: Future
    offset: int

    def result(self) -> R:
        """What the work made of the item, raising its validation error; blocks until its chunk
        is done (call it off the event loop)."""
        found = self.chunk.result()[self.offset]
        if isinstance(found, Invalid):
            raise FhirError(found.status, found.issues)
        return found

    def cancel(self) -> None:
        self.chunk.cancel()
