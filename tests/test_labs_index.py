"""The search-index rows a lab import writes (through the per-element cache of ``ehr.index``)
are exactly those plain extraction gives for the stored resources."""

from __future__ import annotations

import orjson
from sqlalchemy import select

from ehr import index
from ehr.models import FhirResource
from labs import importer
from tests.conftest import both_databases

# Two panels of one sample, a qualitative result, a critical potassium and a delta on the same
# detainee, and a second detainee: repeated elements come from the cache, new ones are extracted.
RESULTS = """booking_number,loinc,value,unit,collected_at
fac-a-1,2823-3,4.2,mmol/L,2026-03-01 08:00
fac-a-1,2951-2,140,mmol/L,2026-03-01 08:00
fac-a-1,718-7,13.1,g/dL,2026-03-01 08:00
fac-a-1,5196-1,阴性,,2026-03-01 08:00
fac-a-1,2823-3,6.9,mmol/L,2026-03-02 08:00
fac-a-2,2823-3,4.2,mmol/L,2026-03-01 08:00
fac-a-2,718-7,12.5,g/dL,2026-03-01T09:00:00+08:00
"""


def stored_and_indexed(session) -> tuple[list[tuple[str, str, str | None, dict]], dict]:
    resources = [(r.type, r.id, r.patient_id, orjson.loads(r.content))
                 for r in session.execute(select(FhirResource).where(
                     FhirResource.type.in_(("Observation", "DiagnosticReport")))).scalars()]
    written = {kind: set(map(tuple, session.execute(select(table)).all())) for kind, table in index.TABLES.items()}
    return resources, written


@both_databases
def test_import_writes_the_index_rows_extraction_gives(context, world):
    frame = importer.read_frame(RESULTS.encode(), "upload.csv")
    report = importer.import_frame(context.db, frame, importer.profiles()["generic"], context.settings.tz,
                                   facility_id="fac-a")
    assert report.added == 7 and report.error_count == 0 and report.alerts == 1
    resources, written = context.db.call(stored_and_indexed)
    assert [r[0] for r in resources].count("Observation") == 7 and len(resources) > 7  # and reports
    expected: dict = {kind: set() for kind in index.TABLES}
    for rtype, rid, patient_id, resource in resources:
        for kind, rows in index.extracted_rows(rtype, rid, resource, patient_id).items():
            expected[kind] |= rows
    for kind in index.TABLES:
        lab_rows = {row for row in written[kind] if row[0] in ("Observation", "DiagnosticReport")}
        assert lab_rows == expected[kind], kind
    assert expected[index.Kind.QUANTITY] and expected[index.Kind.REFERENCE] and expected[index.Kind.DATE]


def test_cached_rows_equal_extracted_rows_when_elements_repeat():
    first = {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org",
             "code": "2823-3"}]}, "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-03-01T00:00:00Z",
             "valueQuantity": {"value": 4.2, "unit": "mmol/L", "system": "http://unitsofmeasure.org",
                               "code": "mmol/L"}}
    second = first | {"id": "o2", "subject": {"reference": "Patient/p2"}, "valueQuantity": {"value": 5}}
    for rid, resource, patient in (("o1", first, "p1"), ("o2", second, "p2"), ("o1", first, "p1")):
        assert index.rows_of("Observation", rid, resource, patient) == \
            index.extracted_rows("Observation", rid, resource, patient)
