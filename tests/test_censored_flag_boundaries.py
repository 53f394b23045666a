"""Flags of censored values (<, <=, >, >=) and ranges at every limit: the flag is the one every
value the result could stand for shares, the mildest on one side of normal, and "not
determinable" wherever normal and abnormal values alike are possible. Never a false normal."""

from __future__ import annotations

from dataclasses import replace

import pytest

from labs.catalog import Band, catalogue
from labs.flags import Flag, flag_reading
from labs.values import Reading

BASE = catalogue().tests["718-7"]  # a quantitative test, given chosen limits below
BAND = Band(3.5, 9.5)
LL, L, N, H, HH, IND = (Flag.CRITICAL_LOW, Flag.LOW, Flag.NORMAL, Flag.HIGH, Flag.CRITICAL_HIGH,
                        Flag.INDETERMINATE)


def limits(crit_low: float | None = 2.0, crit_high: float | None = 20.0):
    return replace(BASE, decimals=1, crit_low=crit_low, crit_high=crit_high, delta_abs=None, delta_pct=None)


def censored(comparator: str, number: float) -> Reading:
    return Reading(number=number, comparator=comparator)


@pytest.mark.parametrize("comparator, number, flag", [
    ("<", 2.0, LL), ("<=", 2.0, L),   # every value under the critical limit, or one on it (low only)
    ("<", 2.5, L), ("<", 3.5, L),     # all low, some critically: the milder
    ("<=", 3.5, IND), ("<", 3.6, IND),  # the lower limit itself is normal
    ("<", 9.6, IND), ("<", 25.0, IND),
])
def test_below_a_limit(comparator, number, flag):
    assert flag_reading(limits(), censored(comparator, number), BAND) == flag


@pytest.mark.parametrize("comparator, number, flag", [
    (">", 20.0, HH), (">=", 20.0, H), (">", 19.9, H),  # the critical limit itself is only high
    (">", 9.5, H), (">=", 9.5, IND), (">", 9.4, IND),  # the upper limit itself is normal
    (">", 3.0, IND), (">", 2.0, IND), (">", 1.0, IND),  # low, normal and high values alike
])
def test_above_a_limit(comparator, number, flag):
    assert flag_reading(limits(), censored(comparator, number), BAND) == flag


@pytest.mark.parametrize("crit_low, crit_high, band, reading, flag", [
    (None, 20.0, BAND, censored("<", 3.5), L),     # no critical low: zero is low, not critical
    (None, 20.0, BAND, censored("<", 3.6), IND),
    (None, None, None, censored("<", 5.0), N),     # nothing to flag against
    (None, None, None, censored(">", 5.0), N),
    (2.0, None, BAND, censored(">", 9.5), H),      # no critical high: an unbounded value is high
    (2.0, None, BAND, censored(">", 9.4), IND),
    (2.0, 20.0, None, censored(">", 20.0), HH),    # critical limits without a band
    (2.0, 20.0, None, censored(">", 10.0), IND),
    (2.0, 20.0, None, censored("<", 2.0), LL),
    (2.0, 20.0, None, censored("<", 10.0), IND),
    (2.0, 20.0, Band(3.5, None), censored(">", 9.5), IND),  # no upper limit: high values may be normal
    (2.0, None, Band(3.5, None), censored(">", 9.5), N),
    (None, 20.0, Band(None, 9.5), censored("<", 1.0), N),  # no lower limit: low values are normal
    (None, 20.0, Band(None, 9.5), censored("<", 9.5), N),  # the upper limit itself is normal
    (None, 20.0, None, censored("<", 20.0), N),            # and so is the critical limit
    (0.5, 20.0, BAND, censored("<", 0.5), LL),             # from zero: every value is critically low
])
def test_missing_limits(crit_low, crit_high, band, reading, flag):
    assert flag_reading(limits(crit_low, crit_high), reading, band) == flag


@pytest.mark.parametrize("low, high, flag", [
    (1.0, 3.0, L), (1.0, 1.5, LL), (4.0, 5.0, N), (3.0, 5.0, IND), (9.5, 9.6, IND), (10.0, 25.0, H),
    (21.0, 30.0, HH), (1.0, 25.0, IND),
])
def test_ranges(low, high, flag):
    assert flag_reading(limits(), Reading(low=low, high=high), BAND) == flag


@pytest.mark.parametrize("number, flag", [(1.9, LL), (3.0, L), (5.0, N), (9.6, H), (20.1, HH)])
def test_a_plain_number_is_flagged_against_the_band(number, flag):
    assert flag_reading(limits(), Reading(number=number), BAND) == flag


def test_a_ratio_is_not_determinable():
    assert flag_reading(limits(), Reading(numerator=1, denominator=128), BAND) == IND
