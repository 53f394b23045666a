"""FHIR search over the index tables: parse the query, build one SQL query, page by keyset.

The most selective criterion (``_id``, then references, tokens, strings, dates, quantities)
drives the query as ``id IN (index rows)``; the others probe their index per candidate with a
correlated EXISTS, which keeps ``Observation?patient=X&code=Y`` at a few hundred index probes
however many Observations are stored.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import orjson
from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select
from sqlmodel import Session

from ehr.errors import FhirError, Issue
from ehr.index import (DATE_MAX, DATE_MIN, TABLES, date_range, identifier_param, normalise, paired_param, presence_range,
                       system_keys, text_param, token_hash, token_keys)
from ehr.models import FhirResource
from ehr.params import BY_NAME, COMMON, COMPOSITES, RESULT_PARAMS, Kind, Param, param
from ehr.store import PATIENT_PATHS, Stored

R = FhirResource.__table__
DEFAULT_COUNT = 20
MAX_COUNT = 500
MAX_INCLUDED = 1000
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
DRIVER_ORDER = {"_id": 0, Kind.REFERENCE: 1, Kind.TOKEN: 2, Kind.STRING: 3, Kind.DATE: 4, Kind.QUANTITY: 5}
SUMMARIES = ("true", "text", "data", "count", "false")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def bad(message: str, expression: str | None = None) -> FhirError:
    return FhirError(400, Issue("invalid", message, [expression] if expression else []))


@dataclass(frozen=True)
class Criterion:
    name: str
    modifier: str
    values: tuple[str, ...]  # OR-ed
    kind: Kind | str  # a Kind, "_id" / "_lastUpdated", or CHAIN / HAS
    param: Param | None = None
    # CHAIN: the referenced type and the criterion on it; HAS: the referring type and its criterion.
    other: str | None = None
    inner: "Criterion | None" = None


CHAIN, HAS = "chain", "_has"
# Modifiers whose criterion may match by the absence of index rows, so cannot drive a query.
NEGATABLE = ("not", "missing")
LINKED = (CHAIN, HAS)


@dataclass(frozen=True)
class Link:
    """``_include`` (forward) or ``_revinclude`` (backward): source type, its reference param, target type."""

    source: str
    param: str
    target: str | None
    iterate: bool = False  # also followed from what was included


@dataclass
class SearchRequest:
    rtype: str
    criteria: list[Criterion] = field(default_factory=list)
    sort: tuple[tuple[str, bool], ...] = ()  # (param, descending) by precedence; _id, if named, ends it
    count: int = DEFAULT_COUNT
    cursor: tuple | None = None
    includes: list[Link] = field(default_factory=list)
    revincludes: list[Link] = field(default_factory=list)
    summary_count: bool = False
    summary: str | None = None  # _summary=true|text|data
    elements: tuple[str, ...] = ()

    def patient_refs(self) -> set[str]:
        """The Patient ids this search is limited to by a patient/subject criterion (AND-ed)."""
        for c in self.criteria:
            if c.kind is Kind.REFERENCE and not c.modifier and c.param and c.param.name in ("patient", "subject"):
                ids = {_split_reference(v, "Patient")[1] for v in c.values}
                if all(_split_reference(v, "Patient")[0] == "Patient" for v in c.values):
                    return ids
        if self.rtype == "Patient":
            for c in self.criteria:
                if c.kind == "_id" and not c.modifier:
                    return set(c.values)
        return set()


@dataclass
class SearchResult:
    matches: list[Stored]
    included: list[Stored]
    next_cursor: str | None
    total: int | None


# -- parsing ---------------------------------------------------------------------------------

def parse(rtype: str, query: Iterable[tuple[str, str]], *, base: str | None = None, lenient: bool = False) -> SearchRequest:
    """``lenient``: a parameter this server does not know is left out instead of refused (the
    caller asked with ``Prefer: handling=lenient``); ``base``: this server's base URL."""
    request = SearchRequest(rtype)
    for key, value in query:
        name, _, modifier = key.partition(":")
        try:
            if name in RESULT_PARAMS:
                if modifier and (name not in ("_include", "_revinclude") or modifier != "iterate"):
                    raise Unknown(f"{key} is not supported", key)
                _result_param(request, name, value, modifier == "iterate")
            elif value:  # an empty parameter is no criterion
                request.criteria.extend(_criteria(rtype, name, modifier, value, base))
        except Unknown:
            if not lenient:
                raise
    return request


