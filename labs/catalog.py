"""The test catalogue, read once from the reviewable CSV files in ``labs/data/``."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PANEL_SYSTEM = "http://telemed.example.org/fhir/CodeSystem/lab-panel"

SPECIMENS = {  # code -> (English, Chinese)
    "Bld": ("Whole blood", "全血"),
    "Ser/Plas": ("Serum or plasma", "血清/血浆"),
    "PPP": ("Platelet-poor plasma (citrate)", "枸橼酸钠抗凝血浆"),
    "Urine": ("Urine", "尿液"),
    "Stool": ("Stool", "粪便"),
}


class Scale:
    QUANTITATIVE = "Qn"
    ORDINAL = "Ord"  # ranked grades: neg < ± < 1+ < 2+ ...
    NOMINAL = "Nom"  # unranked words: colour, appearance


@dataclass(frozen=True)
class Band:
    """One reference interval: for ages ``age_min``..``age_max`` years (inclusive)."""

    low: float | None
    high: float | None
    age_min: int = 0
    age_max: int = 150

    def covers(self, age: int | None) -> bool:
        return age is None or self.age_min <= age <= self.age_max


@dataclass(frozen=True)
class Test:
    loinc: str
    panel: str
    abbr: str
    name_en: str
    name_zh: str
    specimen: str
    scale: str
    unit: str
    decimals: int
    alt_units: dict[str, float]
    ranges: dict[str, tuple[Band, ...] | None]  # "male"/"female" -> bands; None: not applicable
    ref_source: str
    crit_low: float | None
    crit_high: float | None
    crit_source: str
    delta_abs: float | None
    delta_pct: float | None
    values: tuple[str, ...]  # qualitative: the allowed values (ordinal: lowest first)
    normal: tuple[str, ...]  # ordinal: (highest normal grade,); nominal: the normal values

    @property
    def quantitative(self) -> bool:
        return self.scale == Scale.QUANTITATIVE

    def bands(self, sex: str) -> tuple[Band, ...] | None:
        """The intervals for a sex; an unknown sex gets the male ones (the larger population here)."""
        return self.ranges.get(sex, self.ranges["male"])

    def band(self, sex: str, age: int | None) -> Band | None:
        bands = self.bands(sex)
        if not bands:
            return None
        found = next((b for b in bands if b.covers(age)), None)
        if found is not None:
            return found
        return bands[-1] if age is not None and age > bands[-1].age_max else bands[0]  # nearest band

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_zh


@dataclass(frozen=True)
class Panel:
    code: str
    loinc: str
    name_en: str
    name_zh: str
    tests: tuple[str, ...]  # LOINC codes in report order

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_zh


@dataclass(frozen=True)
class Catalogue:
    tests: dict[str, Test]
    panels: dict[str, Panel]
    sources: dict[str, str]

    def test(self, loinc: str) -> Test | None:
        return self.tests.get(loinc)


def parse_number(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


def parse_bands(text: str) -> tuple[Band, ...] | None:
    """``3.5..9.5``, ``..5.2``, ``1.0..`` or age bands ``20-59:3.1..8.0;60-79:3.6..9.5``; ``-``: none."""
    text = text.strip()
    if text == "-":
        return None
    bands = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        ages, _, interval = part.rpartition(":")
        low, _, high = interval.partition("..")
        age_min, _, age_max = ages.partition("-") if ages else ("0", "", "150")
        bands.append(Band(parse_number(low), parse_number(high), int(age_min), int(age_max or 150)))
    return tuple(bands)


def parse_units(text: str) -> dict[str, float]:
    pairs = (p.split("=") for p in text.split(";") if p.strip())
    return {unit.strip(): float(factor) for unit, factor in pairs}


def _test(row: dict[str, str]) -> Test:
    male = parse_bands(row["ref_male"])
    female = parse_bands(row["ref_female"]) if row["ref_female"] else male
    return Test(
        loinc=row["loinc"], panel=row["panel"], abbr=row["abbr"], name_en=row["name_en"], name_zh=row["name_zh"],
        specimen=row["specimen"], scale=row["scale"], unit=row["unit"], decimals=int(row["decimals"] or 0),
        alt_units=parse_units(row["alt_units"]), ranges={"male": male, "female": female},
        ref_source=row["ref_source"], crit_low=parse_number(row["crit_low"]), crit_high=parse_number(row["crit_high"]),
        crit_source=row["crit_source"], delta_abs=parse_number(row["delta_abs"]),
        delta_pct=parse_number(row["delta_pct"]),
        values=tuple(v for v in row["values"].split("|") if v), normal=tuple(v for v in row["normal"].split("|") if v),
    )


def _rows(name: str) -> list[dict[str, str]]:
    with (resources.files("labs") / "data" / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@cache
def catalogue() -> Catalogue:
    tests = {row["loinc"]: _test(row) for row in _rows("catalog.csv")}
    panels = {
        row["code"]: Panel(row["code"], row["loinc"], row["name_en"], row["name_zh"],
                           tuple(t.loinc for t in tests.values() if t.panel == row["code"]))
        for row in _rows("panels.csv")
    }
    sources = {row["code"]: row["citation"] for row in _rows("sources.csv")}
    return Catalogue(tests, panels, sources)
