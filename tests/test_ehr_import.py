"""`telemed ehr import`: Synthea-style Bundles and NDJSON; bad entries reported, good ones kept."""

from __future__ import annotations

import orjson

from ehr import search, store
from telemed.audit import verify
from telemed.cli import build_parser
from telemed.models import Detainee
from tests.conftest import both_databases
from tests.ehr_support import condition, observation

PATIENT_URL = "urn:uuid:8c95253e-8ee8-9ae8-6d40-021d702dc78e"


def synthea_bundle() -> dict:
    """The shape Synthea writes: a transaction with urn:uuid fullUrls, no custody data, and
    resource types this server does not keep."""
    patient = {"resourceType": "Patient", "id": PATIENT_URL.removeprefix("urn:uuid:"),
               "name": [{"family": "Koepp", "given": ["Ana"]}], "gender": "female", "birthDate": "1971-02-03"}
    obs = observation("x")
    obs["subject"] = {"reference": PATIENT_URL}
    cond = condition("x")
    cond["subject"] = {"reference": PATIENT_URL}
    broken = observation("x")
    broken["subject"] = {"reference": PATIENT_URL}
    broken["valueQuantity"]["value"] = "high"
    claim = {"resourceType": "Claim", "status": "active"}
    entries = [{"fullUrl": f"urn:uuid:0000000{n}-0000-4000-8000-000000000000", "resource": r,
                "request": {"method": "POST", "url": r["resourceType"]}} for n, r in enumerate([obs, cond, broken, claim])]
    entries.insert(1, {"fullUrl": PATIENT_URL, "resource": patient, "request": {"method": "POST", "url": "Patient"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def run_cli(settings, *argv: str) -> int:
    args = build_parser().parse_args(["ehr", "import", *argv])
    return args.run(args, settings)


@both_databases
def test_import_synthea_bundle_places_patient_and_reports_rejects(settings, context, world, tmp_path, capsys):
    path = tmp_path / "Ana_Koepp.json"
    path.write_bytes(orjson.dumps(synthea_bundle()))
    assert run_cli(settings, str(path), "--facility", "fac-b") == 3
    out = capsys.readouterr().out
    assert "imported 3 new and 0 updated resources; 2 rejected" in out
    assert "Claim is not supported" in out and "Observation.valueQuantity.value" in out
    patient_id = PATIENT_URL.removeprefix("urn:uuid:")

    def check(session):
        assert session.get(Detainee, patient_id).facility_id == "fac-b"
        kept = store.by_patient(session, patient_id)
        assert sorted(s.type for s in kept) == ["Condition", "Observation", "Patient"]
        found = search.search(session, search.parse("Observation", [("patient", patient_id)])).matches
        assert len(found) == 1
        assert verify(session)[1] == []
    context.db.call(check)


def test_import_ndjson_updates_existing_and_rejects_unplaced_patients(settings, context, world, tmp_path, capsys):
    lines = [observation("fac-a-p1") | {"id": "obs-1"}, observation("fac-a-p1", value=99) | {"id": "obs-1"},
             {"resourceType": "Patient", "id": "nowhere", "gender": "male"}, "not json"]
    path = tmp_path / "Observation.ndjson"
    path.write_bytes(b"\n".join(line.encode() if isinstance(line, str) else orjson.dumps(line) for line in lines))
    assert run_cli(settings, str(tmp_path)) == 3
    out = capsys.readouterr().out
    assert "imported 1 new and 1 updated resources; 2 rejected" in out
    assert "a detainee needs a facility" in out and "malformed JSON" in out
    stored = context.db.call(lambda s: store.read(s, "Observation", "obs-1"))
    assert stored.version == 2 and stored.resource["valueQuantity"]["value"] == 99


def test_import_refuses_unknown_facility_and_missing_files(settings, world, tmp_path, capsys):
    path = tmp_path / "a.json"
    path.write_bytes(orjson.dumps(synthea_bundle()))
    assert run_cli(settings, str(path), "--facility", "hosp-1") == 1
    assert run_cli(settings, str(tmp_path / "missing.json")) == 1
    assert "not a custody facility" in capsys.readouterr().err
