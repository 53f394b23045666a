"""Results as analyzers and laboratory systems send them, over a real MLLP socket and through the
file importer: censored values, ranges and ratios; result status and corrections as versions of
one Observation; comments and specimen conditions; implausible values held."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest
from sqlalchemy import select

from ehr import store
from labs import importer
from labs.catalog import catalogue
from labs.flags import flag_reading
from labs.models import HeldMessage, LabAlert, LabResult
from labs.specimen import conditions_in
from labs.values import NotAValue, Reading, parse
from tests.conftest import both_databases
from tests.labs_support import POTASSIUM, send_mllp
from tests.test_labs_hl7 import listener, msa  # noqa: F401 - the listener fixture, as the HL7 tests start it

CRP, GLUCOSE, HGB, URINE_RBC, AG_RATIO, SODIUM = "30522-7", "14749-6", "718-7", "13945-1", "1759-0", "2951-2"
CAT = catalogue()


def message(obx: list[str], *, control: str, accession: str = "A100", obr_notes: tuple[str, ...] = (),
            when: str = "20260301080000") -> str:
    """An ORU^R01 with an OBR for ``accession`` and the given OBX/NTE segments after it."""
    segments = [f"MSH|^~\\&|LIS^Hospital|LAB||TELEMED|{when}||ORU^R01|{control}|P|2.5.1||||||UNICODE",
                "PID|1||fac-a-1^^^^MR||王^小明||19800501|M",
                f"OBR|1||{accession}|24326-1^Electrolytes^LN|||{when}"]
    segments += [f"NTE|{n}|L|{text}" for n, text in enumerate(obr_notes, start=1)]
    return "\r".join(segments + obx)


def rows(context) -> dict[str, LabResult]:
    return {r.loinc: r for r in context.db.call(lambda s: s.execute(select(LabResult)).scalars().all())}


def every_row(context) -> list[LabResult]:
    return context.db.call(lambda s: s.execute(select(LabResult)).scalars().all())


def alerts_of(context) -> list[LabAlert]:
    return context.db.call(lambda s: s.execute(select(LabAlert).order_by(LabAlert.id)).scalars().all())


def observation(context, row: LabResult) -> dict:
    return context.db.call(store.read, "Observation", row.observation_id).resource


def versions(context, row: LabResult) -> list[dict]:
    found = context.db.call(store.history, "Observation", row.observation_id)
    return [v.resource for v in sorted(found, key=lambda v: v.version)]


# -- the value forms and the flag rules, without a database ---------------------------------

@pytest.mark.parametrize("text, expected", [
    ("4.1", Reading(4.1)), ("<0.5", Reading(0.5, "<")), ("< 0.5", Reading(0.5, "<")), ("≤0.5", Reading(0.5, "<=")),
    ("＞33.3", Reading(33.3, ">")), (">=10", Reading(10, ">=")), (">^30", Reading(30, ">")),
    ("<=^0.1", Reading(0.1, "<=")), ("^5.2", Reading(5.2)), ("^1^-^5", Reading(low=1, high=5)),
    ("1-5", Reading(low=1, high=5)), ("^1^:^128", Reading(numerator=1, denominator=128)),
    ("1:128", Reading(numerator=1, denominator=128)), ("1/64", Reading(numerator=1, denominator=64)),
])
def test_value_forms(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["abc", "<", ">^", "5-1", "1:0", "^1^x^5", "<^1^-^5", "!^3"])
def test_value_forms_refused(text):
    with pytest.raises(NotAValue):
        parse(text)


@pytest.mark.parametrize("loinc, text, flag", [
    (GLUCOSE, ">33.3", "HH"),   # above the critical high (22.2): every value it stands for is critical
    (GLUCOSE, ">22.2", "HH"),   # strictly above the critical limit itself
    (GLUCOSE, ">=22.2", "H"),   # 22.2 itself is only high: the mildest flag all of them share
    (GLUCOSE, ">10", "H"),      # high for sure, critical perhaps: H (the mildest certain flag)
    (GLUCOSE, "<1.0", "LL"),    # below the critical low (2.8)
    (CRP, "<0.20", "N"),        # below an upper limit, no lower limit: normal
    (CRP, ">3", "H"),           # at the upper limit 3.0: above it is high
    (POTASSIUM, ">5", "IND"),   # 5-5.3 normal, above high: no false normal
    (POTASSIUM, "<5", "IND"),   # below the lower limit or normal
    (HGB, "<100", "L"),         # below the lower limit (130), perhaps critically (< 50): L
    (URINE_RBC, "1-5", "IND"),  # spans the upper limit 3
    (URINE_RBC, "0-2", "N"),
    (URINE_RBC, "4-8", "H"),
    (AG_RATIO, "1:2", "IND"),   # a ratio is not compared with the interval
])
def test_censored_flag_rules(loinc, text, flag):
    test = CAT.tests[loinc]
    assert flag_reading(test, parse(text), test.band("male", 45)).value == flag


def test_specimen_comments_are_coded():
    assert conditions_in("Specimen haemolysed, K may be falsely raised") == ("haemolysed",)
    assert conditions_in("HEMOLYZED") == ("haemolysed",)
    assert conditions_in("标本溶血，脂血") == ("haemolysed", "lipaemic")
    assert conditions_in("黄疸标本; clotted") == ("icteric", "clotted")
    assert conditions_in("no haemolysis") == () and conditions_in("无溶血") == ()
    assert conditions_in("result checked twice") == ()


# -- over MLLP ------------------------------------------------------------------------------

@both_databases
async def test_censored_range_and_ratio_values_over_mllp(context, listener):  # noqa: F811
    answer = await send_mllp(listener, message([
        f"OBX|1|NM|{CRP}^hs-CRP^LN||<0.20|mg/L|||||F",
        f"OBX|2|SN|{GLUCOSE}^GLU^LN||>^33.3|mmol/L|||||F",
        f"OBX|3|SN|{POTASSIUM}^K^LN||>^5|mmol/L|||||F",
        f"OBX|4|SN|{URINE_RBC}^RBC^LN||^1^-^5|/HPF|||||F",
        f"OBX|5|SN|{AG_RATIO}^A/G^LN||^1^:^2||||||F",
    ], control="V1"))
    assert msa(answer)[1] == "AA", answer
    found = rows(context)
    assert (found[CRP].value_text, found[CRP].comparator, found[CRP].value_num, found[CRP].flag) == ("<0.2", "<", 0.2, "N")
    assert observation(context, found[CRP])["valueQuantity"] == {
        "comparator": "<", "value": 0.2, "unit": "mg/L", "system": "http://unitsofmeasure.org", "code": "mg/L"}
    assert found[GLUCOSE].flag == "HH" and found[GLUCOSE].value_text == ">33.3"
    [alert] = alerts_of(context)
    assert alert.loinc == GLUCOSE and alert.flag == "HH" and alert.value == ">33.3 mmol/L"
    assert found[POTASSIUM].flag == "IND"
    assert observation(context, found[POTASSIUM])["interpretation"][0]["coding"][0]["code"] == "IND"
    urine = observation(context, found[URINE_RBC])
    assert urine["valueRange"]["low"]["value"] == 1 and urine["valueRange"]["high"]["value"] == 5
    assert found[URINE_RBC].flag == "IND" and found[URINE_RBC].value_num is None
    assert observation(context, found[AG_RATIO])["valueRatio"] == {"numerator": {"value": 1}, "denominator": {"value": 2}}


@both_databases
async def test_preliminary_final_and_corrections_are_versions_of_one_observation(context, listener):  # noqa: F811
    def obx(value: str, status: str) -> list[str]:
        return [f"OBX|1|NM|{POTASSIUM}^K^LN||{value}|mmol/L|||||{status}"]

    assert msa(await send_mllp(listener, message(obx("4.4", "P"), control="S1")))[1] == "AA"
    [row] = every_row(context)
    assert row.status == "preliminary" and observation(context, row)["status"] == "preliminary"
    assert msa(await send_mllp(listener, message(obx("4.5", "F"), control="S2")))[1] == "AA"
    [row] = every_row(context)
    assert (row.status, row.value_num) == ("final", 4.5) and len(versions(context, row)) == 2
    late = await send_mllp(listener, message(obx("4.4", "P"), control="S3"))  # a preliminary resent late
    assert msa(late)[1] == "AA" and "duplicates 1" in msa(late)[3]
    assert every_row(context)[0].value_num == 4.5

    corrected = await send_mllp(listener, message(obx("7.1", "C"), control="S4"))  # crosses into critical
    assert msa(corrected)[1] == "AA"
    [row] = every_row(context)
    assert (row.status, row.value_num, row.flag) == ("corrected", 7.1, "HH")
    [alert] = alerts_of(context)
    assert alert.result_id == row.id and alert.value == "7.1 mmol/L" and alert.closed_at is None

    back = await send_mllp(listener, message(obx("4.2", "C"), control="S5"))  # corrected away again
    assert msa(back)[1] == "AA"
    [row] = every_row(context)
    assert (row.status, row.value_num, row.flag) == ("corrected", 4.2, "N")
    [alert] = alerts_of(context)
    assert alert.closed_at is not None and alert.closed_note == "corrected: 4.2 mmol/L (N)"
    history = versions(context, row)
    assert [(v["status"], v["valueQuantity"]["value"]) for v in history] == [
        ("preliminary", 4.4), ("final", 4.5), ("corrected", 7.1), ("corrected", 4.2)]
    assert {r.observation_id for r in every_row(context)} == {row.observation_id}  # never a second result
    report = context.db.call(store.read, "DiagnosticReport", row.report_id).resource
    assert report["status"] == "corrected"
    resent_final = await send_mllp(listener, message(obx("4.5", "F"), control="S2"))  # the original again
    assert "duplicates 1" in msa(resent_final)[3] and every_row(context)[0].value_num == 4.2


@both_databases
async def test_a_withdrawn_critical_result_closes_its_alert(context, listener):  # noqa: F811
    await send_mllp(listener, message([f"OBX|1|NM|{POTASSIUM}^K^LN||7.5|mmol/L|||||F"], control="W1"))
    assert alerts_of(context)[0].closed_at is None
    answer = await send_mllp(listener, message([f"OBX|1|NM|{POTASSIUM}^K^LN|||mmol/L|||||D"], control="W2"))
    assert msa(answer)[1] == "AA"
    [row] = every_row(context)
    assert row.status == "entered-in-error" and observation(context, row)["status"] == "entered-in-error"
    [alert] = alerts_of(context)
    assert alert.closed_at is not None and alert.closed_note.startswith("entered-in-error")
    resent = await send_mllp(listener, message([f"OBX|1|NM|{POTASSIUM}^K^LN||7.5|mmol/L|||||F"], control="W1"))
    assert "duplicates 1" in msa(resent)[3] and every_row(context)[0].status == "entered-in-error"
    assert len(alerts_of(context)) == 1  # the withdrawn value raised no new alert


@both_databases
async def test_comments_and_specimen_conditions(context, listener):  # noqa: F811
    answer = await send_mllp(listener, message([
        f"OBX|1|NM|{POTASSIUM}^K^LN||6.8|mmol/L|||||F",
        "NTE|1|L|Specimen haemolysed, repeat advised",
        f"OBX|2|NM|{SODIUM}^Na^LN||140|mmol/L|||||F",
    ], control="N1", obr_notes=("标本脂血",)))
    assert msa(answer)[1] == "AA"
    found = rows(context)
    potassium = observation(context, found[POTASSIUM])
    assert potassium["note"] == [{"text": "Specimen haemolysed, repeat advised"}]
    assert found[POTASSIUM].conditions == "lipaemic,haemolysed" and found[SODIUM].conditions == "lipaemic"
    [specimen] = potassium["contained"]
    codes = {(c["coding"][0]["system"], c["coding"][0]["code"]) for c in specimen["condition"]}
    assert codes == {("http://terminology.hl7.org/CodeSystem/v2-0493", "HEM"), ("http://snomed.info/sct", "118127007")}
    assert potassium["specimen"]["reference"] == "#specimen"
    report = context.db.call(store.read, "DiagnosticReport", found[POTASSIUM].report_id).resource
    assert report["extension"][0]["valueAnnotation"] == {"text": "标本脂血"}
    assert found[POTASSIUM].flag == "HH" and alerts_of(context)[0].value == "6.8 mmol/L"


@both_databases
async def test_implausible_values_are_held_not_filed(context, listener):  # noqa: F811
    answer = await send_mllp(listener, message([
        f"OBX|1|NM|{POTASSIUM}^K^LN||1e308|mmol/L|||||F",
        f"OBX|2|NM|{SODIUM}^Na^LN||NaN|mmol/L|||||F",
        "OBX|3|NM|6690-2^WBC^LN||-2|10*9/L|||||F",
        f"OBX|4|NM|{GLUCOSE}^GLU^LN||5.1|mmol/L|||||F",
    ], control="I1"))
    code, _, text = msa(answer)[1:4]
    assert code == "AE" and "not plausible" in text and "held for review" in text
    assert set(rows(context)) == {GLUCOSE} and alerts_of(context) == []
    [held] = context.db.call(lambda s: s.execute(select(HeldMessage)).scalars().all())
    assert "1e308" in held.reason and "negative" in held.reason and "not a finite number" in held.reason


# -- through the file importer ----------------------------------------------------------------

CORRECTIONS = f"""booking_number,loinc,value,unit,collected_at,status,comment,specimen_id
fac-a-1,{GLUCOSE},>33.3,mmol/L,2026-03-01 08:00,F,,B7
fac-a-1,{CRP},<0.20,mg/L,2026-03-01 08:00,F,,B7
fac-a-1,{POTASSIUM},6.9,mmol/L,2026-03-01 08:00,P,溶血,B7
fac-a-1,{POTASSIUM},4.3,mmol/L,2026-03-01 08:00,C,溶血; recollected value,B7
fac-a-1,{SODIUM},1e308,mmol/L,2026-03-01 08:00,F,,B7
"""


@both_databases
def test_file_import_takes_the_same_forms(context, world, tmp_path):
    path = tmp_path / "lis.csv"
    path.write_text(CORRECTIONS, encoding="utf-8")
    report = importer.import_frame(context.db, importer.read_frame(path), importer.profiles()["generic"],
                                   context.settings.tz)
    assert [e.row for e in report.errors] == [6] and "not plausible" in report.errors[0].reason
    found = rows(context)
    assert set(found) == {GLUCOSE, CRP, POTASSIUM}
    assert found[GLUCOSE].flag == "HH" and found[CRP].flag == "N" and found[CRP].value_text == "<0.2"
    potassium = found[POTASSIUM]
    assert (potassium.status, potassium.value_num, potassium.flag, potassium.conditions) == ("corrected", 4.3, "N", "haemolysed")
    assert [(v["status"], v["valueQuantity"]["value"]) for v in versions(context, potassium)] == [
        ("preliminary", 6.9), ("corrected", 4.3)]
    by_loinc = {a.loinc: a for a in alerts_of(context)}
    assert by_loinc[GLUCOSE].closed_at is None
    assert by_loinc[POTASSIUM].closed_at is not None and "4.3" in by_loinc[POTASSIUM].closed_note
    again = importer.import_frame(context.db, importer.read_frame(path), importer.profiles()["generic"],
                                  context.settings.tz)
    assert again.added == 0 and len(every_row(context)) == 3


def test_a_broken_spreadsheet_is_refused(tmp_path):
    bad = tmp_path / "results.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(importer.ImportFailed, match="cannot read"):
        importer.read_frame(bad)
    with pytest.raises(importer.ImportFailed):
        importer.read_frame(b"", "empty.csv")


def test_spreadsheet_cells_with_censored_values(context, world, tmp_path):
    path = tmp_path / "results.xlsx"
    pd.DataFrame({"booking_number": ["fac-a-2"], "loinc": [CRP], "value": ["＜0.5"], "unit": ["mg/L"],
                  "collected_at": ["2026-03-02 09:00"]}).to_excel(path, index=False)
    report = importer.import_frame(context.db, importer.read_frame(path), importer.profiles()["generic"],
                                   context.settings.tz)
    assert report.added == 1 and rows(context)[CRP].value_text == "<0.5"


def test_observations_with_the_new_value_forms_are_valid_fhir():
    from ehr.validation import validate
    from labs import fhir

    at = datetime(2026, 3, 1, 8, tzinfo=timezone.utc)
    for loinc, text in ((CRP, "<0.2"), (URINE_RBC, "1-5"), (AG_RATIO, "1:2")):
        test = CAT.tests[loinc]
        resource = fhir.observation(test, patient_id="p1", effective_at=at, value_num=None, value_code="",
                                    flag="IND", band=test.band("male", 40), order_id=None, delta=False,
                                    status="corrected", reading=parse(text), notes=[{"text": "n"}],
                                    conditions=("haemolysed", "icteric"))
        assert validate(resource) == "Observation"
    test = CAT.tests[POTASSIUM]
    absent = fhir.observation(test, patient_id="p1", effective_at=at, value_num=None, value_code="", flag="",
                              band=None, order_id=None, delta=False, status="cancelled")
    assert validate(absent) == "Observation" and "dataAbsentReason" in absent
    report = fhir.diagnostic_report(CAT.panels["electrolytes"], patient_id="p1", effective_at=at,
                                    observation_ids=["a"], order_id=None, status="partial", notes=("溶血",))
    assert validate(report) == "DiagnosticReport"
