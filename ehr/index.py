"""Search-parameter index rows, replaced in the same transaction as each resource write."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from dataclasses import replace
from functools import lru_cache
from datetime import date, datetime, time, timedelta, timezone

import orjson
from sqlalchemy import delete
from sqlmodel import Session

from ehr.models import FhirDate, FhirQuantity, FhirReference, FhirString, FhirToken
from ehr.params import INDEXED, Kind, Param, extract
from telemed.db import insert_sql

TABLES = {
    Kind.TOKEN: FhirToken.__table__, Kind.STRING: FhirString.__table__, Kind.DATE: FhirDate.__table__,
    Kind.QUANTITY: FhirQuantity.__table__, Kind.REFERENCE: FhirReference.__table__,
}
STRING_MAX = 200
DATE_MIN = -(2**62)
DATE_MAX = 2**62


def token_hash(*parts: str) -> int:
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))[:STRING_MAX]


# -- values of each kind ---------------------------------------------------------------------

def tokens(value: object) -> Iterable[tuple[str, str]]:
    """(system, code) pairs of a CodeableConcept, Coding, Identifier, code or boolean."""
    if isinstance(value, bool):
        yield "", "true" if value else "false"
    elif isinstance(value, str):
        yield "", value
    elif isinstance(value, dict):
        if "coding" in value:
            for coding in value["coding"]:
                yield from tokens(coding)
        elif "code" in value:
            yield value.get("system", ""), str(value["code"])
        elif "value" in value:
            yield value.get("system", ""), str(value["value"])


def texts(value: object) -> Iterable[str]:
    """What a token's ``:text`` matches: a CodeableConcept's text and its codings' displays."""
    if isinstance(value, dict):
        if isinstance(value.get("text"), str):
            yield value["text"]
        for coding in value.get("coding", []) if isinstance(value.get("coding"), list) else [value]:
            if isinstance(coding, dict) and isinstance(coding.get("display"), str):
                yield coding["display"]


def strings(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):  # HumanName, Address
        for key in ("text", "family", "given", "prefix", "suffix", "line", "city", "district", "state", "postalCode"):
            part = value.get(key)
            for item in part if isinstance(part, list) else [part] if part else []:
                yield item


def date_range(text: str) -> tuple[int, int]:
    """The [low, high] milliseconds covered by a FHIR date, dateTime or instant of any precision."""
    text = text.strip()
    if len(text) <= 10:
        parts = [int(p) for p in text.split("-")]
        year, month, day = parts[0], parts[1] if len(parts) > 1 else None, parts[2] if len(parts) > 2 else None
        start = date(year, month or 1, day or 1)
        if day:
            end = start + timedelta(days=1)
        elif month:
            end = date(year + (month == 12), month % 12 + 1, 1)
        else:
            end = date(year + 1, 1, 1)
        return _ms(datetime.combine(start, time(), timezone.utc)), _ms(datetime.combine(end, time(), timezone.utc)) - 1
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    exact = _ms(moment)
    has_seconds = text.count(":") >= 2
    return exact, exact + (999 if has_seconds else 59_999)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def dates(value: object) -> Iterable[tuple[int, int]]:
    if isinstance(value, str):
        yield date_range(value)
    elif isinstance(value, dict) and ("start" in value or "end" in value):  # Period
        low = date_range(value["start"])[0] if value.get("start") else DATE_MIN
        high = date_range(value["end"])[1] if value.get("end") else DATE_MAX
        yield low, high


def references(value: object, target: str | None) -> Iterable[tuple[str, str]]:
    ref = value.get("reference", "") if isinstance(value, dict) else ""
    parts = ref.split("/")
    if len(parts) >= 2 and not ref.startswith(("urn:", "#")) and "?" not in ref:
        if parts[-2] == "_history" and len(parts) >= 4:
            parts = parts[:-2]
        rtype, rid = parts[-2], parts[-1]
        if target is None or rtype == target:
            yield rtype, rid


# -- rows ---------------------------------------------------------------------------------------
# Rows are tuples in table column order, inserted with the driver's executemany: indexing runs
# for every resource written, and building dicts for SQLAlchemy to unpack again doubled its cost.

