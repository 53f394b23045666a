"""``_summary`` and ``_elements``: the parts of a resource a search asked for, tagged SUBSETTED.

Which elements are in the summary, and which are mandatory, comes from the fhir.resources R4B
models' element metadata (the specification's ``isSummary`` and ``min``)."""

from __future__ import annotations

from functools import cache

import orjson

from ehr.validation import model_for

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
ALWAYS = frozenset({"resourceType", "id", "meta"})


@cache
def _elements(rtype: str, flag: str) -> frozenset[str]:
    fields = model_for(rtype).model_fields
    return frozenset((f.alias or name) for name, f in fields.items()
                     if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get(flag))


def kept(rtype: str, summary: str | None, elements: tuple[str, ...]) -> frozenset[str] | None:
    """The top-level elements to keep (None: all but ``text`` for ``_summary=data``, or all)."""
    if summary == "true":
        return ALWAYS | _elements(rtype, "summary_element_property")
    if summary == "text":
        return ALWAYS | {"text"} | _elements(rtype, "element_required")
    if elements:
        return ALWAYS | _elements(rtype, "element_required") | set(elements)
    return None


def shaped(rtype: str, content: bytes, summary: str | None, elements: tuple[str, ...]) -> bytes:
    """The stored bytes as they are when nothing is asked; else the subset, tagged."""
    if summary in (None, "false") and not elements:
        return content
    resource = orjson.loads(content)
    keep = kept(rtype, summary, elements)
    if keep is None:
        resource.pop("text", None)
    else:
        resource = {k: v for k, v in resource.items() if k in keep}
    meta = dict(resource.get("meta", {}))
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    resource["meta"] = meta
    return orjson.dumps(resource)
