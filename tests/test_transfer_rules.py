"""The transfer rules, on both databases: only staff who may write the detainee's record move
them, only to another custody facility, the custody extension is replaced and the history kept,
and the access follows the detainee."""

from __future__ import annotations

from datetime import date, datetime, timezone

import orjson
import pytest
from sqlmodel import select

from ehr import store
from ehr.access import Gate
from ehr.custody import CUSTODY_EXTENSION, custody_extension, custody_of
from ehr.errors import FhirError
from ehr.store import Stored
from ehr.transfer import PARAMETERS, Transfer, transfer, transfers
from ehr.validation import parameter_values
from telemed.models import Detainee, User
from telemed.policy import Capability, decide
from telemed.security import principal_of

TODAY = date(2026, 12, 6)
OTHER = {"url": "http://example.org/fhir/StructureDefinition/religion", "valueString": "none"}


def gate(session, username: str) -> Gate:
    return Gate(principal_of(session.exec(select(User).where(User.username == username)).one()))


def params(destination: str | None = "Organization/fac-b", cell: str | None = "2-02") -> dict:
    items = []
    if destination is not None:
        items.append({"name": "destination", "valueReference": {"reference": destination}})
    if cell is not None:
        items.append({"name": "cell", "valueString": cell})
    return {"resourceType": "Parameters", "parameter": items}


def refused(session, username: str, parameters: dict, patient: str = "fac-a-p1") -> FhirError:
    version = store.read(session, "Patient", patient).version
    with pytest.raises(FhirError) as raised:
        transfer(session, gate(session, username), patient, parameters, TODAY)
    assert store.read(session, "Patient", patient).version == version  # nothing changed
    return raised.value


def test_parameters_by_name_and_kind():
    given = {"resourceType": "Parameters", "parameter": [
        {"name": "cell", "valueString": "3-01"},
        {"name": "destination", "valueReference": {"reference": "Organization/fac-b"}}]}
    assert parameter_values(given, PARAMETERS) == {"cell": "3-01", "destination": {"reference": "Organization/fac-b"}}
    assert parameter_values({"resourceType": "Parameters"}, PARAMETERS) == {}


@pytest.mark.parametrize("items, where", [
    ([{"name": "cell", "valueString": "3-01"}, {"name": "cell", "valueString": "9-09"}], "Parameters.parameter[1]"),
    ([{"name": "cell", "valueReference": {"reference": "Location/1"}}], "Parameters.parameter[0]"),
    ([{"name": "reason", "valueString": "court order"}], "Parameters.parameter[0]"),
    ("cell", "Parameters.parameter"),
])
def test_a_repeated_unknown_or_mistyped_parameter_is_refused_by_place(items, where):
    with pytest.raises(FhirError) as raised:
        parameter_values({"resourceType": "Parameters", "parameter": items}, PARAMETERS)
    assert raised.value.status == 400 and raised.value.outcome()["issue"][0]["expression"] == [where]


def test_only_a_parameters_resource_is_taken():
    with pytest.raises(FhirError) as raised:
        transfer(None, None, "fac-a-p1", {"resourceType": "Patient", "parameter": []}, TODAY)
    assert raised.value.status == 400
    issue = raised.value.outcome()["issue"][0]
    assert (issue["diagnostics"], issue["expression"]) == ("$transfer takes a Parameters resource", ["Parameters"])


def test_a_transfer_replaces_custody_and_moves_access(rolled_back):
    session, world = rolled_back
    before = store.read(session, "Patient", "fac-a-p1")
    patient = before.resource
    patient["extension"].append(OTHER)
    before, _ = store.update(session, patient, "fac-a-p1")
    doc = gate(session, "doc-a")
    moved = transfer(session, doc, "fac-a-p1", params(), TODAY)
    assert moved.version == before.version + 1
    resource = moved.resource
    custody = [e for e in resource["extension"] if e["url"] == CUSTODY_EXTENSION]
    assert custody == [custody_extension("fac-b", "2-02", "2026-12-06", "in-custody")]
    assert OTHER in resource["extension"]  # other extensions stay
    assert resource["managingOrganization"] == {"reference": "Organization/fac-b"}
    assert session.get(Detainee, "fac-a-p1").facility_id == "fac-b"
    assert [(n.action, n.allowed, n.patient_id, n.resource) for n in doc.noted] == [
        ("fhir.transfer", True, "fac-a-p1", "Patient/fac-a-p1")]
    assert not decide(session, doc.who, Capability.CLINICAL_READ, "fac-a-p1")
    assert decide(session, gate(session, "doc-b").who, Capability.CLINICAL_READ, "fac-a-p1")
    assert [(t.source, t.destination, t.version) for t in transfers(store.history(session, "Patient", "fac-a-p1"))] == [
        ("fac-a", "fac-b", moved.version)]