class Unknown(FhirError):
    """A parameter or modifier this server does not support."""

    def __init__(self, message: str, expression: str) -> None:
        super().__init__(400, Issue("not-supported", message, [expression]))


def _criteria(rtype: str, name: str, modifier: str, value: str, base: str | None) -> list[Criterion]:
    """One criterion, or the parts of a composite (``code-value-quantity=LOINC|8867-4$gt100``)."""
    parts = COMPOSITES.get(rtype, {}).get(name)
    if parts is None:
        return [_criterion(rtype, name, modifier, value, base)]
    values = value.split("$")
    if modifier or len(values) != len(parts) or "," in value:
        raise bad(f"{name}={value}: expected one {'$'.join(parts)} pair (no modifier, no comma)", f"{rtype}?{name}")
    return [_criterion(rtype, part, "", v, base) for part, v in zip(parts, values)]


def _criterion(rtype: str, name: str, modifier: str, value: str, base: str | None = None) -> Criterion:
    if name == "_has":
        return _has(rtype, modifier, value, base)
    if "." in name or "." in modifier:
        return _chain(rtype, f"{name}:{modifier}" if modifier else name, value, base)
    values = tuple(v for v in _split_or(value) if v)
    if name in COMMON:
        if modifier:
            raise Unknown(f"modifier :{modifier} is not supported on {name}", f"{rtype}?{name}:{modifier}")
        return Criterion(name, modifier, values, name)
    p = param(rtype, name)
    if p is None:
        what = "search parameter" if not name.startswith("_") else "special parameter (not supported here)"
        raise Unknown(f"unknown {what} {name} for {rtype}", f"{rtype}?{name}")
    if p.pair is not None:
        return _paired(rtype, p, modifier, value)
    if modifier == "missing":
        if value not in ("true", "false"):
            raise bad(f"{name}:missing={value}: expected true or false", f"{rtype}?{name}:missing")
        return Criterion(name, modifier, (value,), p.kind, p)
    if p.kind is Kind.TOKEN and modifier == "text":  # the string rows of its texts and displays
        return Criterion(text_param(name), "", values, Kind.STRING, replace(
            p, name=text_param(name), kind=Kind.STRING, also_searches=tuple(text_param(n) for n in p.also_searches)))
    allowed = {Kind.TOKEN: {"", "not"}, Kind.STRING: {"", "exact", "contains"}}.get(p.kind, {""})
    if p.kind is Kind.REFERENCE and modifier == "identifier" and not p.indexed_as:
        # Reference.identifier, kept as token rows of their own; a targeted parameter (patient
        # beside subject) cannot tell an identifier's type, so it does not take the modifier.
        return Criterion(identifier_param(name), "", values, Kind.TOKEN, replace(p, name=identifier_param(name),
                                                                                 kind=Kind.TOKEN, also_searches=()))
    if p.kind is Kind.REFERENCE:
        allowed = {"", p.target or ""} | {"Patient", "Organization", "Practitioner", "Encounter", "ServiceRequest"}
    if modifier not in allowed:
        raise Unknown(f"modifier :{modifier} is not supported on {rtype}?{name}", f"{rtype}?{name}:{modifier}")
    if p.kind is Kind.REFERENCE:
        values = tuple(local for v in values if (local := _local_reference(v, base)) is not None)
        if modifier:  # subject:Patient=X is subject=Patient/X
            values, modifier = tuple(v if "/" in v else f"{modifier}/{v}" for v in values), ""
    return Criterion(name, modifier, values, p.kind, p)


