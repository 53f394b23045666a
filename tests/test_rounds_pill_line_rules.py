"""The pill line's rules against a real database, on SQLite and PostgreSQL (rounds/medpass.py,
rounds/adherence.py): each outcome without what it needs is refused and changes nothing, the
witnesses and the controlled count at their limits, the wrong-detainee override at 9 and 10
characters, the third refusal in a row and not the second, the instant a dose's window closes in
the facility's time zone (a night dose missed at 00:30 facility time), and adherence over the last
30 days."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from ehr import store
from ehr.access import Gate
from rounds import adherence, medpass
from rounds.adherence import Adherence
from rounds.flags import active
from rounds.medpass import REASON_CODES, DoseEntry, DoseRefused
from rounds.models import ControlledCount, RoundsEntry
from rounds.records import by_identifier
from rounds.schedule import DOSE_SYSTEM
from telemed.models import Detainee, User
from telemed.security import principal_of

FAC = "fac-a"
P1, P2, P3 = "fac-a-p1", "fac-a-p2", "fac-a-p3"
DAY = date(2026, 3, 2)
SHANGHAI = ZoneInfo("Asia/Shanghai")
WINDOW = timedelta(minutes=90)
NURSE = "Nurse Li"


def user(session, username: str) -> User:
    return session.exec(select(User).where(User.username == username)).one()


def gate(session, username: str = "doc-a") -> Gate:
    return Gate(principal_of(user(session, username)))


def prescribe(session, patient_id: str, drug: str, per_day: int = 1, start: date = DAY - timedelta(days=10),
              when: str | None = None) -> str:
    repeat = {"frequency": per_day, "period": 1, "periodUnit": "d", "boundsPeriod": {"start": start.isoformat()},
              **({"when": [when]} if when else {})}
    return store.create(session, {
        "resourceType": "MedicationRequest", "status": "active", "intent": "order",
        "medicationCodeableConcept": {"text": drug}, "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": f"{start.isoformat()}T00:00:00Z", "requester": {"display": "doc-a"},
        "dosageInstruction": [{"timing": {"repeat": repeat},
                               "doseAndRate": [{"doseQuantity": {"value": 10, "unit": "mg"}}]}],
    }).id


def key(request_id: str, day: date = DAY, slot: str = "morning") -> str:
    return f"{request_id}/{day.isoformat()}/{slot}"


def entry(session, dose_key: str, outcome: str = "given", identified: str = P1, witness: str | None = "guard-a",
          second: str | None = None, **extra) -> DoseEntry:
    def uid(name: str | None) -> int | None:
        return user(session, name).id if name else None
    return DoseEntry(dose_key=dose_key, outcome=outcome, identified=identified, witness=uid(witness),
                     second_witness=uid(second), **extra)


def give(session, dose_key: str, outcome: str = "given", identified: str = P1, **fields) -> dict:
    return medpass.record(session, gate(session), FAC, entry(session, dose_key, outcome, identified, **fields), NURSE)


def refusal(session, dose_key: str, outcome: str = "given", identified: str = P1, **fields) -> tuple[str, str, int]:
    with pytest.raises(DoseRefused) as refused:
        give(session, dose_key, outcome, identified, **fields)
    return refused.value.field, refused.value.key, refused.value.status


def written(session, patient_id: str) -> dict[str, dict]:
    return by_identifier(session, "MedicationAdministration", FAC, DOSE_SYSTEM, patient_id)


def flags(session, patient_id: str) -> dict[str, str]:
    """The patient's active Flags: identifier -> text; each raised by the nurse at the line."""
    raised = active(session, FAC, patient_id)
    assert all(f["author"] == {"display": NURSE} for f in raised)
    return {f["identifier"][0]["value"]: f["code"]["text"] for f in raised}


def stock(session, medicine: str, count: int) -> ControlledCount:
    row = ControlledCount(facility_id=FAC, medicine=medicine, count=count,
                          updated_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    session.add(row)
    session.flush()
    return row


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), SHANGHAI)


