"""Unit conversion into the catalogue's UCUM unit, with the spellings analyzers actually send."""

from __future__ import annotations

import re

from labs.catalog import Test

# Non-UCUM spellings seen in analyzer exports -> UCUM.
_SPELLINGS = {
    "%": "%", "fl": "fL", "pg": "pg", "s": "s", "sec": "s", "u/l": "U/L", "iu/l": "U/L",
    "mmol/l": "mmol/L", "umol/l": "umol/L", "g/l": "g/L", "g/dl": "g/dL", "mg/dl": "mg/dL", "mg/l": "mg/L",
    "ug/l": "ug/L", "ng/ml": "ng/mL", "ng/l": "ng/L", "pg/ml": "pg/mL", "pmol/l": "pmol/L", "nmol/l": "nmol/L",
    "meq/l": "meq/L", "u/ml": "U/mL", "ku/l": "kU/L", "miu/l": "m[IU]/L", "uiu/ml": "u[IU]/mL",
    "miu/ml": "m[IU]/mL", "iu/ml": "[IU]/mL", "/hpf": "/[HPF]", "/lpf": "/[LPF]", "l/l": "L/L",
}
_POWER = re.compile(r"^(?:x|\*)?10(?:\^|\*|e)?(\d+)/(l|ul)$")


class UnitError(ValueError):
    pass


def normalise_unit(unit: str) -> str:
    text = unit.strip().replace("µ", "u").replace("μ", "u").replace("×", "x").replace(" ", "")
    if not text:
        return ""
    lowered = text.lower()
    power = _POWER.match(lowered)
    if power:
        return f"10*{power.group(1)}/{'L' if power.group(2) == 'l' else 'uL'}"
    return _SPELLINGS.get(lowered, text)


def to_catalogue_unit(test: Test, value: float, unit: str) -> float:
    """``value`` in ``unit`` expressed in the test's own unit; an empty unit means the test's unit."""
    unit = normalise_unit(unit)
    if not unit or unit == test.unit:
        return value
    factor = test.alt_units.get(unit)
    if factor is None:
        accepted = ", ".join([test.unit or "(none)", *test.alt_units])
        raise UnitError(f"unit {unit!r} is not accepted for {test.abbr} ({test.loinc}); accepted: {accepted}")
    return value * factor