def _paired(rtype: str, p: Param, modifier: str, value: str) -> Criterion:
    """``component-code-value-quantity=[system|]code$quantity``: the rows of that code's halves."""
    token, sep, quantity = value.partition("$")
    system, _, code = token.rpartition("|")
    if modifier or not sep or not code or not quantity or "," in value:
        raise bad(f"{p.name}={value}: expected one code$quantity pair (no modifier, no comma)", f"{rtype}?{p.name}")
    name = paired_param(p.name, system, code)
    return Criterion(name, "", (quantity,), Kind.QUANTITY, replace(p, name=name, pair=None))


def _chain(rtype: str, key: str, value: str, base: str | None) -> Criterion:
    """``subject:Patient.identifier=X`` / ``patient.name=X``: resources whose reference points
    at a resource matching the rest."""
    head, _, rest = key.partition(".")
    name, _, target = head.partition(":")
    p = param(rtype, name)
    if p is None or p.kind is not Kind.REFERENCE:
        raise Unknown(f"{rtype}?{key}: {name} is not a reference search parameter to chain", f"{rtype}?{key}")
    target = target or p.target
    if target is None or target not in BY_NAME:
        raise Unknown(f"{rtype}?{key}: name the type to chain to, as {name}:Type.param", f"{rtype}?{key}")
    if p.target not in (None, target):
        raise bad(f"{rtype}?{key}: {name} only points at {p.target}", f"{rtype}?{key}")
    inner_name, _, inner_modifier = rest.partition(":")
    return Criterion(name, "", (), CHAIN, p, target, _criterion(target, inner_name, inner_modifier, value, base))


def _has(rtype: str, spec: str, value: str, base: str | None) -> Criterion:
    """``_has:Observation:patient:code=X``: resources that an Observation matching code=X
    points at through its ``patient`` parameter."""
    parts = spec.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise bad(f"_has:{spec}: expected _has:Type:reference-param:param", "_has")
    source, name, rest = parts
    p = param(source, name)
    if p is None or p.kind is not Kind.REFERENCE or p.target not in (None, rtype):
        raise bad(f"_has:{spec}: {source}.{name} is not a reference search parameter to {rtype}", "_has")
    inner_name, _, inner_modifier = rest.partition(":") if not rest.startswith("_has:") else ("_has", "", rest[5:])
    return Criterion("_has", "", (), HAS, p, source, _criterion(source, inner_name, inner_modifier, value, base))


def _local_reference(value: str, base: str | None) -> str | None:
    """A reference as this server's ``Type/id``; None for one to another server, which no
    resource here matches."""
    if "://" not in value:
        return value
    if base and value.startswith(base.rstrip("/") + "/"):
        return value[len(base.rstrip("/")) + 1:]
    return None


def _split_or(value: str) -> list[str]:
    parts, current, escaped = [], "", False
    for ch in value:
        if escaped:
            current, escaped = current + ch, False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _result_param(request: SearchRequest, name: str, value: str, iterate: bool = False) -> None:
    if name == "_count":
        if not value.isdigit():
            raise bad("_count must be a whole number", "_count")
        request.count = min(int(value), MAX_COUNT)
        request.summary_count = request.summary_count or request.count == 0
    elif name == "_sort":
        request.sort = _sort_keys(request.rtype, value)
    elif name == "_cursor":
        request.cursor = decode_cursor(value, -1)
    elif name == "_include":
        request.includes.append(_link(value, forward=True, rtype=request.rtype, iterate=iterate))
    elif name == "_revinclude":
        request.revincludes.append(_link(value, forward=False, rtype=request.rtype, iterate=iterate))
    elif name == "_summary":
        if value not in SUMMARIES:
            raise bad(f"_summary={value} is not one of {', '.join(SUMMARIES)}", "_summary")
        request.summary_count = value == "count"
        request.summary = value if value not in ("count", "false") else None
    elif name == "_totalMethod":  # fhirpy's count(): every searchset carries its exact total anyway
        if value not in ("count", "accurate", "estimate"):
            raise bad(f"_totalMethod={value} is not one of count, accurate, estimate", "_totalMethod")
    elif name == "_total":
        if value not in ("none", "estimate", "accurate"):
            raise bad(f"_total={value} is not one of none, estimate, accurate", "_total")
    elif name == "_elements":
        request.elements = tuple(e.strip() for e in value.split(",") if e.strip())