COLUMNS = {kind: tuple(c.name for c in table.columns) for kind, table in TABLES.items()}


def rows_of(rtype: str, rid: str, resource: dict, patient_id: str | None = None) -> dict[Kind, set[tuple]]:
    """The index rows of one resource, element by element: every parameter path starts at one
    top-level element, so the rows of the whole are the union of the rows of each element.
    Bulk writes repeat the same elements (a test's code, a category, a status) thousands of
    times, so each element's rows are computed once and only the ids are filled in."""
    rows: dict[Kind, set[tuple]] = {}
    by_element = _params_by_element(rtype)
    for element, value in resource.items():
        params = by_element.get(element)
        if params is None:
            continue
        for kind, tail in _element_rows(rtype, element, value, params):
            row = (rtype, rid, *tail, patient_id) if kind is Kind.TOKEN else (rtype, rid, *tail)
            found = rows.get(kind)
            if found is None:
                rows[kind] = {row}
            else:
                found.add(row)
    return rows


def extracted_rows(rtype: str, rid: str, resource: dict, patient_id: str | None = None,
                   params: Iterable[Param] | None = None) -> dict[Kind, set[tuple]]:
    """The rows by plain extraction over the whole resource (what ``rows_of`` must equal)."""
    rows: dict[Kind, set[tuple]] = {}
    for p in INDEXED.get(rtype, ()) if params is None else params:
        for value in extract(resource, p):
            found = rows.setdefault(p.kind, set())
            found.update(_rows(rtype, rid, p, value, patient_id))
            if p.kind is Kind.TOKEN:
                rows.setdefault(Kind.STRING, set()).update(_text_rows(rtype, rid, p, value))
            if p.kind is Kind.REFERENCE and isinstance(value, dict) and isinstance(value.get("identifier"), dict):
                rows.setdefault(Kind.TOKEN, set()).update(_identifier_rows(rtype, rid, p, value["identifier"], patient_id))
    return {kind: found for kind, found in rows.items() if found}


def text_param(name: str) -> str:
    """The string rows of a token parameter's ``:text``."""
    return f"{name}:text"


PRESENCE_BITS = 32


@lru_cache(maxsize=65536)
def system_keys(rtype: str, name: str, system: str) -> tuple[int, int]:
    """The token row saying that parameter ``name`` has a value in ``system`` ("" for none):
    (its h_full, its h_code). Its h_code is the system's own, so that ``system|`` is one exact
    range of the token index; its h_full shares its high bits with every system row of the
    parameter (``presence_range``), so that ``:missing`` is one range of the primary key."""
    low = token_hash(rtype, name, system, "\x00low") & ((1 << PRESENCE_BITS) - 1)
    return presence_range(rtype, name)[0] | low, token_hash(rtype, name, system, "\x00system")


@lru_cache(maxsize=4096)
def presence_range(rtype: str, name: str) -> tuple[int, int]:
    """The [low, high] h_full of the parameter's system rows."""
    base = token_hash(rtype, name, "\x00present") & ~((1 << PRESENCE_BITS) - 1)
    return base, base | ((1 << PRESENCE_BITS) - 1)


def paired_param(name: str, system: str, code: str) -> str:
    """The quantity rows of a paired composite (``component-code-value-quantity``) for one
    code: named by a hash of it, with and without its system, so that a row holds both halves."""
    return f"{name[:40]}:{token_hash(name, system, code) & 0xFFFFFFFFFFFF:x}"


def identifier_param(name: str) -> str:
    """The token rows of a reference parameter's ``Reference.identifier`` (``subject:identifier``)."""
    return f"{name}:identifier"


def _identifier_rows(rtype: str, rid: str, p: Param, identifier: dict, patient_id: str | None) -> Iterable[tuple]:
    for system, code in tokens(identifier):
        yield (rtype, rid, *token_keys(rtype, identifier_param(p.name), system, code), patient_id)


@lru_cache(maxsize=None)
def _params_by_element(rtype: str) -> dict[str, tuple[Param, ...]]:
    found: dict[str, list[Param]] = {}
    for p in INDEXED.get(rtype, ()):
        for element in dict.fromkeys(path.split(".", 1)[0] for path in p.paths):
            found.setdefault(element, []).append(p)
    return {element: tuple(params) for element, params in found.items()}


