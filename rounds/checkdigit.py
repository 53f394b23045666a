"""The check digits on a wristband: ISO 7064 MOD 97-10, the scheme of the IBAN.

Letters count as 10..35 (A..Z) and other characters are ignored, so ``KS202500012`` and its two
check digits ``49`` make the code ``KS20250001249``. It catches every digit typed for another digit,
every letter for another letter and every swap of two neighbouring digits (tests/test_rounds_identity.py),
so one slip at the keypad never lands on another detainee's code.
"""

from __future__ import annotations

import re

_ALNUM = re.compile(r"[^0-9A-Z]")


def _numeric(text: str) -> int:
    return int("".join(str(int(ch, 36)) for ch in _ALNUM.sub("", text.upper())))


def check_digits(booking: str) -> str:
    return f"{98 - _numeric(booking + '00') % 97:02d}"


def with_check(booking: str) -> str:
    return booking + check_digits(booking)


def booking_of(code: str) -> str | None:
    """The booking number a typed or scanned code carries, None when its check digits are wrong."""
    code = re.sub(r"\s+", "", code).upper()
    booking, check = code[:-2], code[-2:]
    if not booking or not check.isdigit() or not _ALNUM.sub("", booking):
        return None
    return booking if _numeric(code) % 97 == 1 else None
