"""Demo data of the labs capability: the catalogue as FHIR, a few months of results for some
detainees (some abnormal, one critical alert open on a haemolysed sample, a censored value, a
corrected result), open orders, two registered analyzers with their code maps, and held HL7
messages (an unknown detainee; a code the chemistry analyzer's map lacks)."""

from __future__ import annotations

import random
import tomllib
from datetime import datetime, time, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

from labs import analyzers, codemaps, hl7
from labs.catalog import Band, Test, catalogue
from labs.orders import place_order
from labs.results import Submission, check, file, subjects
from labs.sync import sync_catalogue
from telemed.demo import DemoContext
from telemed.models import Detainee, Role
from telemed.security import Principal
from telemed.timeutil import utcnow

PATIENTS = 24
MONTHS = 4
ROUTINE = ("cbc", "liver", "renal", "lipids", "glucose", "electrolytes")
# Per-detainee conditions: LOINC -> factor on the upper reference limit.
CONDITIONS = (
    {"1742-6": 2.6, "1920-8": 1.9, "2324-2": 2.2},  # raised liver enzymes
    {"14749-6": 1.45, "4548-4": 1.35, "14927-8": 1.8},  # poorly controlled diabetes
    {"14682-9": 1.6, "22664-7": 1.5, "14933-1": 1.3},  # reduced kidney function
    {"14647-2": 1.3, "22748-8": 1.35},  # hypercholesterolaemia
)
CRITICAL_POTASSIUM = "6.6"
HAEMOLYSED = "标本轻度溶血 specimen slightly haemolysed"


def load(ctx: DemoContext) -> None:
    """Add this capability's demo data."""
    ctx.db.call(sync_catalogue)
    patients = ctx.patient_ids[:PATIENTS]
    ctx.db.call(_results, patients, ctx.rng, ctx.settings.tz)
    doctor = Principal(user_id=ctx.users["doctor"], username="doctor", display_name="王建国 (Dr Wang)",
                       role=Role.FACILITY_DOCTOR, org_id=ctx.facility_id)
    for patient_id, panels in ((patients[0], ["cbc", "electrolytes"]), (patients[5], ["hbv", "hcv", "hiv", "syphilis"]),
                               (ctx.patient_ids[PATIENTS], ["drugs"])):
        ctx.db.call(place_order, doctor, patient_id, panels, [], "demo")
    unknown = ("MSH|^~\\&|BC-5380|Mindray|||20260301080000||ORU^R01|DEMO-HELD|P|2.3.1\r"
               "PID|1||KS-UNKNOWN^^^^MR\rOBR|1||S1|||20260301080000\rOBX|1|NM|6690-2^WBC^LN||6.1|10*9/L|||||F")
    ctx.db.call(hl7.process, unknown, ctx.facility_id, ctx.settings.tz)
    chemistry = ctx.db.call(_analyzers, ctx.facility_id)
    booking = ctx.db.call(lambda s: s.get(Detainee, patients[2]).booking_number)
    unmapped = ("MSH|^~\\&|CHEM-1|LAB|||20260301080000||ORU^R01|DEMO-MAP|P|2.3.1\r"
                f"PID|1||{booking}^^^^MR\rOBR|1||S2|||20260301080000\r"
                "OBX|1|NM|01^GLU^99LAB||92|mg/dL|||||F\rOBX|2|NM|12^UA^99LAB||5.1|mg/dL|||||F")
    ctx.db.call(lambda s: hl7.process(s, unmapped, ctx.facility_id, ctx.settings.tz, codemaps.code_map(s, chemistry)))


def _analyzers(session, facility_id: str) -> int:
    """Register the demo analyzers with their maps; returns the chemistry analyzer's id."""
    spec = tomllib.loads((resources.files("labs") / "data" / "demo_analyzers.toml").read_text(encoding="utf-8"))
    ids = []
    for item in spec["analyzer"]:
        analyzer = analyzers.register(session, analyzers.Registration(
            item["name"], facility_id, item["application"], item["sending_facility"], tuple(item["addresses"])))
        for code, loinc, unit in item["codes"]:
            codemaps.set_code(session, analyzer, code, loinc, unit)
        ids.append(analyzer.id)
    return ids[0]


def _results(session, patients: list[str], rng: random.Random, tz: ZoneInfo) -> None:
    people = subjects(session, patient_ids=set(patients))
    cat = catalogue()
    today = utcnow().date()
    checked = []
    for n, patient_id in enumerate(patients):
        subject = people[patient_id]
        condition = CONDITIONS[n % len(CONDITIONS)] if n % 3 == 0 else {}
        for month in range(MONTHS):
            day = today - timedelta(days=30 * (MONTHS - month) - n % 7)
            at = datetime.combine(day, time(7, 30), tzinfo=tz)
            for panel in ROUTINE:
                for loinc in cat.panels[panel].tests:
                    test = cat.tests[loinc]
                    band = test.band(subject.sex, subject.age_at(at))
                    value = _value(test, band, condition.get(loinc), rng)
                    if value is not None:
                        checked.append(check(Submission(patient_id, loinc, value, at), subject))
        if n == 1:
            at = datetime.combine(today - timedelta(days=1), time(8, 0), tzinfo=tz)
            checked.append(check(Submission(patient_id, "2823-3", CRITICAL_POTASSIUM, at,
                                            notes=(HAEMOLYSED,)), subject))
    file(session, checked, "import")
    _as_laboratories_send(session, [people[p] for p in patients[2:4]], today, tz)


def _as_laboratories_send(session, people: list, today, tz: ZoneInfo) -> None:
    """A result below the detection limit, and a preliminary result corrected afterwards."""
    at = datetime.combine(today - timedelta(days=2), time(9, 0), tzinfo=tz)
    below, corrected = people
    file(session, [check(Submission(below.patient_id, "30522-7", "<0.20", at, unit="mg/L"), below)], "hl7")
    for value, status in (("6.4", "preliminary"), ("7.4", "corrected")):
        sub = Submission(corrected.patient_id, "14749-6", value, at, status=status, specimen_id="DEMO-ACC-1")
        file(session, [check(sub, corrected)], "hl7")


def _value(test: Test, band: Band | None, factor: float | None, rng: random.Random) -> str | None:
    if not test.quantitative:
        return test.normal[0] if test.normal else None
    if band is None:
        return None
    if factor is not None and band.high is not None:
        value = band.high * factor * rng.uniform(0.92, 1.08)
    elif band.low is not None and band.high is not None:
        value = band.low + (band.high - band.low) * rng.uniform(0.15, 0.85)
    elif band.high is not None:
        value = band.high * rng.uniform(0.35, 0.9)
    else:
        value = band.low * rng.uniform(1.1, 1.6)
    return f"{value:.{test.decimals}f}"
