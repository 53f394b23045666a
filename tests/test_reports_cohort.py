"""Cohort statistics against an independent computation over the same people."""

from __future__ import annotations

import random

import orjson
import pandas as pd

from reports.cohort import chronic, followup, frames, prevalence

CODES = ("14771-0", "5196-1", "85354-9")


def people(n: int = 120) -> list[tuple[str, str, str, bytes]]:
    rng = random.Random(4)
    rows = []
    for i in range(n):
        status = "refused" if i % 10 == 0 else "examined"
        findings = []
        if status == "examined":
            for code in CODES:
                if rng.random() < 0.3:
                    number = rng.choice((6.5, 7.4)) if code == "14771-0" else (150.0 if code == "85354-9" else None)
                    findings.append({"kind": "lab", "code": code, "name": code, "value": "x", "flag": "H",
                                     "advice": "a", "urgency": "soon" if code != "14771-0" else "urgent",
                                     "number": number})
        blob = orjson.dumps({"sex": rng.choice(("male", "female")), "age": rng.randint(18, 75), "status": status,
                             "findings": findings})
        rows.append((f"p{i}", f"B{i:03d}", f"name{i}", blob))
    return rows


def test_prevalence_by_sex_and_age_band_matches_a_crosstab():
    rows = people()
    people_frame, findings = frames(rows)
    table = prevalence(people_frame, findings)
    # independent: one row per (person, code) flag, bands cut with pandas
    raw = pd.DataFrame([{**orjson.loads(b), "pid": p} for p, _b, _n, b in rows])
    raw = raw[raw.status == "examined"]
    raw["band"] = pd.cut(raw.age, [17, 29, 39, 49, 59, 200], labels=["18-29", "30-39", "40-49", "50-59", "60+"])
    for code in CODES:
        raw[code] = raw.findings.map(lambda fs, c=code: any(f["code"] == c for f in fs))
        expected = raw.groupby(["sex", "band"], observed=True)[code].agg(["sum", "size"])
        got = table[(table.code == code) & (table.sex != "all") & (table.age_band != "all")]
        got = got.set_index(["sex", "age_band"])
        for (sex, band), (flagged, size) in expected.iterrows():
            if flagged:
                assert got.loc[(sex, band), "flagged"] == flagged
                assert got.loc[(sex, band), "examined"] == size
                assert got.loc[(sex, band), "percent"] == round(100 * flagged / size, 1)
            else:
                assert (sex, band) not in got.index
        overall = table[(table.code == code) & (table.sex == "all") & (table.age_band == "all")].iloc[0]
        assert overall.flagged == raw[code].sum() and overall.examined == len(raw)


def test_chronic_conditions_and_follow_up_order():
    people_frame, findings = frames(people())
    conditions = chronic(people_frame, findings).set_index("condition")
    diabetic = findings[(findings.code == "14771-0") & (findings.number >= 7.0)].patient_id.nunique()
    assert conditions.loc["diabetes", "count"] == diabetic
    assert conditions.loc["hypertension", "count"] == findings[findings.code == "85354-9"].patient_id.nunique()
    follow = followup(people_frame, findings)
    ranks = follow.urgency.map({"urgent": 0, "soon": 1, "routine": 2}).tolist()
    assert ranks == sorted(ranks) and len(follow) == findings.patient_id.nunique()
