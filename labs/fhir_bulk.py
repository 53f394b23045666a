"""First versions of many new resources in one go: the bulk twin of ``ehr.store.create``.

``store.create`` flushes the ORM once per resource (about 1,200 resources/s on SQLite here);
an analyzer import writes thousands of Observations per second, so this writes the same
rows (current version, history, search index) with one executemany per table. Only for
resources built by our own code from trusted templates, with fresh ids.
"""

from __future__ import annotations

import orjson
from sqlmodel import Session

from ehr import index
from ehr.models import FhirHistory, FhirResource
from ehr.store import patient_of
from labs.fast_insert import insert_rows
from telemed.timeutil import fhir_instant, utcnow


def write_new(session: Session, resources: list[dict]) -> None:
    """Store each resource (which carries its new ``id``) as version 1."""
    if not resources:
        return
    now = utcnow()
    meta = {"versionId": "1", "lastUpdated": fhir_instant(now)}
    current, history, search = [], [], {}
    for resource in resources:
        resource["meta"] = meta
        rtype, rid = resource["resourceType"], resource["id"]
        content = orjson.dumps(resource)
        current.append({"type": rtype, "id": rid, "version": 1, "last_updated": now, "deleted": False,
                        "patient_id": patient_of(resource), "content": content})
        history.append({"type": rtype, "id": rid, "version": 1, "last_updated": now, "method": "POST",
                        "deleted": False, "content": content})
        for kind, rows in index.rows_of(rtype, rid, resource).items():
            search.setdefault(kind, []).extend(rows)
    insert_rows(session, FhirResource.__table__, current)
    insert_rows(session, FhirHistory.__table__, history)
    for kind, rows in search.items():
        insert_rows(session, index.TABLES[kind], rows)
