"""Units as analyzers spell them, normalised to UCUM and converted into the catalogue's unit;
an unknown unit is refused with the accepted ones named, never guessed."""

from __future__ import annotations

import pytest

from labs.catalog import catalogue
from labs.units import UnitError, normalise_unit, to_catalogue_unit

CAT = catalogue()


@pytest.mark.parametrize("text, ucum", [
    ("", ""), ("   ", ""), (" mmol/l ", "mmol/L"), ("MMOL/L", "mmol/L"), ("IU/L", "U/L"), ("µmol/L", "umol/L"),
    ("μmol/L", "umol/L"), ("mg / dL", "mg/dL"), ("mIU/L", "m[IU]/L"), ("/hpf", "/[HPF]"),
    ("x10^9/L", "10*9/L"), ("×10^9/L", "10*9/L"), ("*10^12/l", "10*12/L"), ("10e3/uL", "10*3/uL"),
    ("10*3/µL", "10*3/uL"), ("10^6/ul", "10*6/uL"), ("109/L", "10*9/L"),
    ("µg/dL", "ug/dL"), ("μg/dL", "ug/dL"), ("×2/uL", "x2/uL"),  # not in the table: signs still replaced
    ("mg/dL{BUN}", "mg/dL{BUN}"), ("Weird Unit", "WeirdUnit"),  # unknown: kept as written, spaces dropped
])
def test_normalise(text, ucum):
    assert normalise_unit(text) == ucum


def test_the_catalogue_unit_and_no_unit_keep_the_value():
    glucose = CAT.tests["14749-6"]
    assert to_catalogue_unit(glucose, 5.5, "") == 5.5
    assert to_catalogue_unit(glucose, 5.5, "mmol/L") == 5.5
    assert to_catalogue_unit(glucose, 5.5, " MMOL/l ") == 5.5


def test_an_accepted_unit_is_multiplied_by_its_factor():
    wbc = CAT.tests["6690-2"]
    assert to_catalogue_unit(wbc, 6100, "/uL") == pytest.approx(6.1)
    assert to_catalogue_unit(wbc, 6.1, "10^3/µL") == 6.1
    assert to_catalogue_unit(CAT.tests["718-7"], 13.5, "g/dL") == 135


def test_an_unknown_unit_is_refused_naming_the_accepted_ones():
    wbc = CAT.tests["6690-2"]
    with pytest.raises(UnitError) as refused:
        to_catalogue_unit(wbc, 6.1, "mmol/L")
    assert str(refused.value) == ("unit 'mmol/L' is not accepted for WBC (6690-2); "
                                  "accepted: 10*9/L, 10*3/uL, /uL")


def test_a_test_without_a_unit_refuses_every_unit():
    colour = CAT.tests["5778-6"]
    assert to_catalogue_unit(colour, 1.0, "") == 1.0
    with pytest.raises(UnitError, match=r"accepted: \(none\)$"):
        to_catalogue_unit(colour, 1.0, "g/L")
