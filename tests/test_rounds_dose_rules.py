"""The pill line's rules as pure functions (rounds/medpass.py, rounds/adherence.py): the
wrong-detainee guard at its exact override length, what each outcome needs, the
MedicationAdministration written, and the instant a dose's window closes."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from rounds.adherence import closed
from rounds.medpass import (MIN_OVERRIDE, OUTCOMES, PERFORMER_FUNCTION, REASON_CODES, REFUSALS_IN_A_ROW, WITNESS_ROLES,
                            DoseEntry, DoseRefused, _check, _order, _parse_key, administration, outcome_of)
from rounds.schedule import DOSE_SYSTEM, Dose
from telemed.models import User

SHANGHAI = ZoneInfo("Asia/Shanghai")
DOSE = Dose(request_id="rx1", patient_id="p1", day=date(2026, 3, 2), slot="morning", medicine="Amlodipine", dose="10 mg",
            route="oral", controlled=False, cell="1-01", name="张三", booking_number="B1")


def entry(**fields) -> DoseEntry:
    return DoseEntry(**({"dose_key": DOSE.key, "outcome": "given", "identified": "p1", "witness": 7} | fields))


def refusal(**fields) -> tuple[str, str, int]:
    with pytest.raises(DoseRefused) as refused:
        _check(entry(**fields), DOSE)
    assert str(refused.value) == f"{refused.value.field}: {refused.value.key}"  # what a log shows
    return refused.value.field, refused.value.key, refused.value.status


def test_the_constants_as_published_here():
    assert (MIN_OVERRIDE, REFUSALS_IN_A_ROW, OUTCOMES) == (10, 3, ("given", "refused", "held", "unavailable"))
    assert WITNESS_ROLES == ("custody_officer", "facility_doctor", "medical_officer")


def test_the_identified_detainee_needs_nothing_more():
    for outcome in ("given", "refused", "unavailable"):
        _check(entry(outcome=outcome), DOSE)
    _check(entry(outcome="held", reason="nil by mouth"), DOSE)


def test_an_unknown_outcome_and_a_held_dose_without_reason_are_refused():
    assert refusal(outcome="lost") == ("outcome", "rounds.error.outcome", 422)
    assert refusal(outcome="") == ("outcome", "rounds.error.outcome", 422)
    assert refusal(outcome="held") == ("reason", "rounds.error.reason", 422)
    assert refusal(outcome="held", reason="   ") == ("reason", "rounds.error.reason", 422)


def test_no_dose_before_the_detainee_is_identified():
    assert refusal(identified="") == ("identified", "rounds.error.identify_first", 422)
    assert refusal(identified="", override="x" * 40) == ("identified", "rounds.error.identify_first", 422)


def test_another_detainee_needs_an_override_of_at_least_ten_characters_not_counting_spaces():
    wrong = ("identified", "rounds.error.wrong_detainee", 409)
    assert refusal(identified="p2") == wrong
    assert refusal(identified="p2", override="x" * (MIN_OVERRIDE - 1)) == wrong
    assert refusal(identified="p2", override="  " + "x" * (MIN_OVERRIDE - 1) + "     ") == wrong
    _check(entry(identified="p2", override="x" * MIN_OVERRIDE), DOSE)
    _check(entry(identified="p2", override=" " + "x" * MIN_OVERRIDE + " "), DOSE)


def test_a_dose_key_names_a_request_a_day_and_a_call():
    assert _parse_key("rx1/2026-03-02/noon") == ("rx1", date(2026, 3, 2), "noon")
    for bad in ("rx1/2026-03-02", "rx1/2026-03-02/noon/x", "rx1/2026-13-02/noon", ""):
        with pytest.raises(DoseRefused) as refused:
            _parse_key(bad)
        assert (refused.value.field, refused.value.key, refused.value.status) == ("dose", "rounds.error.no_dose", 404)


def _witness(name: str, display: str = "") -> User:
    return User(username=name, display_name=display, role="custody_officer", org_id="fac-a", password_hash="x")


def test_a_given_dose_as_written():
    taken = datetime(2026, 3, 2, 0, 5, tzinfo=timezone.utc)
    written = administration(DOSE, entry(taken_at=taken), "Nurse Li", [_witness("guard-a", "Officer Wang"),
                                                                      _witness("guard-b")])
    witness = {"coding": [{"system": PERFORMER_FUNCTION, "code": "witness"}]}
    assert written == {
        "resourceType": "MedicationAdministration",
        "identifier": [{"system": DOSE_SYSTEM, "value": "rx1/2026-03-02/morning"}],
        "status": "completed", "medicationCodeableConcept": {"text": "Amlodipine"},
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-03-02T00:05:00.000Z",
        "performer": [{"actor": {"display": "Nurse Li"}}, {"function": witness, "actor": {"display": "Officer Wang"}},
                      {"function": witness, "actor": {"display": "guard-b"}}],
        "request": {"reference": "MedicationRequest/rx1"},
    }
    assert outcome_of(written) == "given"


def test_a_dose_not_given_carries_its_coded_reason_and_an_override_its_note():
    held = administration(DOSE, entry(outcome="held", reason="vomiting", identified="p2", override="photo and birth date"),
                          "Nurse Li", [])
    assert held["status"] == "not-done"
    assert held["statusReason"] == [{"coding": [{"system": REASON_CODES, "code": "held"}], "text": "vomiting"}]
    assert held["note"] == [{"text": "Wrong-detainee override: photo and birth date"}]
    assert outcome_of(held) == "held"
    refused = administration(DOSE, entry(outcome="refused"), "Nurse Li", [])
    assert refused["statusReason"] == [{"coding": [{"system": REASON_CODES, "code": "refused"}]}]
    assert "note" not in refused and outcome_of(refused) == "refused"
    assert outcome_of({"status": "not-done", "statusReason": [{"coding": [{"system": "other", "code": "held"}]}]}) == ""
    assert outcome_of({"status": "not-done"}) == ""
    assert outcome_of({"status": "not-done", "statusReason": [{"text": "spat it out"}]}) == ""
    assert outcome_of({"status": "not-done", "statusReason": [{"coding": [{"system": REASON_CODES}]}]}) == ""


def test_recorded_doses_order_by_day_then_call():
    def recorded(key: str) -> dict:
        return {"identifier": [{"system": DOSE_SYSTEM, "value": key}]}
    keys = ["rx1/2026-03-02/night", "rx1/2026-03-01/noon", "rx1/2026-03-02/morning", "rx1/2026-03-01/evening"]
    ordered = sorted((recorded(k) for k in keys), key=_order)
    assert [r["identifier"][0]["value"] for r in ordered] == [
        "rx1/2026-03-01/noon", "rx1/2026-03-01/evening", "rx1/2026-03-02/morning", "rx1/2026-03-02/night"]


def test_a_dose_window_closes_at_the_exact_instant_in_the_facility_time_zone():
    window = timedelta(minutes=90)
    due = datetime(2026, 3, 2, 8, tzinfo=SHANGHAI)  # the morning call, facility time: 00:00 UTC
    assert DOSE.due_at(SHANGHAI) == due
    assert not closed(DOSE, due + window - timedelta(microseconds=1), SHANGHAI, window)
    assert closed(DOSE, due + window, SHANGHAI, window)
    assert closed(DOSE, (due + window).astimezone(timezone.utc), SHANGHAI, window)
    assert not closed(DOSE, datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc), ZoneInfo("America/New_York"), window)
