"""Which reference interval a result is read against: by sex, by age at each band's edges, and
how the catalogue's CSV cells become bands, numbers and unit factors."""

from __future__ import annotations

import locale
from dataclasses import replace

import pytest

from labs.catalog import Band, Panel, catalogue, parse_bands, parse_number, parse_units
from labs.catalog import Test as LabTest  # not "Test*": pytest would try to collect it

CAT = catalogue()
UREA = CAT.tests["22664-7"]  # male bands 20-59 and 60-79
ALP = CAT.tests["6768-6"]  # one male band; female bands 20-49 and 50-79
PSA = CAT.tests["2857-1"]  # no female range


@pytest.mark.parametrize("age, covered", [(None, True), (19, False), (20, True), (59, True), (60, False)])
def test_a_band_covers_its_ages_inclusive(age, covered):
    assert Band(1.0, 2.0, 20, 59).covers(age) is covered


def test_a_band_covers_every_age_by_default():
    assert Band(1.0, 2.0).covers(0) and Band(1.0, 2.0).covers(150) and not Band(1.0, 2.0).covers(151)


@pytest.mark.parametrize("age, band", [
    (20, Band(3.1, 8.0, 20, 59)), (59, Band(3.1, 8.0, 20, 59)),
    (60, Band(3.6, 9.5, 60, 79)), (79, Band(3.6, 9.5, 60, 79)),
    (18, Band(3.1, 8.0, 20, 59)),  # younger than every band: the youngest one
    (85, Band(3.6, 9.5, 60, 79)),  # older than every band: the oldest one
    (None, Band(3.1, 8.0, 20, 59)),  # age unknown: the first band
])
def test_the_band_for_each_age(age, band):
    assert UREA.band("male", age) == band


def test_an_age_in_a_gap_between_bands_takes_the_first():
    bands = (Band(1.0, 2.0, 20, 39), Band(3.0, 4.0, 40, 59), Band(5.0, 6.0, 70, 79))
    gapped = replace(UREA, ranges={"male": bands, "female": None})
    assert gapped.band("male", 65) == bands[0]
    assert gapped.band("male", 80) == bands[2]  # older than every band: the last, not the second


def test_the_band_for_each_sex():
    assert ALP.band("male", 30) == Band(45.0, 125.0)
    assert ALP.band("female", 30) == Band(35.0, 100.0, 20, 49)
    assert ALP.band("female", 50) == Band(50.0, 135.0, 50, 79)
    assert ALP.band("unknown", 30) == ALP.band("male", 30)  # an unknown sex gets the male range
    assert ALP.bands("other") == ALP.bands("male")


def test_no_range_means_no_band():
    assert PSA.band("female", 40) is None and PSA.bands("female") is None
    assert PSA.band("male", 40) is not None
    assert replace(PSA, ranges={"male": (), "female": ()}).band("male", 40) is None


def test_names_by_language():
    assert UREA.name("en") == UREA.name_en and UREA.name("zh-CN") == UREA.name_zh != UREA.name_en
    panel = CAT.panels[UREA.panel]
    assert panel.name("en") == panel.name_en and panel.name("zh-CN") == panel.name_zh != panel.name_en


def test_quantitative_scale():
    assert UREA.quantitative and not CAT.tests["5778-6"].quantitative


def test_catalogue_lookup():
    assert CAT.test("22664-7") is UREA
    assert CAT.test("0000-0") is None


@pytest.mark.parametrize("text, bands", [
    ("-", None), (" - ", None), ("", ()),
    ("3.5..9.5", (Band(3.5, 9.5, 0, 150),)),
    ("..5.2", (Band(None, 5.2, 0, 150),)),
    ("1.0..", (Band(1.0, None, 0, 150),)),
    ("20-59:3.1..8.0; 60-79:3.6..9.5;", (Band(3.1, 8.0, 20, 59), Band(3.6, 9.5, 60, 79))),
    ("60-:1..2", (Band(1.0, 2.0, 60, 150),)),
])
def test_band_cells(text, bands):
    assert parse_bands(text) == bands


def test_a_band_cell_that_is_not_one_is_refused():
    for text in ("1..2..3", "-5-10:1..2", "a-b:1..2", "1..x"):
        with pytest.raises(ValueError):
            parse_bands(text)