# -- recording a dose ----------------------------------------------------------------------------
def test_a_dose_is_found_by_its_request_day_and_call_or_not_at_all(rolled_back):
    session, _ = rolled_back
    rx = prescribe(session, P1, "Amlodipine", start=DAY)
    other = prescribe(session, "fac-b-p1", "Amlodipine", start=DAY)
    dose = medpass.find_dose(session, FAC, key(rx))
    assert (dose.request_id, dose.patient_id, dose.day, dose.slot, dose.dose) == (rx, P1, DAY, "morning", "10 mg")
    for missing in (key(rx, slot="dawn"), key(rx, slot="evening"), key(rx, DAY - timedelta(days=1)),
                    key("no-such-request"), key(other)):
        with pytest.raises(DoseRefused) as refused:
            medpass.find_dose(session, FAC, missing)
        assert (refused.value.field, refused.value.key, refused.value.status) == ("dose", "rounds.error.no_dose", 404)


def test_a_dose_given_is_written_once_with_its_nurse_and_witness(rolled_back):
    session, _ = rolled_back
    rx = prescribe(session, P1, "Amlodipine")
    before = datetime.now(timezone.utc).replace(microsecond=0)
    answer = give(session, key(rx))
    assert answer == {"id": answer["id"], "dose": key(rx), "patient_id": P1, "flags": [], "count": None}
    [(recorded, resource)] = written(session, P1).items()
    assert recorded == key(rx) and resource["id"] == answer["id"] and resource["status"] == "completed"
    assert [p["actor"]["display"] for p in resource["performer"]] == [NURSE, "guard-a"]
    assert before <= datetime.fromisoformat(resource["effectiveDateTime"]) <= datetime.now(timezone.utc)
    assert refusal(session, key(rx)) == ("dose", "rounds.error.recorded", 409)
    assert refusal(session, key(rx), "refused") == ("dose", "rounds.error.recorded", 409)
    assert len(written(session, P1)) == 1


def test_each_outcome_without_what_it_needs_is_refused_and_changes_nothing(rolled_back):
    session, _ = rolled_back
    rx = prescribe(session, P1, "Amlodipine")
    diazepam = prescribe(session, P3, "Diazepam")
    count = stock(session, "diazepam", 5)
    held = key(rx)
    assert refusal(session, held, "held") == ("reason", "rounds.error.reason", 422)
    assert refusal(session, held, "held", reason="  ") == ("reason", "rounds.error.reason", 422)
    assert refusal(session, held, "lost") == ("outcome", "rounds.error.outcome", 422)
    assert refusal(session, held, identified="") == ("identified", "rounds.error.identify_first", 422)
    given = key(diazepam)
    assert refusal(session, given, identified=P3) == ("witness", "rounds.error.witness", 422)  # no second witness
    assert refusal(session, given, identified=P3, second="guard-a") == ("witness", "rounds.error.witness_same", 422)
    assert refusal(session, given, identified=P3, second="doc-a") == ("witness", "rounds.error.witness_same", 422)
    assert written(session, P1) == {} and written(session, P3) == {} and flags(session, P1) == {}
    assert count.count == 5 and count.updated_at == datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("witness", ["admin", "kiosk-a", "spec-1", "guard-b", "officer-b", "doc-a", "inactive"])
def test_who_may_not_witness(rolled_back, witness):
    """Not the nurse herself, an admin, a kiosk, a specialist, another facility's staff, or a
    deactivated officer."""
    session, _ = rolled_back
    rx = prescribe(session, P1, "Amlodipine")
    if witness == "inactive":
        witness = "guard-a"
        user(session, witness).active = False
        session.flush()
    expected = "rounds.error.witness_same" if witness == "doc-a" else "rounds.error.witness"
    assert refusal(session, key(rx), witness=witness) == ("witness", expected, 422)
    assert written(session, P1) == {}


@pytest.mark.filterwarnings("error")
def test_a_dose_sent_without_a_witness_is_refused_before_any_user_is_looked_up(rolled_back):
    """Looking up a user by no id draws SQLAlchemy's warning that it may raise in a later release."""
    session, _ = rolled_back
    rx = prescribe(session, P1, "Amlodipine")
    assert refusal(session, key(rx), witness=None) == ("witness", "rounds.error.witness", 422)