def test_a_bare_id_and_no_cell(rolled_back):
    session, world = rolled_back
    moved = transfer(session, gate(session, "doc-a"), "fac-a-p2", params("fac-b", cell=None), TODAY)
    assert custody_of(moved.resource) == {"facility": "fac-b", "admissionDate": "2026-12-06", "status": "in-custody"}


def test_a_patient_without_extensions_is_transferred(rolled_back):
    """Custody named by managingOrganization alone (an imported record, say)."""
    session, world = rolled_back
    patient = store.read(session, "Patient", "fac-a-p3").resource
    del patient["extension"]
    store.update(session, patient, "fac-a-p3")
    moved = transfer(session, gate(session, "doc-a"), "fac-a-p3", params(), TODAY)
    assert moved.resource["extension"] == [custody_extension("fac-b", "2-02", "2026-12-06")]


def test_a_transfer_never_overwrites_a_concurrent_edit(rolled_back, monkeypatch):
    """A colleague's edit between the transfer's read and its write: the transfer is refused."""
    session, world = rolled_back
    read_custody = custody_of

    def edited_meanwhile(patient: dict) -> dict:
        other = store.read(session, "Patient", "fac-a-p1").resource
        other["name"][0]["given"] = ["小红"]
        store.update(session, other, "fac-a-p1")
        return read_custody(patient)

    monkeypatch.setattr("ehr.transfer.custody_of", edited_meanwhile)
    with pytest.raises(FhirError) as raised:
        transfer(session, gate(session, "doc-a"), "fac-a-p1", params(), TODAY)
    assert raised.value.status == 412
    assert store.read(session, "Patient", "fac-a-p1").resource["name"][0]["given"] == ["小红"]
    assert session.get(Detainee, "fac-a-p1").facility_id == "fac-a"


@pytest.mark.parametrize("username", ["doc-b", "officer-a", "spec-1", "admin"])
def test_who_may_not_transfer(rolled_back, username):
    session, world = rolled_back
    assert refused(session, username, params()).status == 403


@pytest.mark.parametrize("destination, message", [
    ("Organization/hosp-1", "destination Organization/hosp-1 is not a custody facility"),
    ("Organization/nowhere", "destination Organization/nowhere is not a custody facility"),
    (None, "destination Organization/ is not a custody facility"),
    ("Organization/fac-a", "Patient/fac-a-p1 is already held at fac-a"),
])
def test_where_a_detainee_may_not_go(rolled_back, destination, message):
    session, world = rolled_back
    error = refused(session, "doc-a", params(destination))
    assert error.status == 422
    issue = error.outcome()["issue"][0]
    assert (issue["diagnostics"], issue["expression"]) == (message, ["Parameters.parameter[destination]"])


def test_an_unknown_detainee_is_refused_like_another_facilitys(rolled_back):
    """No tell: an id that names nobody is refused as one outside the caller's facility is."""
    session, world = rolled_back
    with pytest.raises(FhirError) as unknown:
        transfer(session, gate(session, "doc-a"), "nobody", params(), TODAY)
    with pytest.raises(FhirError) as elsewhere:
        transfer(session, gate(session, "doc-a"), "fac-b-p1", params(), TODAY)
    assert unknown.value.status == elsewhere.value.status == 403


def day(number: int) -> datetime:
    return datetime(2026, 1, number, tzinfo=timezone.utc)


def version(number: int, facility: str | None, *, deleted: bool = False) -> Stored:
    extension = [custody_extension(facility, "1-01", "2026-01-05")] if facility else []
    resource = {"resourceType": "Patient", "extension": extension}
    return Stored("Patient", "p", number, day(number), deleted, "p", orjson.dumps(resource))


def test_transfers_in_a_history_given_in_any_order():
    history = [version(4, "fac-a"), version(1, "fac-a"), version(3, "fac-b", deleted=True), version(2, "fac-b"),
               version(5, "fac-a"), version(6, None)]
    assert transfers(history) == [Transfer(day(2), "fac-a", "fac-b", 2), Transfer(day(4), "fac-b", "fac-a", 4),
                                  Transfer(day(6), "fac-a", "", 6)]
    assert transfers([version(1, "fac-a")]) == [] and transfers([]) == []
