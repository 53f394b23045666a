"""Migration 0014 re-keys the lab results already stored, so that a later version finds them."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

from labs.results import identity_key
from telemed.db import normalise_url
from telemed.schema import upgrade
from tests.conftest import both_databases

AT = datetime(2026, 3, 1, 0, 0, tzinfo=timezone.utc)


@both_databases
def test_existing_results_get_their_identity_as_key(db_url):
    upgrade(db_url, "0010")
    engine = sa.create_engine(normalise_url(db_url))

    def stored(moment: datetime):  # as the timestamp column keeps it: text on SQLite
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f") if engine.dialect.name == "sqlite" else moment

    with engine.begin() as connection:
        for n, (value, key, at) in enumerate(((4.1, "old-a", AT), (4.3, "old-b", AT), (5.0, "old-c", AT.replace(hour=1))),
                                             start=1):
            connection.execute(sa.text(
                "INSERT INTO lab_result (patient_id, facility_id, loinc, value_num, value_code, unit, flag, delta_flag,"
                " effective_at, recorded_at, source, import_key, observation_id, report_id)"
                " VALUES ('p1', 'f1', '2823-3', :value, '', 'mmol/L', 'N', false, :at, :at, 'import', :key, :obs, 'r')"),
                {"value": value, "at": stored(at), "key": key, "obs": f"o{n}"})
    upgrade(db_url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT observation_id, import_key, status, flag FROM lab_result "
                                          "ORDER BY id")).all()
    engine.dispose()
    keys = {obs: key for obs, key, _, _ in rows}
    assert keys["o1"] == identity_key("p1", "2823-3", None, AT)
    assert keys["o2"] not in (keys["o1"], "old-b")  # two values at one time stay two results
    assert keys["o3"] == identity_key("p1", "2823-3", None, AT.replace(hour=1))
    assert {(status, flag) for _, _, status, flag in rows} == {("final", "N")}
