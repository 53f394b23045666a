"""UCUM unit codes as people write them: ``mm[Hg]`` is mmHg, ``10*9/L`` is ×10⁹/L, ``Cel`` is °C.

Stored resources keep the UCUM code (the FHIR ``code``); only what a page or a report shows
goes through here."""

from __future__ import annotations

import re

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_WHOLE = {"Cel": "°C", "[degF]": "°F", "%": "%", "1": ""}
_PER_MINUTE = {"zh-CN": "次/分", "en": "/min"}
_POWER = re.compile(r"10\*(-?\d+)")
_MICRO = re.compile(r"(^|/)u(?=[A-Za-z\[])")
_ANNOTATION = re.compile(r"\{[^}]*\}")


def human_unit(code: str | None, lang: str = "en") -> str:
    """The display form of a UCUM ``code``; a code it does not know comes back unchanged but
    for brackets and annotations, which no reader needs."""
    if not code:
        return ""
    if code in _WHOLE:
        return _WHOLE[code]
    text = _ANNOTATION.sub("", code)
    if text == "/min":
        return _PER_MINUTE.get(lang, "/min")
    text = _POWER.sub(lambda m: "×10" + m.group(1).translate(_SUPERSCRIPT), text)
    text = _MICRO.sub(lambda m: m.group(1) + "µ", text)
    return text.replace("[", "").replace("]", "")