def test_the_witnesses_offered_are_the_facility_officers_first(rolled_back):
    session, _ = rolled_back
    assert [u.username for u in medpass.witnesses(session, FAC)] == ["guard-a", "doc-a", "officer-a"]
    user(session, "doc-a").active = False
    session.flush()
    assert [u.username for u in medpass.witnesses(session, FAC)] == ["guard-a", "officer-a"]
    assert [u.username for u in medpass.witnesses(session, "fac-b")] == ["guard-b", "doc-b", "officer-b"]


def test_a_controlled_dose_takes_one_from_the_count_down_to_the_last(rolled_back):
    session, _ = rolled_back
    diazepam = prescribe(session, P3, "Diazepam")
    count = stock(session, "diazepam", 1)
    # a dose not given takes nothing from the count, yet needs both witnesses
    refused = give(session, key(diazepam, DAY - timedelta(days=2)), "refused", P3, second="officer-a")
    held = give(session, key(diazepam, DAY - timedelta(days=1)), "held", P3, second="officer-a", reason="asleep")
    assert refused["count"] is None and held["count"] is None and count.count == 1
    answer = give(session, key(diazepam), identified=P3, second="officer-a")
    assert answer["count"] == 0 and count.count == 0 and count.updated_at > datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert [p["actor"]["display"] for p in written(session, P3)[key(diazepam)]["performer"]] == [
        NURSE, "guard-a", "officer-a"]
    tomorrow = key(diazepam, DAY + timedelta(days=1))
    assert refusal(session, tomorrow, identified=P3, second="officer-a") == ("count", "rounds.error.count_empty", 409)
    assert tomorrow not in written(session, P3) and count.count == 0


def test_a_controlled_dose_without_a_count_of_its_own_is_refused(rolled_back):
    session, _ = rolled_back
    diazepam = prescribe(session, P3, "Diazepam")
    stock(session, "lorazepam", 5)  # another medicine's count is not this one's
    assert refusal(session, key(diazepam), identified=P3, second="officer-a") == ("count", "rounds.error.count_empty", 409)
    session.add(ControlledCount(facility_id="fac-b", medicine="diazepam", count=5))  # another facility's stock
    session.flush()
    assert refusal(session, key(diazepam), identified=P3, second="officer-a") == ("count", "rounds.error.count_empty", 409)
    assert written(session, P3) == {}


# -- the wrong-detainee guard ---------------------------------------------------------------------
def test_another_detainee_at_the_hatch_needs_ten_characters_of_override_after_stripping(rolled_back):
    session, _ = rolled_back
    rx = prescribe(session, P1, "Amlodipine")
    session.get(Detainee, P2).name = "李四"
    session.flush()
    nine = "  " + "x" * 9 + "   "
    assert refusal(session, key(rx), identified=P2, override=nine) == ("identified", "rounds.error.wrong_detainee", 409)
    assert written(session, P1) == {} and flags(session, P1) == {}
    ten = " photo, DOB "
    answer = give(session, key(rx), identified=P2, override=ten)
    assert answer["flags"] == ["wrong-detainee"] and answer["patient_id"] == P1
    assert written(session, P1)[key(rx)]["note"] == [{"text": f"Wrong-detainee override: {ten}"}]
    assert flags(session, P1) == {f"wrong-detainee:{key(rx)}": f"Amlodipine 10 mg: identified as 李四; {ten}"}
    assert flags(session, P2) == {}


def test_an_unknown_detainee_at_the_hatch_is_named_by_what_was_scanned(rolled_back):
    session, _ = rolled_back
    rx = prescribe(session, P1, "Amlodipine")
    give(session, key(rx), identified="fac-a-p9", override="band unreadable")
    assert flags(session, P1) == {f"wrong-detainee:{key(rx)}": "Amlodipine 10 mg: identified as fac-a-p9; band unreadable"}


# -- refusals in a row ----------------------------------------------------------------------------
def days_ago(rx: str, n: int, slot: str = "morning") -> str:
    return key(rx, DAY - timedelta(days=n), slot)


