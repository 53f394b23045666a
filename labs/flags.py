"""Interpretation flags (HL7 table 0078 / FHIR v3-ObservationInterpretation) and delta checks.

A value exactly on a limit is inside it: L/H when strictly beyond the reference interval,
LL/HH when strictly beyond a critical limit. Values are flagged as reported, i.e. rounded to
the test's decimal places.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from labs import qualitative
from labs.catalog import Band, Scale, Test
from labs.values import Reading

INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
# A change is compared with the previous result only if that one is this recent (CLSI EP33).
DELTA_WINDOW = timedelta(days=30)


class Flag(StrEnum):
    NORMAL = "N"
    LOW = "L"
    HIGH = "H"
    CRITICAL_LOW = "LL"
    CRITICAL_HIGH = "HH"
    ABNORMAL = "A"
    CRITICAL_ABNORMAL = "AA"
    INDETERMINATE = "IND"  # a censored value or a range whose flag its bounds cannot decide


CRITICAL = frozenset({Flag.CRITICAL_LOW, Flag.CRITICAL_HIGH, Flag.CRITICAL_ABNORMAL})
DISPLAY = {
    Flag.NORMAL: "Normal", Flag.LOW: "Low", Flag.HIGH: "High", Flag.CRITICAL_LOW: "Critical low",
    Flag.CRITICAL_HIGH: "Critical high", Flag.ABNORMAL: "Abnormal", Flag.CRITICAL_ABNORMAL: "Critical abnormal",
    Flag.INDETERMINATE: "Indeterminate",
}
_RANK = {Flag.CRITICAL_LOW: -2, Flag.LOW: -1, Flag.NORMAL: 0, Flag.HIGH: 1, Flag.CRITICAL_HIGH: 2}


def flag_quantity(test: Test, value: float, band: Band | None) -> Flag:
    value = round(value, test.decimals)
    if test.crit_low is not None and value < test.crit_low:
        return Flag.CRITICAL_LOW
    if test.crit_high is not None and value > test.crit_high:
        return Flag.CRITICAL_HIGH
    if band is not None and band.low is not None and value < band.low:
        return Flag.LOW
    if band is not None and band.high is not None and value > band.high:
        return Flag.HIGH
    return Flag.NORMAL


def flag_reading(test: Test, reading: Reading, band: Band | None) -> Flag:
    """The flag every value a censored result or a range may stand for shares; where they
    differ, the mildest flag they all share on the same side of normal (``<5`` where the
    interval starts at 10 is L even if some values below 5 would be LL), and IND where the
    values could be normal or not (``>3`` where the interval ends at 5). Never a false N.
    Results are non-negative: ``<v`` stands for 0 <= x < v. Ratios are not flagged (IND)."""
    if reading.kind == "number":
        return flag_quantity(test, reading.number, band)
    if reading.kind == "ratio":
        return Flag.INDETERMINATE
    if reading.kind == "range":
        ends = flag_quantity(test, reading.low, band), flag_quantity(test, reading.high, band)
    elif reading.comparator.startswith("<"):
        inclusive = reading.comparator == "<="
        top = (flag_quantity if inclusive else _just_below)(test, reading.number, band)
        ends = flag_quantity(test, 0.0, band), top
    else:
        inclusive = reading.comparator == ">="
        bottom = (flag_quantity if inclusive else _just_above)(test, reading.number, band)
        ends = bottom, _ceiling(test, band)
    return _shared(*ends)


def _just_below(test: Test, value: float, band: Band | None) -> Flag:
    """The flag of values a hair under ``value`` (limits are strict: below ``low`` is L)."""
    low, high = (band.low, band.high) if band else (None, None)
    if test.crit_low is not None and value <= test.crit_low:
        return Flag.CRITICAL_LOW
    if low is not None and value <= low:
        return Flag.LOW
    if test.crit_high is not None and value > test.crit_high:
        return Flag.CRITICAL_HIGH
    if high is not None and value > high:
        return Flag.HIGH
    return Flag.NORMAL


def _just_above(test: Test, value: float, band: Band | None) -> Flag:
    """The flag of values a hair over ``value``."""
    low, high = (band.low, band.high) if band else (None, None)
    if test.crit_high is not None and value >= test.crit_high:
        return Flag.CRITICAL_HIGH
    if high is not None and value >= high:
        return Flag.HIGH
    if test.crit_low is not None and value < test.crit_low:
        return Flag.CRITICAL_LOW
    if low is not None and value < low:
        return Flag.LOW
    return Flag.NORMAL


def _ceiling(test: Test, band: Band | None) -> Flag:
    """The flag of an unboundedly high value."""
    if test.crit_high is not None:
        return Flag.CRITICAL_HIGH
    return Flag.HIGH if band is not None and band.high is not None else Flag.NORMAL


def _shared(a: Flag, b: Flag) -> Flag:
    if a == b:
        return a
    ra, rb = _RANK[a], _RANK[b]
    if ra * rb <= 0:
        return Flag.INDETERMINATE  # normal and abnormal values alike
    return a if abs(ra) < abs(rb) else b


def flag_quality(test: Test, code: str) -> Flag:
    """A for a value outside the normal ones (ordinal: ranked above the highest normal grade)."""
    if test.scale == Scale.NOMINAL:
        return Flag.NORMAL if code in test.normal else Flag.ABNORMAL
    if qualitative.rank(test, code) > qualitative.rank(test, test.normal[0]):
        return Flag.ABNORMAL
    return Flag.NORMAL


@dataclass(frozen=True)
class Previous:
    value: float
    at: datetime


def delta_exceeded(test: Test, value: float, previous: Previous | None, at: datetime) -> bool:
    """True when the change from the previous result is beyond the test's absolute or percent limit."""
    if previous is None or not test.quantitative or at - previous.at > DELTA_WINDOW or at < previous.at:
        return False
    change = abs(value - previous.value)
    if test.delta_abs is not None and change > test.delta_abs:
        return True
    if test.delta_pct is not None and previous.value and change / abs(previous.value) * 100 > test.delta_pct:
        return True
    return False
