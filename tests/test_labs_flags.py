"""Flags at every limit of every catalogue test, for each sex; units; qualitative grades; deltas."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ehr.validation import validate
from labs import fhir, qualitative
from labs.catalog import Scale, catalogue
from labs.flags import Flag, Previous, delta_exceeded, flag_quality, flag_quantity
from labs.units import UnitError, normalise_unit, to_catalogue_unit

CAT = catalogue()
QUANT = [t for t in CAT.tests.values() if t.quantitative]


def step(test) -> float:
    return 10 ** -test.decimals


def test_catalogue_is_complete():
    assert len(CAT.tests) >= 120
    assert {t.panel for t in CAT.tests.values()} == set(CAT.panels)
    for test in CAT.tests.values():
        assert test.ref_source in CAT.sources, test.loinc
        assert not (test.crit_low or test.crit_high) or test.crit_source in CAT.sources, test.loinc
        assert test.name_zh and test.name_en and test.specimen
        if test.quantitative:
            assert test.ranges["male"] is not None or test.ranges["female"] is not None
        else:
            assert test.values and set(test.normal) <= set(test.values)


def test_known_loinc_pitfalls():
    """Codes public code often gets wrong: 20507-0 is RPR (non-treponemal), bilirubin in umol/L is a Moles code."""
    assert CAT.tests["20507-0"].abbr == "RPR"
    assert CAT.tests["24110-9"].abbr == "TP-Ab"
    assert CAT.tests["14631-6"].unit == "umol/L" and "1975-2" not in CAT.tests


@pytest.mark.parametrize("test", QUANT, ids=lambda t: t.abbr)
@pytest.mark.parametrize("sex", ["male", "female"])
def test_reference_limits(test, sex):
    for band in test.bands(sex) or ():
        if band.low is not None and band.low > 0 and (test.crit_low is None or band.low - step(test) >= test.crit_low):
            assert flag_quantity(test, band.low - step(test), band) == Flag.LOW
            assert flag_quantity(test, band.low, band) == Flag.NORMAL
            assert flag_quantity(test, band.low + step(test), band) in (Flag.NORMAL, Flag.HIGH)
        if band.high is not None and (test.crit_high is None or band.high + step(test) <= test.crit_high):
            assert flag_quantity(test, band.high - step(test), band) in (Flag.NORMAL, Flag.LOW)
            assert flag_quantity(test, band.high, band) == Flag.NORMAL
            assert flag_quantity(test, band.high + step(test), band) == Flag.HIGH


@pytest.mark.parametrize("test", [t for t in QUANT if t.crit_low is not None or t.crit_high is not None],
                         ids=lambda t: t.abbr)
@pytest.mark.parametrize("sex", ["male", "female"])
def test_critical_limits(test, sex):
    band = test.band(sex, 40)
    if test.crit_low is not None:
        assert flag_quantity(test, test.crit_low - step(test), band) == Flag.CRITICAL_LOW
        assert flag_quantity(test, test.crit_low, band) == Flag.LOW
    if test.crit_high is not None:
        assert flag_quantity(test, test.crit_high + step(test), band) == Flag.CRITICAL_HIGH
        assert flag_quantity(test, test.crit_high, band) == Flag.HIGH


def test_sex_and_age_bands():
    hgb, urea, alp = CAT.tests["718-7"], CAT.tests["22664-7"], CAT.tests["6768-6"]
    assert flag_quantity(hgb, 125, hgb.band("male", 40)) == Flag.LOW
    assert flag_quantity(hgb, 125, hgb.band("female", 40)) == Flag.NORMAL
    assert flag_quantity(urea, 9.0, urea.band("male", 45)) == Flag.HIGH
    assert flag_quantity(urea, 9.0, urea.band("male", 65)) == Flag.NORMAL
    assert flag_quantity(alp, 120, alp.band("female", 30)) == Flag.HIGH
    assert flag_quantity(alp, 120, alp.band("female", 55)) == Flag.NORMAL
    assert CAT.tests["2857-1"].band("female", 40) is None  # PSA: not applicable


def test_rounding_to_reported_decimals():
    k = CAT.tests["2823-3"]
    assert flag_quantity(k, 5.304, k.band("male", 40)) == Flag.NORMAL  # reported as 5.30
    assert flag_quantity(k, 5.306, k.band("male", 40)) == Flag.HIGH  # reported as 5.31


def test_unit_conversion():
    glucose, creatinine, hct = CAT.tests["14749-6"], CAT.tests["14682-9"], CAT.tests["4544-3"]
    assert to_catalogue_unit(glucose, 90, "mg/dL") == pytest.approx(4.996, abs=0.001)
    assert to_catalogue_unit(creatinine, 1.0, "mg/dl") == pytest.approx(88.4)
    assert to_catalogue_unit(hct, 0.405, "L/L") == pytest.approx(40.5)
    assert to_catalogue_unit(CAT.tests["6690-2"], 6.1, "x10^9/L") == 6.1
    assert to_catalogue_unit(CAT.tests["718-7"], 13.5, "g/dL") == 135
    assert normalise_unit("µmol/L") == "umol/L" and normalise_unit("10^3/uL") == "10*3/uL"
    urea = CAT.tests["22664-7"]
    assert to_catalogue_unit(urea, 14, "mg/dL{BUN}") == pytest.approx(5.0, abs=0.01)  # urea nitrogen
    assert to_catalogue_unit(urea, 30, "mg/dL{urea}") == pytest.approx(5.0, abs=0.01)  # urea itself
    for ambiguous in ("mg/dL", "g/L"):  # BUN or urea? refused rather than guessed
        with pytest.raises(UnitError, match="not accepted"):
            to_catalogue_unit(urea if ambiguous == "mg/dL" else glucose, 5, ambiguous)


@pytest.mark.parametrize("text,code,flag", [
    ("阴性", "neg", Flag.NORMAL), ("-", "neg", Flag.NORMAL), ("±", "±", Flag.ABNORMAL),
    ("+", "1+", Flag.ABNORMAL), ("2+", "2+", Flag.ABNORMAL), ("+++", "3+", Flag.ABNORMAL),
])
def test_graded_urine_protein(text, code, flag):
    protein = CAT.tests["5804-0"]
    assert qualitative.parse(protein, text) == code
    assert flag_quality(protein, code) == flag


def test_qualitative_rules():
    hbsag, anti_hbs, uro = CAT.tests["5196-1"], CAT.tests["22322-2"], CAT.tests["5818-0"]
    assert flag_quality(hbsag, qualitative.parse(hbsag, "阳性")) == Flag.ABNORMAL
    assert flag_quality(hbsag, qualitative.parse(hbsag, "2+")) == Flag.ABNORMAL  # graded reading of a pos/neg test
    assert flag_quality(anti_hbs, "pos") == Flag.NORMAL  # immunity is not abnormal
    assert flag_quality(uro, "±") == Flag.NORMAL and flag_quality(uro, "1+") == Flag.ABNORMAL
    colour = CAT.tests["5778-6"]
    assert colour.scale == Scale.NOMINAL
    assert flag_quality(colour, qualitative.parse(colour, "淡黄色")) == Flag.NORMAL
    assert flag_quality(colour, qualitative.parse(colour, "红色")) == Flag.ABNORMAL
    with pytest.raises(ValueError, match="not a result"):
        qualitative.parse(hbsag, "maybe")


def test_delta_checks():
    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    hgb, plt, glucose = CAT.tests["718-7"], CAT.tests["777-3"], CAT.tests["14749-6"]
    assert delta_exceeded(hgb, 120, Previous(141, now - timedelta(days=2)), now)  # 21 g/L > 20
    assert not delta_exceeded(hgb, 121, Previous(141, now - timedelta(days=2)), now)  # exactly 20
    assert not delta_exceeded(hgb, 100, Previous(141, now - timedelta(days=45)), now)  # too old to compare
    assert delta_exceeded(plt, 100, Previous(201, now - timedelta(days=1)), now)  # > 50 %
    assert not delta_exceeded(plt, 101, Previous(200, now - timedelta(days=1)), now)  # 49.5 %
    assert not delta_exceeded(glucose, 20, Previous(5, now - timedelta(days=1)), now)  # no limit set
    assert not delta_exceeded(hgb, 50, None, now)


@pytest.mark.parametrize("loinc", sorted({t.panel: t.loinc for t in CAT.tests.values()}.values())
                         + ["5804-0", "5778-6", "6768-6"])
def test_resources_built_from_templates_are_valid_fhir(loinc):
    """Bulk writes skip validation, so one representative of each kind is validated here."""
    test = CAT.tests[loinc]
    at = datetime(2026, 3, 1, 8, tzinfo=timezone.utc)
    value_num, code = (1.0, "") if test.quantitative else (None, test.values[-1])
    obs = fhir.observation(test, patient_id="p1", effective_at=at, value_num=value_num, value_code=code,
                           flag="H", band=test.band("female", 55), order_id="o1", delta=True)
    assert validate(obs) == "Observation"
    assert validate(fhir.observation_definition(test, CAT.sources)) == "ObservationDefinition"
    panel = CAT.panels[test.panel]
    assert validate(fhir.diagnostic_report(panel, patient_id="p1", effective_at=at, observation_ids=["a"],
                                           order_id=None)) == "DiagnosticReport"
    assert validate(fhir.service_request([test], [panel], patient_id="p1", requester="Dr", note="n",
                                         authored=at)) == "ServiceRequest"