def test_number_and_unit_cells():
    assert parse_number(" 3.5 ") == 3.5 and parse_number("  ") is None and parse_number("0") == 0.0
    assert parse_units("10*3/uL=1;/uL=0.001") == {"10*3/uL": 1.0, "/uL": 0.001}
    assert parse_units(" g/dL = 10 ; ") == {"g/dL": 10.0}
    assert parse_units("") == {}


def test_catalogue_rows():
    wbc, colour = CAT.tests["6690-2"], CAT.tests["5778-6"]
    assert (wbc.unit, wbc.decimals, wbc.crit_low, wbc.crit_high, wbc.delta_pct) == ("10*9/L", 2, 1.5, 30.0, 100.0)
    assert wbc.delta_abs is None and wbc.alt_units == {"10*3/uL": 1.0, "/uL": 0.001}
    assert wbc.ranges["female"] == wbc.ranges["male"] == (Band(3.5, 9.5),)  # an empty female cell: the male range
    assert (wbc.ref_source, wbc.crit_source, wbc.specimen, wbc.panel) == ("WS405", "CRIT-CN", "Bld", "cbc")
    assert colour.decimals == 0 and colour.ranges == {"male": (), "female": ()}
    assert colour.values[:2] == ("colourless", "pale yellow") and colour.normal == (
        "colourless", "pale yellow", "yellow")
    assert wbc.values == () and wbc.normal == ()


def test_panels_list_their_tests_in_catalogue_order():
    cbc = CAT.panels["cbc"]
    assert (cbc.code, cbc.loinc) == ("cbc", "57021-8")
    assert cbc.tests == tuple(t.loinc for t in CAT.tests.values() if t.panel == "cbc")
    assert cbc.tests[:2] == ("6690-2", "789-8")
    assert CAT.sources["WS405"].startswith("WS/T 405-2012")


def fresh():
    """The catalogue read again from its CSV files (``catalogue()`` caches its first reading)."""
    return catalogue.__wrapped__()


def test_rows_are_read_field_by_field():
    tests = fresh().tests
    assert tests["6690-2"] == LabTest(
        loinc="6690-2", panel="cbc", abbr="WBC", name_en="Leukocytes", name_zh="白细胞计数", specimen="Bld",
        scale="Qn", unit="10*9/L", decimals=2, alt_units={"10*3/uL": 1.0, "/uL": 0.001},
        ranges={"male": (Band(3.5, 9.5),), "female": (Band(3.5, 9.5),)}, ref_source="WS405", crit_low=1.5,
        crit_high=30.0, crit_source="CRIT-CN", delta_abs=None, delta_pct=100.0, values=(), normal=())
    assert tests["22664-7"] == LabTest(
        loinc="22664-7", panel="renal", abbr="UREA", name_en="Urea", name_zh="尿素", specimen="Ser/Plas",
        scale="Qn", unit="mmol/L", decimals=2, alt_units={"mg/dL{BUN}": 0.357, "mg/dL{urea}": 0.1665},
        ranges={"male": (Band(3.1, 8.0, 20, 59), Band(3.6, 9.5, 60, 79)),
                "female": (Band(2.6, 7.5, 20, 59), Band(3.1, 8.8, 60, 79))},
        ref_source="WS404.5", crit_low=None, crit_high=35.7, crit_source="CRIT-CN", delta_abs=None, delta_pct=50.0,
        values=(), normal=())
    assert tests["718-7"].delta_abs == 20.0 and tests["718-7"].crit_low == 50.0
    assert tests["2857-1"].ranges == {"male": (Band(None, 4.0),), "female": None}
    assert tests["5804-0"] == LabTest(
        loinc="5804-0", panel="urine", abbr="PRO", name_en="Protein in urine by test strip", name_zh="尿蛋白",
        specimen="Urine", scale="Ord", unit="", decimals=0, alt_units={}, ranges={"male": (), "female": ()},
        ref_source="URINALYSIS", crit_low=None, crit_high=None, crit_source="", delta_abs=None, delta_pct=None,
        values=("neg", "±", "1+", "2+", "3+", "4+"), normal=("neg",))


def test_panels_and_sources_are_read():
    read = fresh()
    assert read.panels["cbc"] == Panel("cbc", "57021-8", "Complete blood count with differential",
                                       "血常规（全血细胞计数+五分类）", CAT.panels["cbc"].tests)
    assert read.tests == CAT.tests and read.panels == CAT.panels and read.sources == CAT.sources


def test_the_catalogue_reads_as_utf8_whatever_the_locale():
    saved = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        assert fresh().tests["22664-7"].name_zh == "尿素"
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)
