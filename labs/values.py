"""The forms a quantitative result is written in: a number, a censored number (``<0.5``,
``>=33.3``), a range (``1-5``) or a ratio (``1:128``), from an NM or SN value (HL7 v2 data type
SN: comparator^number^separator^number), a file cell or the entry form."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from labs import qualitative

COMPARATORS = ("<=", ">=", "<", ">")  # FHIR Quantity.comparator; longest first for parsing
_SIGNS = str.maketrans({"≤": "<=", "≥": ">=", "＜": "<", "＞": ">", "﹤": "<", "﹥": ">",  # as Chinese LIS write them
                        "：": ":", "～": "~"})
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_CENSORED = re.compile(rf"^(<=|>=|<|>)?\s*({_NUMBER}|nan|inf|-inf|infinity)$", re.IGNORECASE)
_TWO = re.compile(rf"^({_NUMBER})\s*([-~:/])\s*({_NUMBER})$")


class NotAValue(ValueError):
    pass


@dataclass(frozen=True)
class Reading:
    """One quantitative result as written. ``number`` is the value (censored: its limit); a
    range has ``low``/``high``, a ratio ``numerator``/``denominator``."""

    number: float | None = None
    comparator: str = ""
    low: float | None = None
    high: float | None = None
    numerator: float | None = None
    denominator: float | None = None

    @property
    def kind(self) -> str:
        if self.numerator is not None:
            return "ratio"
        if self.low is not None:
            return "range"
        return "censored" if self.comparator else "number"

    def numbers(self) -> tuple[float, ...]:
        return tuple(v for v in (self.number, self.low, self.high, self.numerator, self.denominator) if v is not None)

    def scaled(self, factor: float, decimals: int) -> "Reading":
        """In another unit (ratios have none)."""
        def scale(v: float | None) -> float | None:
            return None if v is None else round(v * factor, decimals)
        if self.kind == "ratio":
            return self
        return Reading(scale(self.number), self.comparator, scale(self.low), scale(self.high))

    def text(self) -> str:
        """As a person writes it: ``<0.5``, ``1-5``, ``1:128``; a plain number as itself."""
        if self.kind == "ratio":
            return f"{_g(self.numerator)}:{_g(self.denominator)}"
        if self.kind == "range":
            return f"{_g(self.low)}-{_g(self.high)}"
        return f"{self.comparator}{_g(self.number)}"


def _g(value: float | None) -> str:
    return f"{value:g}"


def parse(value: object) -> Reading:
    """A cell, a form field or an NM value: ``4.1``, ``<0.5``, ``≥ 33.3``, ``1-5``, ``1:128``;
    or an SN value ``>^30``, ``^1^-^5``, ``^1^:^128``."""
    text = str(value).strip().translate(_SIGNS)
    if "^" in text:
        return _structured(text.split("^"))
    found = _CENSORED.match(text)
    if found:
        return Reading(_float(found.group(2)), found.group(1) or "")
    two = _TWO.match(text)
    if two:
        return _pair(two.group(1), two.group(2), two.group(3))
    raise NotAValue(f"{value!r} is not a number, a censored number (<0.5), a range (1-5) or a ratio (1:128)")


def _structured(parts: list[str]) -> Reading:
    """SN components: comparator, first number, separator/suffix, second number."""
    parts = [p.strip() for p in parts] + [""] * (4 - len(parts))
    comparator, first, separator, second = parts[:4]
    if comparator == "=":
        comparator = ""
    if comparator not in ("", *COMPARATORS) or not first:
        raise NotAValue(f"{'^'.join(parts).rstrip('^')!r} is not an SN value (comparator^number^separator^number)")
    if not separator and not second:
        return parse(comparator + first)
    if comparator or separator not in ("-", ":", "/") or not second:
        raise NotAValue(f"{'^'.join(parts).rstrip('^')!r} is not an SN range (^1^-^5) or ratio (^1^:^128)")
    return _pair(first, separator, second)


def _pair(first: str, separator: str, second: str) -> Reading:
    a, b = _float(first), _float(second)
    if separator in (":", "/"):
        if b == 0:
            raise NotAValue(f"ratio {first}{separator}{second} divides by zero")
        return Reading(numerator=a, denominator=b)
    if a > b:
        raise NotAValue(f"range {first}{separator}{second} runs backwards")
    return Reading(low=a, high=b)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise NotAValue(f"{text!r} is not a number") from None


def finite(reading: Reading) -> bool:
    return all(math.isfinite(v) for v in reading.numbers())


def display(value_num: float | None, value_code: str, value_text: str, unit: str, lang: str = "zh-CN") -> str:
    """A stored result for people: as written (``<0.5 mg/L``), a number, or a qualitative word."""
    if value_text:
        return f"{value_text} {unit}".strip()
    if value_num is None:
        return qualitative.label(value_code, lang)
    return f"{value_num:g} {unit}".strip()
