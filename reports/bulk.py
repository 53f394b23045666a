"""Bulk first-version writes of trusted, new resources (synthetic data only): the same rows
``ehr.store.create`` writes (current version, history, search index), in one INSERT per table
instead of several statements per resource. Not for Patients (their index row needs the store)."""

from __future__ import annotations

from collections import defaultdict

import orjson
from sqlalchemy import insert
from sqlmodel import Session

from ehr import index
from ehr.models import FhirHistory, FhirResource
from ehr.store import patient_of
from telemed.timeutil import fhir_instant, utcnow


def create_many(session: Session, items: list[tuple[str, dict]]) -> None:
    now = utcnow()
    meta = {"versionId": "1", "lastUpdated": fhir_instant(now)}
    current, history = [], []
    search: dict = defaultdict(list)
    for rid, resource in items:
        rtype = resource["resourceType"]
        if rtype == "Patient":
            raise ValueError("Patients go through ehr.store, which keeps the detainee index")
        body = {**resource, "id": rid, "meta": meta}
        content = orjson.dumps(body)
        current.append({"type": rtype, "id": rid, "version": 1, "last_updated": now, "deleted": False,
                        "patient_id": patient_of(body), "content": content})
        history.append({"type": rtype, "id": rid, "version": 1, "last_updated": now, "method": "POST",
                        "deleted": False, "content": content})
        for kind, rows in index.rows_of(rtype, rid, body).items():
            search[kind].extend(rows)
    if current:
        session.execute(insert(FhirResource), current)
        session.execute(insert(FhirHistory), history)
        index.write_rows(session, search)
