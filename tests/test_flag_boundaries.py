"""Flags and delta checks at the exact value of every kind of limit, on tests built from a
catalogue row with chosen limits, so that each rule is checked on its own."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from labs.catalog import Band, Scale, catalogue
from labs.flags import CRITICAL, DELTA_WINDOW, DISPLAY, Flag, Previous, delta_exceeded, flag_quality, flag_quantity

BASE = catalogue().tests["718-7"]  # haemoglobin: quantitative
NOW = datetime(2026, 12, 6, 8, 0, tzinfo=timezone.utc)
TICK = timedelta(microseconds=1)


def quantity(**changes):
    limits = dict(decimals=1, crit_low=None, crit_high=None, delta_abs=None, delta_pct=None)
    return replace(BASE, **{**limits, **changes})


def test_every_critical_flag_raises_an_alert_and_no_other():
    assert CRITICAL == {Flag.CRITICAL_LOW, Flag.CRITICAL_HIGH, Flag.CRITICAL_ABNORMAL}
    assert set(DISPLAY) == set(Flag)


@pytest.mark.parametrize("value, flag", [
    (1.9, Flag.CRITICAL_LOW), (1.96, Flag.LOW),  # 1.96 is reported as 2.0: on the critical limit
    (2.0, Flag.LOW), (3.4, Flag.LOW), (3.5, Flag.NORMAL), (9.5, Flag.NORMAL), (9.6, Flag.HIGH),
    (20.0, Flag.HIGH), (20.04, Flag.HIGH), (20.1, Flag.CRITICAL_HIGH),
])
def test_each_limit_is_inside(value, flag):
    test = quantity(crit_low=2.0, crit_high=20.0)
    assert flag_quantity(test, value, Band(3.5, 9.5)) == flag


@pytest.mark.parametrize("value, flag", [(-100.0, Flag.NORMAL), (0.0, Flag.NORMAL), (1000.0, Flag.NORMAL)])
def test_no_band_and_no_critical_limit_flags_nothing(value, flag):
    assert flag_quantity(quantity(), value, None) == flag


def test_critical_limits_apply_without_a_band():
    test = quantity(crit_low=2.0, crit_high=20.0)
    assert flag_quantity(test, 1.9, None) == Flag.CRITICAL_LOW
    assert flag_quantity(test, 20.1, None) == Flag.CRITICAL_HIGH
    assert flag_quantity(test, 2.0, None) == flag_quantity(test, 20.0, None) == Flag.NORMAL


def test_open_ended_bands():
    test = quantity()
    assert flag_quantity(test, 0.0, Band(None, 5.2)) == Flag.NORMAL
    assert flag_quantity(test, 5.3, Band(None, 5.2)) == Flag.HIGH
    assert flag_quantity(test, 1000.0, Band(1.0, None)) == Flag.NORMAL
    assert flag_quantity(test, 0.9, Band(1.0, None)) == Flag.LOW


def test_a_critical_limit_inside_the_band_still_wins():
    """Critical limits are checked first: a value beyond one is critical whatever the band says."""
    test = quantity(crit_low=4.0, crit_high=8.0)
    assert flag_quantity(test, 3.9, Band(3.5, 9.5)) == Flag.CRITICAL_LOW
    assert flag_quantity(test, 8.1, Band(3.5, 9.5)) == Flag.CRITICAL_HIGH


def test_rounding_uses_the_tests_own_decimals():
    assert flag_quantity(quantity(decimals=0), 9.6, Band(3.0, 9.0)) == Flag.HIGH  # reported as 10
    assert flag_quantity(quantity(decimals=0), 9.4, Band(3.0, 9.0)) == Flag.NORMAL  # reported as 9
    assert flag_quantity(quantity(decimals=2), 9.504, Band(3.5, 9.5)) == Flag.NORMAL
    assert flag_quantity(quantity(decimals=2), 9.506, Band(3.5, 9.5)) == Flag.HIGH


def ordinal(normal: str):
    return replace(BASE, scale=Scale.ORDINAL, values=("neg", "±", "1+", "2+"), normal=(normal,))


@pytest.mark.parametrize("normal, code, flag", [
    ("neg", "neg", Flag.NORMAL), ("neg", "±", Flag.ABNORMAL), ("neg", "2+", Flag.ABNORMAL),
    ("±", "neg", Flag.NORMAL), ("±", "±", Flag.NORMAL), ("±", "1+", Flag.ABNORMAL),
    ("1+", "1+", Flag.NORMAL), ("1+", "2+", Flag.ABNORMAL),
])
def test_ordinal_grades_above_the_highest_normal_one_are_abnormal(normal, code, flag):
    assert flag_quality(ordinal(normal), code) == flag


def test_nominal_values_are_normal_only_when_listed():
    colour = replace(BASE, scale=Scale.NOMINAL, values=("yellow", "red", "clear"), normal=("yellow", "clear"))
    assert flag_quality(colour, "yellow") == flag_quality(colour, "clear") == Flag.NORMAL
    assert flag_quality(colour, "red") == Flag.ABNORMAL
    # Listed first among the values but not normal: order means nothing on a nominal scale.
    assert flag_quality(replace(colour, values=("red", "yellow"), normal=("yellow",)), "red") == Flag.ABNORMAL


def test_the_delta_window_is_thirty_days_inclusive():
    assert DELTA_WINDOW == timedelta(days=30)
    test = quantity(delta_abs=10.0)
    assert delta_exceeded(test, 100.0, Previous(120.0, NOW - timedelta(days=30)), NOW)
    assert not delta_exceeded(test, 100.0, Previous(120.0, NOW - timedelta(days=30) - TICK), NOW)
    assert delta_exceeded(test, 100.0, Previous(120.0, NOW), NOW)  # the same instant is compared
    assert not delta_exceeded(test, 100.0, Previous(120.0, NOW + TICK), NOW)  # a later "previous" is not


def test_the_absolute_delta_limit_is_inside():
    test = quantity(delta_abs=20.0)
    recent = NOW - timedelta(days=1)
    assert not delta_exceeded(test, 121.0, Previous(141.0, recent), NOW)
    assert delta_exceeded(test, 120.9, Previous(141.0, recent), NOW)
    assert delta_exceeded(test, 161.1, Previous(141.0, recent), NOW)  # a rise counts as a fall does
    assert not delta_exceeded(test, 161.0, Previous(141.0, recent), NOW)


def test_the_percent_delta_limit_is_inside():
    test = quantity(delta_pct=50.0)
    recent = NOW - timedelta(days=1)
    assert not delta_exceeded(test, 100.0, Previous(200.0, recent), NOW)  # exactly 50 %
    assert delta_exceeded(test, 99.0, Previous(200.0, recent), NOW)
    assert delta_exceeded(test, 301.0, Previous(200.0, recent), NOW)
    assert not delta_exceeded(test, 300.0, Previous(200.0, recent), NOW)
    # A negative previous value: the change is taken against its size.
    assert delta_exceeded(test, -4.0, Previous(-10.0, recent), NOW)
    assert not delta_exceeded(test, -5.0, Previous(-10.0, recent), NOW)


def test_a_zero_previous_value_has_no_percent_change():
    test = quantity(delta_pct=50.0)
    assert not delta_exceeded(test, 5.0, Previous(0.0, NOW - timedelta(days=1)), NOW)
    assert delta_exceeded(quantity(delta_pct=50.0, delta_abs=1.0), 5.0, Previous(0.0, NOW - timedelta(days=1)), NOW)


def test_either_limit_is_enough():
    both = quantity(delta_abs=20.0, delta_pct=50.0)
    recent = NOW - timedelta(days=1)
    assert delta_exceeded(both, 70.0, Previous(100.0, recent), NOW)  # 30 beyond abs, 30 % within pct
    assert delta_exceeded(both, 1.0, Previous(10.0, recent), NOW)  # 9 within abs, 90 % beyond pct
    assert not delta_exceeded(both, 90.0, Previous(100.0, recent), NOW)


def test_no_delta_without_a_limit_a_previous_or_a_quantity():
    recent = Previous(100.0, NOW - timedelta(days=1))
    assert not delta_exceeded(quantity(), 1.0, recent, NOW)
    assert not delta_exceeded(quantity(delta_abs=1.0), 1.0, None, NOW)
    assert not delta_exceeded(replace(quantity(delta_abs=1.0), scale=Scale.ORDINAL), 1.0, recent, NOW)