def _sort_keys(rtype: str, value: str) -> tuple[tuple[str, bool], ...]:
    """``-date,name``: the keys by precedence. Token parameters are stored as hashes, which have
    no order, so they are refused by name; ``_id`` is unique, so nothing may follow it."""
    keys: list[tuple[str, bool]] = []
    for item in value.split(","):
        key = item.strip().removeprefix("-")
        p = param(rtype, key)
        if key not in COMMON and (p is None or p.kind not in (Kind.DATE, Kind.STRING)):
            raise bad(f"cannot sort {rtype} by {key or '(nothing)'}: _sort takes _id, _lastUpdated and date "
                      f"or string parameters", "_sort")
        if key in (k for k, _ in keys) or (keys and keys[-1][0] == "_id"):
            raise bad(f"_sort={value}: {key} repeats a key or follows _id", "_sort")
        keys.append((key, item.strip().startswith("-")))
    return tuple(keys)


def _link(value: str, *, forward: bool, rtype: str, iterate: bool = False) -> Link:
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise bad(f"{value}: expected Type:param[:target]", "_include" if forward else "_revinclude")
    source, name = parts[0], parts[1]
    p = param(source, name)
    if p is None or p.kind is not Kind.REFERENCE:
        raise bad(f"{source}:{name} is not a reference search parameter", value)
    if forward and source != rtype and not iterate:
        raise bad(f"_include={value} must start with {rtype} (or be _include:iterate)", value)
    target = parts[2] if len(parts) == 3 else p.target
    if not forward and not iterate:
        target = rtype
    if p.indexed_as and target != p.target:
        raise bad(f"{source}:{name} only points at {p.target}", value)
    return Link(source, p.index_name, target, iterate)


def encode_cursor(values: list) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_cursor(value: str, size: int) -> tuple:
    """``size``: the values it must hold (-1: any number, checked when the search runs)."""
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise bad("malformed _cursor", "_cursor") from None
    if not isinstance(decoded, list) or size not in (-1, len(decoded)):
        raise bad("malformed _cursor", "_cursor")
    return tuple(decoded)


# -- SQL ------------------------------------------------------------------------------------

def _split_reference(value: str, default_type: str | None) -> tuple[str | None, str]:
    parts = value.rstrip("/").split("/")
    if len(parts) >= 2:
        return parts[-2], parts[-1]
    return default_type, parts[0]


def prefixed(value: str) -> tuple[str, str]:
    if value[:2] in PREFIXES and len(value) > 2 and not value[2].isalpha():
        return value[:2], value[2:]
    return "eq", value


def range_condition(low, high, prefix: str, s_low, s_high) -> ColumnElement:
    if prefix == "ap":  # bounds widened by ``approximately``: any overlap
        return and_(low <= s_high, high >= s_low)
    if prefix == "eq":
        return and_(low >= s_low, high <= s_high)
    if prefix == "ne":
        return or_(low < s_low, high > s_high)
    return {
        "gt": high > s_high, "lt": low < s_low, "ge": high >= s_low, "le": low <= s_high,
        "sa": low > s_high, "eb": high < s_low,
    }[prefix]