def test_the_third_refusal_in_a_row_raises_a_flag_and_not_the_second(rolled_back):
    session, _ = rolled_back
    rx = prescribe(session, P1, "Amlodipine")
    assert give(session, days_ago(rx, 2), "refused")["flags"] == []
    assert give(session, days_ago(rx, 1), "refused")["flags"] == []
    assert flags(session, P1) == {}
    assert give(session, days_ago(rx, 0), "refused")["flags"] == ["refusals"]
    assert flags(session, P1) == {f"refusals:{key(rx)}": "Amlodipine 10 mg"}


def test_a_dose_given_or_held_breaks_the_run(rolled_back):
    session, _ = rolled_back
    rx = prescribe(session, P1, "Amlodipine")
    give(session, days_ago(rx, 4), "refused")
    give(session, days_ago(rx, 3), "refused")
    give(session, days_ago(rx, 2), "held", reason="asleep")
    give(session, days_ago(rx, 1), "refused")
    assert give(session, days_ago(rx, 0), "refused")["flags"] == []
    assert flags(session, P1) == {}


def test_the_run_counts_back_from_the_latest_dose_recorded_not_the_latest_sent(rolled_back):
    """Doses recorded late (offline) take their place in the schedule: refusals filled in before a
    dose given are no run."""
    session, _ = rolled_back
    rx = prescribe(session, P1, "Metformin", per_day=2)
    give(session, days_ago(rx, 0, "morning"))
    give(session, days_ago(rx, 1, "morning"), "refused")
    give(session, days_ago(rx, 2, "evening"), "refused")
    assert give(session, days_ago(rx, 1, "evening"), "refused")["flags"] == []
    assert flags(session, P1) == {}


def test_refusals_of_another_prescription_are_not_this_ones(rolled_back):
    session, _ = rolled_back
    amlodipine, metformin = prescribe(session, P1, "Amlodipine"), prescribe(session, P1, "Metformin")
    give(session, days_ago(amlodipine, 2), "refused")
    give(session, days_ago(amlodipine, 1), "refused")
    assert give(session, days_ago(metformin, 0), "refused")["flags"] == []
    assert give(session, days_ago(amlodipine, 0), "refused")["flags"] == ["refusals"]


def test_a_flag_already_raised_for_the_dose_is_not_reported_again(rolled_back):
    """A dose entered in error is deleted and recorded again: its flags stay as first raised."""
    session, _ = rolled_back
    rx = prescribe(session, P1, "Amlodipine")
    for n in (2, 1):
        give(session, days_ago(rx, n), "refused")
    first = give(session, key(rx), "refused", identified=P2, override="photo and date of birth")
    assert first["flags"] == ["wrong-detainee", "refusals"]
    store.delete(session, "MedicationAdministration", first["id"])
    again = give(session, key(rx), "refused", identified=P2, override="photo and date of birth")
    assert again["flags"] == [] and again["id"] != first["id"]
    assert sorted(flags(session, P1)) == [f"refusals:{key(rx)}", f"wrong-detainee:{key(rx)}"]


def test_a_dose_recorded_elsewhere_without_its_prescription_is_not_in_the_run(rolled_back):
    """A MedicationAdministration another system stored under a dose's key, naming no prescription."""
    session, _ = rolled_back
    rx = prescribe(session, P1, "Amlodipine")
    foreign = administration_without_request(days_ago(rx, 3))
    store.create(session, foreign)
    give(session, days_ago(rx, 2), "refused")
    give(session, days_ago(rx, 1), "refused")
    assert give(session, days_ago(rx, 0), "refused")["flags"] == ["refusals"]


def test_doses_on_another_detainee_record_are_not_this_ones(rolled_back):
    """Administrations another system wrote on the wrong detainee's record, under this detainee's
    dose keys: the dose is still to be recorded here, and their refusals are not this run's."""
    session, _ = rolled_back
    rx = prescribe(session, P1, "Amlodipine")
    for n, status in ((2, "not-done"), (1, "not-done"), (0, "completed")):
        store.create(session, {**administration_without_request(days_ago(rx, n)), "status": status,
                               "subject": {"reference": f"Patient/{P2}"},
                               "request": {"reference": f"MedicationRequest/{rx}"}})
    assert give(session, days_ago(rx, 0), "refused")["flags"] == []
    assert list(written(session, P1)) == [key(rx)] and flags(session, P1) == {}


