"""Specimen-quality comments (an NTE saying "haemolysed", 溶血 ...) as coded specimen conditions.

Codes are those of the US Core Specimen Condition value set, which draws on two sources:
HL7 v2 table 0493 (Specimen Condition; FHIR CodeSystem v2-0493) for haemolysed and clotted,
and SNOMED CT findings for lipaemic (118127007 |Sample lipemic|) and icteric
(118129005 |Sample icteric|), which table 0493 lacks. A condition makes every value of that
specimen doubtful (haemolysis raises potassium), so it is shown beside the value everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

V2_0493 = "http://terminology.hl7.org/CodeSystem/v2-0493"
SNOMED = "http://snomed.info/sct"


@dataclass(frozen=True)
class Condition:
    key: str  # our short name, stored with the result and used as the translation key
    system: str
    code: str
    display: str
    words: tuple[str, ...]  # what comments say, lower case

    def coding(self) -> dict:
        return {"system": self.system, "code": self.code, "display": self.display}


CONDITIONS = (
    Condition("haemolysed", V2_0493, "HEM", "Hemolyzed",
              ("haemoly", "hemoly", "溶血", "haemolys", "hemolys")),
    Condition("lipaemic", SNOMED, "118127007", "Sample lipemic", ("lipaem", "lipem", "脂血", "乳糜")),
    Condition("icteric", SNOMED, "118129005", "Sample icteric", ("icter", "黄疸")),
    Condition("clotted", V2_0493, "CLOT", "Clotted", ("clot", "凝块", "凝集", "凝固")),
)
BY_KEY = {c.key: c for c in CONDITIONS}
_NEGATED = re.compile(r"\b(no|not|without|non)\b[^.;,]*$|无|未见|非")


def conditions_in(comment: str) -> tuple[str, ...]:
    """The condition keys a comment names, in catalogue order ("no haemolysis" names none)."""
    text = comment.lower()
    found = []
    for condition in CONDITIONS:
        for word in condition.words:
            at = text.find(word)
            if at >= 0 and not _NEGATED.search(text[max(0, at - 12):at]):
                found.append(condition.key)
                break
    return tuple(found)


def codings(keys: tuple[str, ...] | list[str]) -> list[dict]:
    return [{"coding": [BY_KEY[k].coding()], "text": BY_KEY[k].display} for k in keys if k in BY_KEY]
