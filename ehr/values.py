"""A result as it must be read: its value as written (a comparator, a range, a ratio) and the
marks that go with it (a status other than final; a specimen's conditions, such as haemolysed).
The record page, the labs pages and the exam reports all say these the same way."""

from __future__ import annotations

from telemed.i18n import translate

# Statuses a value must be read with; "final" goes without saying.
SHOWN_STATUSES = ("preliminary", "corrected", "amended", "cancelled", "entered-in-error")
WITH_HISTORY = ("corrected", "amended", "entered-in-error", "cancelled")


def codes(value: dict | None) -> set[str]:
    return {c.get("code", "") for c in (value or {}).get("coding", [])}


def concept(value: dict | None) -> str:
    """What a CodeableConcept says, as written."""
    if not value:
        return ""
    if value.get("text"):
        return value["text"]
    for coding in value.get("coding", []):
        if coding.get("display") or coding.get("code"):
            return coding.get("display") or coding["code"]
    return ""


def number(value: float | int | None) -> str:
    return "" if value is None else f"{value:g}"


def reference_range(observation: dict) -> str:
    """The first reference range as people write it (3.5–5.3, ≥ 60, ≤ 5.0), else its text. A bound
    is part of the normal range, so a one-sided range reads ≥ or ≤, never > or <."""
    ref = (observation.get("referenceRange") or [{}])[0]
    low, high = ref.get("low", {}).get("value"), ref.get("high", {}).get("value")
    if low is not None and high is not None:
        return f"{number(low)}–{number(high)}"
    if low is not None:
        return f"≥ {number(low)}"
    if high is not None:
        return f"≤ {number(high)}"
    return ref.get("text", "")


def _amount(q: dict) -> str:
    """A Quantity's number as written, with its comparator (``<0.5``)."""
    value = q.get("value", "")
    return f"{q.get('comparator', '')}{value:g}" if isinstance(value, int | float) else str(value)


def _unit(q: dict) -> str:
    return q.get("unit") or q.get("code", "")


def quantity(observation: dict) -> str:
    if "valueQuantity" in observation:
        q = observation["valueQuantity"]
        return f"{_amount(q)} {_unit(q)}".strip()
    if "valueRange" in observation:
        low, high = observation["valueRange"].get("low", {}), observation["valueRange"].get("high", {})
        return f"{_amount(low)}-{_amount(high)} {_unit(high) or _unit(low)}".strip()
    if "valueRatio" in observation:
        ratio = observation["valueRatio"]
        return f"{_amount(ratio.get('numerator', {}))}:{_amount(ratio.get('denominator', {}))}"
    if "component" in observation:
        return " / ".join(quantity(c) for c in observation["component"])
    for key in ("valueString", "valueCodeableConcept", "valueBoolean", "valueInteger"):
        if key in observation:
            value = observation[key]
            return concept(value) if isinstance(value, dict) else str(value)
    return ""


def marks(resource: dict, lang: str) -> list[tuple[str, str]]:
    """(kind, label) of what must be read with a value: its status when it is not simply final
    (corrected, preliminary ...), and its specimen's conditions (a haemolysed potassium)."""
    found = []
    status = resource.get("status", "")
    if status in SHOWN_STATUSES:
        found.append((f"status-{status}", translate(lang, f"ehr.result_status.{status}")))
    for contained in resource.get("contained", []):
        if contained.get("resourceType") == "Specimen":
            found += [("condition", condition_label(codes(c), concept(c), lang)) for c in contained.get("condition", [])]
    return found


def condition_label(found: set[str], fallback: str, lang: str) -> str:
    """A specimen condition in the reader's language (HL7 v2-0493 or SNOMED CT code)."""
    for code in sorted(found):
        key = f"ehr.condition.{code}"
        text = translate(lang, key)
        if text != key:
            return text
    return fallback
