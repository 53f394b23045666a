"""The catalogue as ObservationDefinition resources (id ``lab-<loinc>``), written only when changed."""

from __future__ import annotations

import orjson
from sqlmodel import Session

from ehr import store
from ehr.errors import FhirError
from labs import fhir
from labs.catalog import catalogue


def sync_catalogue(session: Session) -> int:
    """Create or update each definition whose content differs; returns how many were written."""
    cat = catalogue()
    missing: dict[str, dict] = {}
    written = 0
    for test in cat.tests.values():
        rid = fhir.definition_id(test.loinc)
        wanted = fhir.observation_definition(test, cat.sources)
        try:
            current = store.read(session, "ObservationDefinition", rid).resource
        except FhirError as exc:
            if exc.status == 404:  # never written: created in bulk below
                missing[rid] = wanted
                continue
            current = None  # deleted: written again
        if current is None or not _same(current, wanted):
            store.update(session, wanted, rid, validated=True)
            written += 1
    store.create_many(session, list(missing.values()), ids=list(missing), validated=True)
    return written + len(missing)


def _same(stored: dict, wanted: dict) -> bool:
    body = {k: v for k, v in stored.items() if k not in ("meta", "id")}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS) == orjson.dumps(wanted, option=orjson.OPT_SORT_KEYS)
