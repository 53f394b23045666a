"""The pill line's Flags as written (rounds/flags.py): one Flag per event key and kind, the whole
FHIR resource, and only a facility's active Flags read back, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

from ehr import store
from ehr.access import Gate
from rounds.flags import FLAG_CATEGORY, FLAG_CODES, FLAG_SYSTEM, WORDS, FlagKind, active, kind_of, raise_flag
from telemed.models import Role
from telemed.security import Principal
from tests.conftest import both_databases

P1, P2 = "fac-a-p1", "fac-a-p2"


def test_the_kinds_and_their_words():
    assert [k.value for k in FlagKind] == ["missed-dose", "refusals", "wrong-detainee"]
    assert WORDS == {FlagKind.MISSED: "Dose missed", FlagKind.REFUSALS: "Three refusals in a row",
                     FlagKind.WRONG_DETAINEE: "Dose given under a wrong-detainee override"}


def test_the_kind_is_read_from_the_rounds_code_only():
    assert kind_of({"code": {"coding": [{"system": "other", "code": "x"}, {"system": FLAG_CODES, "code": "refusals"}]}}) \
        == "refusals"
    assert kind_of({"code": {"coding": [{"system": "other", "code": "refusals"}]}}) == ""
    assert kind_of({"code": {"coding": [{"system": FLAG_CODES}]}}) == ""
    assert kind_of({}) == "" and kind_of({"code": {}}) == ""


@both_databases
def test_one_flag_per_event_whole_and_active(context, world):
    doctor = Principal(user_id=world.users["doc-a"], username="doc-a", display_name="Dr A", role=Role.FACILITY_DOCTOR,
                       org_id="fac-a")
    before = datetime.now(timezone.utc).replace(microsecond=0)

    def run(session):
        gate = Gate(doctor)
        first = raise_flag(session, gate, "fac-a", P1, FlagKind.MISSED, "rx1/2026-03-02/morning", "Amlodipine 10 mg",
                           "Nurse Li")
        again = raise_flag(session, gate, "fac-a", P1, FlagKind.MISSED, "rx1/2026-03-02/morning", "other", "other")
        other_kind = raise_flag(session, gate, "fac-a", P1, FlagKind.REFUSALS, "rx1/2026-03-02/morning", "d", "Nurse Li")
        other_patient = raise_flag(session, gate, "fac-a", P2, FlagKind.MISSED, "rx2/2026-03-02/morning", "d", "Nurse Li")
        session.flush()
        flags = sorted(active(session, "fac-a", P1), key=lambda f: f["identifier"][0]["value"])
        everyone = active(session, "fac-a")
        elsewhere = active(session, "fac-b")
        # the same event key on another detainee's record is another event
        same_key_other_patient = raise_flag(session, gate, "fac-a", "fac-a-p3", FlagKind.MISSED,
                                            "rx1/2026-03-02/morning", "d", "Nurse Li")
        closed = dict(flags[1], status="inactive")
        store.update(session, closed, closed["id"])
        session.flush()
        return (first, again, other_kind, other_patient, same_key_other_patient), flags, everyone, elsewhere, \
            active(session, "fac-a", P1)

    raised, flags, everyone, elsewhere, after = context.db.call(run)
    assert raised == (True, False, True, True, True)
    assert len(everyone) == 3 and elsewhere == []
    missed = flags[0]
    assert {k: v for k, v in missed.items() if k not in ("id", "meta", "period")} == {
        "resourceType": "Flag", "status": "active",
        "identifier": [{"system": FLAG_SYSTEM, "value": "missed-dose:rx1/2026-03-02/morning"}],
        "category": [{"coding": [{"system": FLAG_CATEGORY, "code": "drug", "display": "Drug"}]}],
        "code": {"coding": [{"system": FLAG_CODES, "code": "missed-dose", "display": "Dose missed"}],
                 "text": "Amlodipine 10 mg"},
        "subject": {"reference": f"Patient/{P1}"}, "author": {"display": "Nurse Li"},
    }
    assert datetime.fromisoformat(missed["period"]["start"]) >= before
    assert [kind_of(f) for f in flags] == ["missed-dose", "refusals"]
    assert [kind_of(f) for f in after] == ["missed-dose"]  # an inactive Flag is no longer raised
