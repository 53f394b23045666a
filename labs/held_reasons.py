"""A held message's reason in the reader's language. The reason is stored as the analyzer was
answered (English, in the ACK); the forms a person meets in the review queue are read back here
and told in their words. A form not listed is shown as it was recorded."""

from __future__ import annotations

import re

from telemed.i18n import translate

# (pattern of one "; "-separated part, its key under [labs.held_reason])
FORMS = (
    (re.compile(r"unknown detainee (?P<booking>.+?) in this facility: held for review"), "unknown_detainee"),
    (re.compile(r"OBX (?P<obx>\S+): unknown test code '(?P<code>[^']*)'"), "unknown_code"),
    (re.compile(r"OBX (?P<obx>\S+): unknown detainee '(?P<booking>[^']*)'"), "unknown_detainee_obx"),
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
            return translate(lang, f"labs.held_reason.{key}", **found.groupdict())
    return part
