"""A held message's reason in the reader's language. The reason is stored as the analyzer was
answered (English, in the ACK); the forms a person meets in the review queue are read back here
and told in their words. A form not listed is shown as it was recorded."""

from __future__ import annotations

import re

from telemed import display
from telemed.i18n import translate

# A value as labs.results quotes it (Python's repr: single quotes, double when it holds one).
_QUOTED = r"""(?:'(?P<value>[^']*)'|"(?P<value2>[^"]*)")"""
_IMPLAUSIBLE = rf"OBX (?P<obx>\S+): (?P<test>[^:]+): {_QUOTED} is not plausible "
# (pattern of one "; "-separated part, its key under [labs.held_reason]): every reason
# labs.hl7 holds a message for, with the parts labs.results and labs.plausible write.
FORMS = (
    (re.compile(r"unknown detainee (?P<booking>.+?) in this facility: held for review"), "unknown_detainee"),
    (re.compile(r"OBX (?P<obx>\S+): unknown test code '(?P<code>[^']*)'"), "unknown_code"),
    (re.compile(r"OBX (?P<obx>\S+): unknown detainee '(?P<booking>[^']*)'"), "unknown_detainee_obx"),
    (re.compile(_IMPLAUSIBLE + r"\(not a finite number\)"), "not_finite"),
    (re.compile(_IMPLAUSIBLE + r"\(negative\)"), "negative"),
    (re.compile(_IMPLAUSIBLE + r"\(above the plausible maximum (?P<top>\S+) ?(?P<unit>.*)\)"), "above_maximum"),
)
OTHERS_FILED = " (other observations filed)"


def explain(reason: str, lang: str) -> str:
    others = reason.endswith(OTHERS_FILED)
    parts = [_part(part, lang) for part in reason.removesuffix(OTHERS_FILED).split("; ")]
    text = translate(lang, "labs.held_reason.separator").join(parts)
    return translate(lang, "labs.held_reason.others_filed", reasons=text) if others else text


def _part(part: str, lang: str) -> str:
    for pattern, key in FORMS:
        found = pattern.fullmatch(part)
        if found:
            return translate(lang, f"labs.held_reason.{key}", **_values(found.groupdict(), lang))
    return part


def _values(found: dict, lang: str) -> dict:
    """The matched values as the reader writes them: one ``value`` however it was quoted, the
    unit as people write it."""
    values = {k: v for k, v in found.items() if k != "value2"}
    if "value2" in found:
        values["value"] = found["value"] if found["value"] is not None else found["value2"]
    if "unit" in found:
        values["unit"] = display.unit(found["unit"], lang)
    return values
