"""Each analyzer's map from its own test codes (OBX-3) to the catalogue, with the unit it
reports each in; the value is converted to the catalogue's unit by ``labs.units``."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlmodel import Session

from labs.catalog import catalogue
from labs.models import Analyzer, AnalyzerCode
from labs.units import normalise_unit


class MapError(ValueError):
    """A map entry that cannot be made as asked."""


@dataclass(frozen=True)
class MappedCode:
    loinc: str
    unit: str  # the analyzer's unit for it, "" when the message says (or the catalogue's unit)


@dataclass(frozen=True)
class CodeMap:
    """The codes of the analyzer that sent a message (empty for an unregistered path)."""

    analyzer_id: int | None = None
    codes: dict[str, MappedCode] = field(default_factory=dict)

    def get(self, code: str) -> MappedCode | None:
        return self.codes.get(code)


NO_MAP = CodeMap()


def code_map(session: Session, analyzer_id: int | None) -> CodeMap:
    if analyzer_id is None:
        return NO_MAP
    rows = session.execute(select(AnalyzerCode).where(AnalyzerCode.analyzer_id == analyzer_id)).scalars()
    return CodeMap(analyzer_id, {r.code: MappedCode(r.loinc, r.unit) for r in rows})


def entries(session: Session, analyzer_id: int) -> list[AnalyzerCode]:
    return list(session.execute(select(AnalyzerCode).where(AnalyzerCode.analyzer_id == analyzer_id)
                                .order_by(AnalyzerCode.code)).scalars())


def set_code(session: Session, analyzer: Analyzer, code: str, loinc: str, unit: str = "") -> AnalyzerCode:
    """Map ``code`` of ``analyzer`` to the catalogue test ``loinc`` (replacing an earlier entry)."""
    code, loinc = code.strip(), loinc.strip()
    if not code or len(code) > 64 or "^" in code or "|" in code:
        raise MapError("code: the analyzer's test code (OBX-3, first component), up to 64 characters")
    test = catalogue().test(loinc)
    if test is None:
        raise MapError(f"test: {loinc!r} is not in the catalogue")
    unit = normalise_unit(unit)
    if unit and not test.quantitative:
        raise MapError(f"unit: {test.abbr} is qualitative and has no unit")
    if unit and unit != test.unit and unit not in test.alt_units:
        accepted = ", ".join([test.unit, *test.alt_units])
        raise MapError(f"unit: {unit!r} cannot be converted for {test.abbr} ({test.loinc}); accepted: {accepted}")
    entry = session.execute(select(AnalyzerCode).where(AnalyzerCode.analyzer_id == analyzer.id,
                                                       AnalyzerCode.code == code)).scalars().first()
    entry = entry or AnalyzerCode(analyzer_id=analyzer.id, code=code, loinc=loinc)
    entry.loinc, entry.unit = test.loinc, unit
    session.add(entry)
    session.flush()
    return entry


def remove_code(session: Session, analyzer: Analyzer, code: str) -> bool:
    result = session.execute(delete(AnalyzerCode).where(AnalyzerCode.analyzer_id == analyzer.id,
                                                        AnalyzerCode.code == code.strip()))
    return bool(result.rowcount)


def entry_json(entry: AnalyzerCode, lang: str) -> dict:
    test = catalogue().test(entry.loinc)
    return {"code": entry.code, "loinc": entry.loinc, "unit": entry.unit,
            "test": f"{test.abbr} {test.name(lang)}" if test else entry.loinc,
            "catalogue_unit": test.unit if test else ""}