ELEMENT_CACHE_MAX = 100_000
_element_cache: dict[tuple[str, str, str | bytes], tuple[tuple[Kind, tuple], ...]] = {}


def _element_rows(rtype: str, element: str, value: object, params: tuple[Param, ...]) -> tuple[tuple[Kind, tuple], ...]:
    """(kind, row without res_type, res_id and patient_id) for one element's value, cached by its JSON."""
    key = (rtype, element, value if isinstance(value, str) else orjson.dumps(value))
    found = _element_cache.get(key)
    if found is None:
        rows = extracted_rows(rtype, "", {element: value}, None, params)
        found = tuple((kind, row[2:-1] if kind is Kind.TOKEN else row[2:]) for kind, kinds in rows.items()
                      for row in kinds)
        if len(_element_cache) >= ELEMENT_CACHE_MAX:
            _element_cache.clear()
        _element_cache[key] = found
    return found


@lru_cache(maxsize=65536)
def token_keys(rtype: str, name: str, system: str, code: str) -> tuple[int, int]:
    return token_hash(rtype, name, system, code), token_hash(rtype, name, code)


def _text_rows(rtype: str, rid: str, p: Param, value: object) -> Iterable[tuple]:
    for text in texts(value):
        yield rtype, rid, text_param(p.name), normalise(text), text[:STRING_MAX]


def _rows(rtype: str, rid: str, p: Param, value: object, patient_id: str | None) -> Iterable[tuple]:
    if p.kind is Kind.TOKEN:
        for system, code in tokens(value):
            yield (rtype, rid, *token_keys(rtype, p.name, system, code), patient_id)
            yield (rtype, rid, *system_keys(rtype, p.name, system), patient_id)
    elif p.kind is Kind.STRING:
        for text in strings(value):
            yield rtype, rid, p.name, normalise(text), text[:STRING_MAX]
    elif p.kind is Kind.DATE:
        for low, high in _safe_dates(value):
            yield rtype, rid, p.name, low, high
    elif p.pair is not None:
        yield from _paired_rows(rtype, rid, p, value)
    elif p.kind is Kind.QUANTITY:
        if isinstance(value, dict) and isinstance(value.get("value"), int | float):
            # Matched on the code and on the unit as written, when they differ (mm[Hg], mmHg).
            for code in dict.fromkeys(c for c in (value.get("code"), value.get("unit")) if isinstance(c, str)) or [""]:
                yield rtype, rid, p.name, float(value["value"]), value.get("system", "")[:200], code[:64]
    else:
        for target_type, target_id in references(value, p.target):
            yield rtype, rid, p.name, target_type, target_id


def _paired_rows(rtype: str, rid: str, p: Param, element: object) -> Iterable[tuple]:
    if not isinstance(element, dict):
        return
    code_key, value_key = p.pair
    for system, code in tokens(element.get(code_key)):
        for name in dict.fromkeys((paired_param(p.name, system, code), paired_param(p.name, "", code))):
            for row in _rows(rtype, rid, replace(p, name=name, pair=None), element.get(value_key), None):
                yield row


def _safe_dates(value: object) -> list[tuple[int, int]]:
    try:
        return list(dates(value))
    except ValueError:  # validation has already vetted the format; this only guards odd years
        return []


def write_rows(session: Session, rows: dict[Kind, Iterable[tuple]]) -> None:
    connection = session.connection()
    for kind, found in rows.items():
        connection.exec_driver_sql(insert_sql(connection, TABLES[kind].name, COLUMNS[kind]), list(found))


def reindex(session: Session, rtype: str, rid: str, resource: dict, *, fresh: bool = False,
            patient_id: str | None = None) -> None:
    """Replace the index rows of one resource; ``fresh``: it had none (a first version)."""
    if not fresh:
        remove(session, rtype, rid)
    write_rows(session, rows_of(rtype, rid, resource, patient_id))


def remove(session: Session, rtype: str, rid: str) -> None:
    """Drop the index rows of a deleted resource."""
    if rtype not in INDEXED:
        return
    for table in TABLES.values():
        session.execute(delete(table).where(table.c.res_type == rtype, table.c.res_id == rid))