def administration_without_request(dose_key: str) -> dict:
    return {"resourceType": "MedicationAdministration", "status": "not-done",
            "identifier": [{"system": DOSE_SYSTEM, "value": dose_key}],
            "statusReason": [{"coding": [{"system": REASON_CODES, "code": "refused"}]}],
            "medicationCodeableConcept": {"text": "Amlodipine"}, "subject": {"reference": f"Patient/{P1}"},
            "effectiveDateTime": "2026-02-27T00:05:00Z"}


# -- a dose sent again with the browser's key -------------------------------------------------------
def test_a_resent_dose_gets_the_first_answer_and_writes_nothing(rolled_back):
    session, _ = rolled_back
    rx, other = prescribe(session, P1, "Amlodipine"), prescribe(session, P2, "Omeprazole")
    taken = datetime(2026, 3, 2, 0, 20, tzinfo=timezone.utc)
    sent = entry(session, key(rx), taken_at=taken)
    first, resent = medpass.receive(session, gate(session), FAC, "dose-key-0000001", sent, NURSE)
    assert resent is False and first["dose"] == key(rx)
    again, resent = medpass.receive(session, gate(session), FAC, "dose-key-0000001", sent, NURSE)
    assert (again, resent) == (first, True)
    kept = session.get(RoundsEntry, "dose-key-0000001")
    assert (kept.user_id, kept.patient_id, kept.kind, kept.written) == (user(session, "doc-a").id, P1, "dose", 1)
    assert kept.taken_at.replace(tzinfo=timezone.utc) == taken
    assert list(written(session, P1)) == [key(rx)]
    for who, dose in (("officer-a", sent), ("doc-a", entry(session, key(other), identified=P2))):
        with pytest.raises(DoseRefused) as refused:
            medpass.receive(session, gate(session, who), FAC, "dose-key-0000001", dose, NURSE)
        assert (refused.value.field, refused.value.key, refused.value.status) == ("key", "rounds.error.key_taken", 409)
    assert written(session, P2) == {}


def test_a_dose_sent_with_a_key_and_no_time_is_kept_as_received_now(rolled_back):
    session, _ = rolled_back
    rx = prescribe(session, P1, "Amlodipine")
    before = datetime.now(timezone.utc).replace(microsecond=0)
    medpass.receive(session, gate(session), FAC, "dose-key-0000002", entry(session, key(rx)), NURSE)
    kept = session.get(RoundsEntry, "dose-key-0000002").taken_at.replace(tzinfo=timezone.utc)
    assert before <= kept <= datetime.now(timezone.utc)


# -- missed doses ---------------------------------------------------------------------------------
def test_the_sweep_flags_a_dose_from_the_instant_its_window_closes(rolled_back):
    session, _ = rolled_back
    rx, other = prescribe(session, P1, "Amlodipine", start=DAY), prescribe(session, P2, "Omeprazole", start=DAY)
    closes = at(DAY, 8) + WINDOW
    assert adherence.sweep(session, gate(session), FAC, closes - timedelta(microseconds=1), SHANGHAI, WINDOW, NURSE) == 0
    assert flags(session, P1) == {}
    assert adherence.sweep(session, gate(session), FAC, closes, SHANGHAI, WINDOW, NURSE) == 2
    assert flags(session, P1) == {f"missed-dose:{key(rx)}": "Amlodipine 10 mg (2026-03-02 morning)"}
    assert list(flags(session, P2)) == [f"missed-dose:{key(other)}"]
    assert adherence.sweep(session, gate(session), FAC, closes + timedelta(hours=1), SHANGHAI, WINDOW, NURSE) == 0