def date_bounds(text: str, name: str, prefix: str = "eq") -> tuple[int, int]:
    """The range a date covers, in ms; for ``ap``, widened by a tenth of its distance from now
    (the specification's suggestion), and at least a day."""
    try:
        low, high = date_range(text)
    except (ValueError, IndexError):
        raise bad(f"{name}: {text!r} is not a FHIR date", name) from None
    if prefix != "ap":
        return low, high
    now = int(datetime.now(timezone.utc).timestamp() * 1000)
    margin = max(abs(now - (low + high) // 2) // 10, 86_400_000)
    return low - margin, high + margin


def to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(max(min(ms, 253402300799000), -62135596800000) / 1000, timezone.utc)


def _value_condition(rtype: str, c: Criterion, table) -> ColumnElement:
    if c.modifier == "missing":  # any row of the parameter at all; the probe negates for true
        if c.kind is Kind.TOKEN:
            return or_(*(table.c.h_full.between(*presence_range(rtype, name)) for name in (c.name, *c.param.also_searches)))
        present = table.c.param == c.param.index_name
        return and_(present, table.c.target_type == c.param.target) if c.param.indexed_as else present
    if c.kind is Kind.TOKEN:
        names = (c.name, *c.param.also_searches) if c.param else (c.name,)
        keys = [_token_key(rtype, name, v) for v in c.values for name in names]
        full = [(code, system_code) for code, system_code in keys if system_code is not None]
        code_only = [code for code, system_code in keys if system_code is None]
        # Both forms lead with the code's hash, the first column of the one token index.
        terms = [and_(table.c.h_code.in_(sorted({code for code, _ in full})),
                      table.c.h_full.in_([system_code for _, system_code in full]))] if full else []
        return or_(*terms, *([table.c.h_code.in_(code_only)] if code_only else []))
    conditions = []
    for value in c.values:
        if c.kind is Kind.STRING:
            norm = normalise(value)
            if c.modifier == "exact":
                conditions.append(table.c.exact == value)
            elif c.modifier == "contains":
                conditions.append(table.c.norm.like(f"%{_like_escape(norm)}%", escape="\\"))
            else:
                conditions.append(and_(table.c.norm >= norm, table.c.norm < norm + "\U0010ffff"))
        elif c.kind is Kind.DATE:
            prefix, text = prefixed(value)
            s_low, s_high = date_bounds(text, c.name, prefix)
            conditions.append(range_condition(table.c.low, table.c.high, prefix, s_low, s_high))
        elif c.kind is Kind.QUANTITY:
            conditions.append(_quantity_condition(table, c.name, value))
        else:
            target_type, target_id = _split_reference(value, c.param.target if c.param else None)
            if c.param and c.param.indexed_as and target_type != c.param.target:
                continue  # the other param's rows hold such references; this one has none
            term = table.c.target_id == target_id
            conditions.append(and_(term, table.c.target_type == target_type) if target_type else term)
    condition = or_(*conditions) if conditions else false()  # e.g. patient=Group/1: nothing matches
    names = (c.param.index_name, *c.param.also_searches) if c.param else (c.name,)
    return and_(table.c.param == names[0] if len(names) == 1 else table.c.param.in_(names), condition)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _token_key(rtype: str, name: str, value: str) -> tuple[int, int | None]:
    """The hash of the code, and of the system with it when the value names one; ``system|``
    (any code in the system) is the parameter's system row."""
    if "|" in value:
        system, code = value.split("|", 1)
        if not code:
            if not system:
                raise bad(f"{name}={value}: a system or a code is required", name)
            return system_keys(rtype, name, system)[1], None
        full, code_only = token_keys(rtype, name, system, code)
        return code_only, full
    return token_hash(rtype, name, value), None


def _quantity_condition(table, name: str, value: str) -> ColumnElement:
    number, system, code = (value.split("|") + ["", ""])[:3]
    prefix, number = prefixed(number)
    if not _NUMBER.match(number):
        raise bad(f"{name}: {number!r} is not a number", name)
    decimals = len(number.split(".")[1]) if "." in number else 0
    half = 0.5 * 10 ** -decimals
    amount = float(number)
    col = table.c.value
    condition = {
        "eq": and_(col >= amount - half, col < amount + half), "ap": and_(col >= amount * 0.9, col <= amount * 1.1),
        "ne": or_(col < amount - half, col >= amount + half), "gt": col > amount, "lt": col < amount,
        "ge": col >= amount, "le": col <= amount, "sa": col > amount, "eb": col < amount,
    }[prefix]
    if system:
        condition = and_(condition, table.c.system == system)
    if code:
        condition = and_(condition, table.c.code == code)
    return condition


def _resource_condition(c: Criterion) -> ColumnElement:
    if c.kind == "_id":
        return R.c.id.in_(c.values)
    conditions = []
    for value in c.values:
        prefix, text = prefixed(value)
        s_low, s_high = date_bounds(text, c.name, prefix)
        conditions.append(range_condition(R.c.last_updated, R.c.last_updated, prefix, to_datetime(s_low), to_datetime(s_high)))
    return or_(*conditions)


def _probe(rtype: str, c: Criterion, anchor_type, anchor_id) -> ColumnElement:
    """EXISTS an index row of ``c`` for the resource named by the anchor columns."""
    table = TABLES[c.kind].alias()
    probe = exists().where(table.c.res_type == anchor_type, table.c.res_id == anchor_id,
                           _value_condition(rtype, c, table))
    return not_(probe) if c.modifier == "not" or c.values == ("true",) and c.modifier == "missing" else probe


def _driver(criteria: list[Criterion]) -> Criterion | None:
    usable = [c for c in criteria if c.modifier not in NEGATABLE and c.kind not in ("_lastUpdated", *LINKED)]
    return min(usable, key=lambda c: DRIVER_ORDER[c.kind], default=None)


def _sort_expression(rtype: str, key: str, desc: bool):
    if key == "_lastUpdated":
        return R.c.last_updated
    p = param(rtype, key)
    table = TABLES[p.kind]
    if p.kind is Kind.DATE:
        column, missing = (func.max(table.c.high), DATE_MIN) if desc else (func.min(table.c.low), DATE_MAX)
    else:
        column, missing = (func.max(table.c.norm), "") if desc else (func.min(table.c.norm), "\U0010ffff")
    value = select(column).where(table.c.res_type == R.c.type, table.c.res_id == R.c.id, table.c.param == key).scalar_subquery()
    return func.coalesce(value, missing)


def _compartment(request: SearchRequest) -> tuple[Criterion | None, tuple[str, ...]]:
    """The ``patient`` criterion whose path is the type's compartment link (so that the token
    rows' patient_id answers it too), and its patient ids."""
    path = PATIENT_PATHS.get(request.rtype)
    for c in request.criteria:
        if c.kind is Kind.REFERENCE and not c.modifier and c.param and c.param.name == "patient" and path \
                and c.param.paths == path[:1]:
            refs = [_split_reference(v, "Patient") for v in c.values]
            if all(t == "Patient" for t, _ in refs):
                return c, tuple(rid for _, rid in refs)
    return None, ()


def _linked_condition(rtype: str, c: Criterion, restriction: Callable[[str], ColumnElement | None]) -> ColumnElement:
    """A chain or ``_has`` criterion: through the reference index, to the ids of the other
    type's resources that match the inner criterion and that the caller may read."""
    refs = TABLES[Kind.REFERENCE].alias()
    inner = select(R.c.id).where(*base_query(SearchRequest(c.other, [c.inner]), restriction(c.other), restriction))
    inner = inner.correlate(None)
    if c.kind == CHAIN:
        linked = select(refs.c.res_id).where(refs.c.res_type == rtype, refs.c.param == c.param.index_name,
                                             refs.c.target_type == c.other, refs.c.target_id.in_(inner))
    else:
        linked = select(refs.c.target_id).where(refs.c.res_type == c.other, refs.c.param == c.param.index_name,
                                                refs.c.target_type == rtype, refs.c.res_id.in_(inner))
    return R.c.id.in_(linked.correlate(None))


def base_query(request: SearchRequest, restrict: ColumnElement | None,
               restriction: Callable[[str], ColumnElement | None] = lambda _type: None):
    """Conditions on the resource table. An index criterion drives as ``id IN (index rows)``, and
    the other index criteria are probed inside that subquery, on the index rows alone: a
    resource row is read only for a candidate that matched every index criterion. Beside a
    patient criterion, a token criterion drives through the (hash, patient_id) index."""
    rtype = request.rtype
    conditions = [R.c.type == rtype, R.c.deleted == false()]
    driver = _driver(request.criteria)
    patient_criterion, patients = _compartment(request)
    token = next((c for c in request.criteria if c.kind is Kind.TOKEN and c.modifier not in NEGATABLE), None)
    if driver is patient_criterion and token is not None:
        driver = token
    on_index = [c for c in request.criteria if c.kind not in (*COMMON, *LINKED) and c is not driver]
    conditions += [_resource_condition(c) for c in request.criteria if c.kind in COMMON]
    conditions += [_linked_condition(rtype, c, restriction) for c in request.criteria if c.kind in LINKED]
    if driver is None or driver.kind in COMMON:
        conditions += [_probe(rtype, c, R.c.type, R.c.id) for c in on_index]
    else:
        table = TABLES[driver.kind].alias()
        probes = [_probe(rtype, c, table.c.res_type, table.c.res_id) for c in on_index]
        value = _value_condition(rtype, driver, table)
        if driver is token and patients:
            value = and_(value, table.c.patient_id.in_(patients))
        inner = select(table.c.res_id).where(table.c.res_type == rtype, value, *probes)
        conditions.append(R.c.id.in_(inner))
    if restrict is not None:
        conditions.append(restrict)
    return conditions


def search(session: Session, request: SearchRequest, restrict: ColumnElement | None = None,
           include_filter: Callable[[list[Stored]], list[Stored]] | None = None,
           restriction: Callable[[str], ColumnElement | None] | None = None) -> SearchResult:
    """``restriction(type)``: what of another type the caller may read (chains and ``_has``
    search other types)."""
    conditions = base_query(request, restrict, restriction or (lambda _type: None))
    if request.summary_count:
        return SearchResult([], [], None, _count(session, conditions))
    keys = [(_sort_expression(request.rtype, key, desc), desc) for key, desc in request.sort if key != "_id"]
    id_desc = request.sort[-1][1] if request.sort else False  # the tie-break goes the last key's way
    columns = [R.c.type, R.c.id, R.c.version, R.c.last_updated, R.c.deleted, R.c.patient_id, R.c.content]
    columns += [value.label(f"sort_{i}") for i, (value, _) in enumerate(keys)]
    query = select(*columns).where(*conditions)
    if request.cursor is not None:
        query = query.where(_after(request.cursor, keys, id_desc))
    order = [value.desc() if desc else value for value, desc in keys]
    order.append(R.c.id.desc() if id_desc else R.c.id)
    rows = session.execute(query.order_by(*order).limit(request.count + 1)).all()
    page = rows[: request.count]
    matches = [Stored(*row[:7]) for row in page]
    next_cursor = None
    if len(rows) > request.count and page:
        last = page[-1]
        next_cursor = encode_cursor([*(_jsonable(v) for v in last[7:]), last[1]])
    # Every searchset has its total; a first page that holds every match counts itself.
    whole = request.cursor is None and next_cursor is None and len(rows) <= request.count
    total = len(matches) if whole else _count(session, conditions)
    included = _included(session, request, matches)
    if include_filter is not None:
        included = include_filter(included)
    return SearchResult(matches, included, next_cursor, total)


def _count(session: Session, conditions: list) -> int:
    return session.execute(select(func.count()).select_from(R).where(*conditions)).scalar_one()


def _jsonable(value):
    return value.isoformat() if isinstance(value, datetime) else value


def _after(cursor: tuple, keys: list[tuple[ColumnElement, bool]], id_desc: bool) -> ColumnElement:
    """After the cursor's row in the order of ``keys`` then id: the first key that differs decides."""
    if len(cursor) != len(keys) + 1 or not isinstance(cursor[-1], str):
        raise bad("malformed _cursor", "_cursor")
    values = [_cursor_value(v, expression) for v, (expression, _) in zip(cursor, keys)]
    ordered = [*((expression, v, desc) for (expression, desc), v in zip(keys, values)), (R.c.id, cursor[-1], id_desc)]
    branches, equal = [], []
    for expression, value, desc in ordered:
        branches.append(and_(*equal, expression < value if desc else expression > value))
        equal.append(expression == value)
    return or_(*branches)


def _cursor_value(value, expression):
    if not isinstance(value, int | float | str):
        raise bad("malformed _cursor", "_cursor")
    if isinstance(value, str) and expression is R.c.last_updated:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise bad("malformed _cursor", "_cursor") from None
    return value


# -- _include / _revinclude ------------------------------------------------------------------

MAX_ITERATIONS = 4


def _included(session: Session, request: SearchRequest, matches: list[Stored]) -> list[Stored]:
    """What ``_include`` and ``_revinclude`` add; the ``:iterate`` ones are followed again from
    what was added, up to MAX_ITERATIONS rounds or MAX_INCLUDED resources."""
    if not matches or not (request.includes or request.revincludes):
        return []
    seen = {(m.type, m.id) for m in matches}
    included: list[Stored] = []
    frontier, forward, backward = matches, request.includes, request.revincludes
    for _ in range(MAX_ITERATIONS):
        wanted = _linked_keys(session, frontier, forward, backward) - seen
        if not wanted or len(included) >= MAX_INCLUDED:
            break
        frontier = load_many(session, sorted(wanted)[: MAX_INCLUDED - len(included)])
        seen |= wanted
        included += frontier
        forward = [link for link in forward if link.iterate]
        backward = [link for link in backward if link.iterate]
        if not (forward or backward):
            break
    return included


def _linked_keys(session: Session, found: list[Stored], forward: list[Link], backward: list[Link]) -> set[tuple[str, str]]:
    by_type: dict[str, list[str]] = {}
    for s in found:
        by_type.setdefault(s.type, []).append(s.id)
    refs = TABLES[Kind.REFERENCE]
    wanted: set[tuple[str, str]] = set()
    for link in forward:
        ids = by_type.get(link.source)
        if ids:
            query = select(refs.c.target_type, refs.c.target_id).where(
                refs.c.res_type == link.source, refs.c.param == link.param, refs.c.res_id.in_(ids))
            if link.target:
                query = query.where(refs.c.target_type == link.target)
            wanted.update(session.execute(query.limit(MAX_INCLUDED)).all())
    for link in backward:
        for target_type, ids in by_type.items():
            if link.target not in (None, target_type):
                continue
            query = select(refs.c.res_type, refs.c.res_id).where(
                refs.c.target_type == target_type, refs.c.target_id.in_(ids),
                refs.c.res_type == link.source, refs.c.param == link.param)
            wanted.update(session.execute(query.limit(MAX_INCLUDED)).all())
    return wanted


def load_many(session: Session, keys: Iterable[tuple[str, str]]) -> list[Stored]:
    by_type: dict[str, list[str]] = {}
    for rtype, rid in keys:
        by_type.setdefault(rtype, []).append(rid)
    found: list[Stored] = []
    for rtype, rids in by_type.items():
        rows = session.execute(select(R.c.type, R.c.id, R.c.version, R.c.last_updated, R.c.deleted, R.c.patient_id,
                                      R.c.content).where(R.c.type == rtype, R.c.id.in_(rids), R.c.deleted == false())).all()
        found.extend(Stored(*row) for row in rows)
    return sorted(found, key=lambda s: (s.type, s.id))