def test_a_night_dose_is_missed_at_half_past_midnight_facility_time(rolled_back):
    """The night call (21:00) with a window of 3 h 30 closes at 00:30 the next day in Shanghai,
    16:30 UTC the same day: the sweep then looks at the facility's today and yesterday, so the
    night before that is not its to flag."""
    session, _ = rolled_back
    rx = prescribe(session, P1, "Melatonin", start=DAY - timedelta(days=1), when="HS")
    window = timedelta(hours=3, minutes=30)
    half_past = at(DAY + timedelta(days=1), 0, 30)
    assert half_past.astimezone(timezone.utc) == datetime(2026, 3, 2, 16, 30, tzinfo=timezone.utc)
    early = half_past - timedelta(microseconds=1)
    assert adherence.sweep(session, gate(session), FAC, early.astimezone(timezone.utc), SHANGHAI, window, NURSE) == 0
    assert adherence.sweep(session, gate(session), FAC, half_past.astimezone(timezone.utc), SHANGHAI, window, NURSE) == 1
    assert list(flags(session, P1)) == [f"missed-dose:{key(rx, DAY, 'night')}"]


def test_the_sweep_passes_doses_recorded_and_days_before_yesterday(rolled_back):
    session, _ = rolled_back
    rx = prescribe(session, P1, "Amlodipine", start=DAY - timedelta(days=5))
    give(session, days_ago(rx, 1), "refused")
    assert adherence.sweep(session, gate(session), FAC, at(DAY, 12), SHANGHAI, WINDOW, NURSE) == 1
    assert list(flags(session, P1)) == [f"missed-dose:{key(rx)}"]


# -- adherence ------------------------------------------------------------------------------------
def test_a_detainee_adherence_is_read_from_their_own_record(rolled_back):
    """A dose another system wrote on the wrong detainee's record is not this detainee's."""
    session, _ = rolled_back
    rx = prescribe(session, P1, "Amlodipine", start=DAY)
    store.create(session, {**administration_without_request(key(rx)), "status": "completed",
                           "subject": {"reference": f"Patient/{P2}"}})
    assert adherence.of_detainee(session, FAC, P1, at(DAY, 12), SHANGHAI, WINDOW) == [
        Adherence("Amlodipine", 0, 1, {"missed": 1})]


def test_the_percentage_rounds_and_has_none_without_doses_due():
    assert [Adherence("x", given, due, {}).percent for given, due in ((1, 3), (2, 3), (0, 4), (4, 4), (0, 0))] == [
        33, 67, 0, 100, None]


def test_adherence_counts_every_outcome_and_the_missed_over_the_last_thirty_days(rolled_back):
    session, _ = rolled_back
    amlodipine = prescribe(session, P1, "Amlodipine", start=DAY - timedelta(days=40))
    metformin = prescribe(session, P1, "Metformin", per_day=2, start=DAY - timedelta(days=1))
    prescribe(session, P2, "Omeprazole", start=DAY)
    give(session, days_ago(amlodipine, 0))
    give(session, days_ago(amlodipine, 29))
    give(session, days_ago(amlodipine, 30))  # a day too old to count
    give(session, days_ago(amlodipine, 1), "refused")
    give(session, days_ago(metformin, 1, "evening"), "held", reason="nil by mouth")
    give(session, days_ago(metformin, 0), "unavailable")
    now = at(DAY, 9, 30)  # this morning's window closes now; the evening's is hours away
    rows = adherence.of_detainee(session, FAC, P1, now, SHANGHAI, WINDOW)
    assert rows == [Adherence("Amlodipine", 2, 30, {"given": 2, "refused": 1, "missed": 27}),
                    Adherence("Metformin", 0, 3, {"missed": 1, "held": 1, "unavailable": 1})]
    assert adherence.of_detainee(session, FAC, P2, now, SHANGHAI, WINDOW) == [
        Adherence("Omeprazole", 0, 1, {"missed": 1})]
    early = adherence.of_detainee(session, FAC, P1, now - timedelta(microseconds=1), SHANGHAI, WINDOW)
    assert [(a.medicine, a.due) for a in early] == [("Amlodipine", 29), ("Metformin", 2)]
    facility = adherence.of_facility(session, FAC, now, SHANGHAI, WINDOW)
    assert facility == Adherence("", 2, 34, {"given": 2, "refused": 1, "missed": 29, "held": 1, "unavailable": 1})
    assert adherence.of_facility(session, "fac-b", now, SHANGHAI, WINDOW) == Adherence("", 0, 0, {})
    assert adherence.of_facility(session, "fac-b", now, SHANGHAI, WINDOW).percent is None
