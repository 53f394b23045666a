"""Search depth from issue 16 against the real server on both databases: multi-key ``_sort``
stable across pages, token ``:text``, ``system|`` and ``:missing``, and what stays refused."""

from __future__ import annotations

from fhirpy import AsyncFHIRClient

from ehr import store
from tests.conftest import both_databases
from tests.ehr_support import HEART_RATE, fhir, observation

DAYS = ("2026-03-02", "2026-03-01", "2026-03-02", "2026-03-01", "2026-03-02", "2026-03-03")


def seed_days(context) -> list[str]:
    """Observations written in this order (so _lastUpdated grows with it), on DAYS."""
    def write(session):
        return [store.create(session, observation("fac-a-p1", when=f"{day}T08:00:00Z", value=60 + i)).id
                for i, day in enumerate(DAYS)]
    return context.db.call(write)


async def every_page(client, url: str, headers: dict) -> list[str]:
    """The ids of every page, following the next links."""
    found: list[str] = []
    while url:
        status, page, _ = await fhir(client, "GET", url, headers)
        assert status == 200, page
        found += [e["resource"]["id"] for e in page.get("entry", [])]
        nxt = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        url = nxt.split(str(client.make_url("")).rstrip("/"))[-1] if nxt else None
    return found


@both_databases
async def test_multi_key_sort_is_stable_across_pages(client, login, context):
    written = seed_days(context)
    doc = await login("doc-a")
    order = list(range(len(DAYS)))
    newest_day_first = sorted(order, key=lambda i: (-int(DAYS[i].replace("-", "")), i))
    base = f"/fhir/Observation?patient=fac-a-p1&code={HEART_RATE}&_count=2"
    assert await every_page(client, f"{base}&_sort=-date,_lastUpdated", doc) == [written[i] for i in newest_day_first]
    oldest_day_last_written_first = sorted(order, key=lambda i: (DAYS[i], -i))
    assert await every_page(client, f"{base}&_sort=date,-_lastUpdated", doc) == [written[i] for i in oldest_day_last_written_first]
    by_day_then_id = sorted(order, key=lambda i: (DAYS[i], written[i]))
    assert await every_page(client, f"{base}&_sort=date,_id", doc) == [written[i] for i in by_day_then_id]
    fhirpy = AsyncFHIRClient(str(client.make_url("/fhir")), authorization=doc["Authorization"])
    found = await fhirpy.resources("Observation").search(patient="fac-a-p1").sort("-date", "_lastUpdated").fetch_all()
    assert [r["id"] for r in found] == [written[i] for i in newest_day_first]


@both_databases
async def test_sort_refusals_name_the_key(client, login, context):
    doc = await login("doc-a")
    for value in ("status", "date,date", "_id,date", "date,", "-nonsense"):
        status, said, _ = await fhir(client, "GET", f"/fhir/Observation?_sort={value}", doc)
        assert status == 400 and said["issue"][0]["expression"] == ["_sort"], value
    status, said, _ = await fhir(client, "GET", "/fhir/Observation?_sort=date&_cursor=WzEsMiwzXQ", doc)  # [1,2,3]
    assert status == 400 and said["issue"][0]["expression"] == ["_cursor"]


def seed_coded(context) -> dict[str, str]:
    """Observations coded in different ways: name -> id (one in facility B, which doc-a never sees)."""
    def write(session):
        french = observation("fac-a-p1", display="Fréquence cardiaque")
        texted = observation("fac-a-p1")
        texted["code"]["text"] = "Pulse at rest"
        uncategorised = observation("fac-a-p1")
        del uncategorised["category"]
        local = observation("fac-a-p1")
        local["code"] = {"coding": [{"system": "urn:local", "code": "HR"}]}
        return {name: store.create(session, body).id for name, body in (
            ("french", french), ("texted", texted), ("uncategorised", uncategorised), ("local", local),
            ("other", observation("fac-b-p1", display="Fréquence cardiaque")))}
    return context.db.call(write)


async def matching(client, doc: dict, query: str) -> set[str]:
    status, found, _ = await fhir(client, "GET", f"/fhir/Observation?{query}", doc)
    assert status == 200, (query, found)
    assert found["total"] == len(found.get("entry", []))
    return {e["resource"]["id"] for e in found.get("entry", [])}


@both_databases
async def test_token_text_system_and_missing(client, login, context):
    made = seed_coded(context)
    doc = await login("doc-a")
    mine = {made[n] for n in ("french", "texted", "uncategorised", "local")}
    # :text: the CodeableConcept's text or a display, from the start, ignoring case and accents.
    assert await matching(client, doc, "code:text=FREQUENCE") == {made["french"]}
    assert await matching(client, doc, "code:text=pulse") == {made["texted"]}
    assert await matching(client, doc, "code:text=heart") == {made["texted"], made["uncategorised"]}
    assert await matching(client, doc, "code:text=rate") == set()  # not from the middle
    assert await matching(client, doc, "combo-code:text=pulse,fréq") == {made["texted"], made["french"]}
    # system|: any code of that system.
    assert await matching(client, doc, "code=http://loinc.org|") == mine - {made["local"]}
    assert await matching(client, doc, "code=urn:local|") == {made["local"]}
    assert await matching(client, doc, "code=urn:nothing|") == set()
    assert await matching(client, doc, "code:not=urn:local|") == mine - {made["local"]}
    # :missing on tokens.
    assert await matching(client, doc, "category:missing=true") == {made["uncategorised"]}
    assert await matching(client, doc, "category:missing=false") == mine - {made["uncategorised"]}
    assert await matching(client, doc, "status:missing=true") == set()
    status, said, _ = await fhir(client, "GET", "/fhir/Observation?category:missing=maybe", doc)
    assert status == 400 and said["issue"][0]["expression"] == ["Observation?category:missing"]
    fhirpy = AsyncFHIRClient(str(client.make_url("/fhir")), authorization=doc["Authorization"])
    found = await fhirpy.resources("Observation").search(**{"code:text": "fréquence"}).fetch_all()
    assert [r["id"] for r in found] == [made["french"]]


@both_databases
def test_migration_0025_reindexes_what_was_written_before(db_url):
    """A store written before 0025 has no system or text rows: the migration adds them."""
    from sqlalchemy import create_engine, text
    from sqlmodel import Session

    from ehr.index import presence_range
    from ehr.params import INDEXED
    from telemed.schema import upgrade

    upgrade(db_url, "0025-1")
    engine = create_engine(db_url)
    with Session(engine) as session:  # written, then stripped to what the older indexer wrote
        written = store.create(session, observation("fac-a-p1", display="Fréquence cardiaque")).id
        tokens_now = session.execute(text("SELECT count(*) FROM fhir_token")).scalar()
        session.execute(text("DELETE FROM fhir_string WHERE param = :p"), {"p": "code:text"})
        for p in INDEXED["Observation"]:
            low, high = presence_range("Observation", p.name)
            session.execute(text("DELETE FROM fhir_token WHERE h_full BETWEEN :low AND :high"), {"low": low, "high": high})
        session.commit()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM fhir_string")).scalar() == 0
        assert connection.execute(text("SELECT count(*) FROM fhir_token")).scalar() < tokens_now
    engine.dispose()
    upgrade(db_url, "0025")
    engine = create_engine(db_url)
    with engine.connect() as connection:
        texts = connection.execute(text("SELECT res_id, param, norm FROM fhir_string")).all()
        assert texts == [(written, "code:text", "frequence cardiaque")]
        assert connection.execute(text("SELECT count(*) FROM fhir_token")).scalar() == tokens_now
    engine.dispose()


SYSTOLIC, DIASTOLIC, BP_PANEL, URINE_PROTEIN, APPEARANCE, LMP = "8480-6", "8462-4", "85354-9", "2888-6", "5767-9", "8665-2"


def coded(patient: str, code: str, **value) -> dict:
    body = {k: v for k, v in observation(patient, code=code).items() if k != "valueQuantity"}
    return {**body, **value}


def bp(systolic: float, diastolic: float) -> dict:
    def component(code: str, value: float) -> dict:
        return {"code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "valueQuantity": {"value": value, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}
    return coded("fac-a-p1", BP_PANEL, component=[component(SYSTOLIC, systolic), component(DIASTOLIC, diastolic)])


@both_databases
async def test_composites_pair_their_halves(client, login, context):
    def write(session):
        return {name: store.create(session, body).id for name, body in (
            ("high", bp(150, 80)), ("low", bp(110, 70)), ("other-facility", {**bp(150, 105), "subject": {"reference": "Patient/fac-b-p1"}}),
            ("negative", coded("fac-a-p1", URINE_PROTEIN, valueCodeableConcept={
                "coding": [{"system": "http://snomed.info/sct", "code": "260385009", "display": "Negative"}]})),
            ("clear", coded("fac-a-p1", APPEARANCE, valueString="Clear")),
            ("dated", coded("fac-a-p1", LMP, valueDateTime="2026-02-14")))}
    made = context.db.call(write)
    doc = await login("doc-a")
    # The two halves from the SAME component: diastolic 80 is not above 100 though systolic is.
    assert await matching(client, doc, f"component-code-value-quantity={DIASTOLIC}$gt100") == set()
    assert await matching(client, doc, f"component-code-value-quantity={SYSTOLIC}$gt120") == {made["high"]}
    assert await matching(client, doc, f"component-code-value-quantity=http://loinc.org|{SYSTOLIC}$gt120") == {made["high"]}
    assert await matching(client, doc, f"component-code-value-quantity=urn:other|{SYSTOLIC}$gt100") == set()
    assert await matching(client, doc, f"component-code-value-quantity={DIASTOLIC}$lt75") == {made["low"]}
    assert await matching(client, doc, f"component-code-value-quantity={SYSTOLIC}$gt120|http://unitsofmeasure.org|mm[Hg]") \
        == {made["high"]}
    assert await matching(client, doc, f"code-value-concept={URINE_PROTEIN}$http://snomed.info/sct|260385009") == {made["negative"]}
    assert await matching(client, doc, f"code-value-concept={APPEARANCE}$260385009") == set()
    assert await matching(client, doc, f"code-value-string={APPEARANCE}$CLE") == {made["clear"]}
    assert await matching(client, doc, f"code-value-string={URINE_PROTEIN}$cle") == set()
    assert await matching(client, doc, f"code-value-date={LMP}$ge2026-02") == {made["dated"]}
    assert await matching(client, doc, f"code-value-date={LMP}$lt2026-02-14") == set()
    assert await matching(client, doc, "value-string=cl") == {made["clear"]}
    assert await matching(client, doc, "value-concept=http://snomed.info/sct|260385009") == {made["negative"]}
    assert await matching(client, doc, "value-date=2026-02") == {made["dated"]}
    for refused in (f"component-code-value-quantity={SYSTOLIC}", f"component-code-value-quantity={SYSTOLIC}$gt1,$gt2",
                    f"component-code-value-quantity:missing=true", "code-value-string=x"):
        status, said, _ = await fhir(client, "GET", f"/fhir/Observation?{refused}", doc)
        assert status == 400 and said["issue"][0]["expression"][0].startswith("Observation?"), refused
    fhirpy = AsyncFHIRClient(str(client.make_url("/fhir")), authorization=doc["Authorization"])
    found = await fhirpy.resources("Observation").search(**{"component-code-value-quantity": f"{SYSTOLIC}$gt140"}).fetch_all()
    assert [r["id"] for r in found] == [made["high"]]


def plan(session, request) -> str:
    """The database's plan for the search's candidate query (indexes only: no sequential scan)."""
    from sqlalchemy import select, text

    from ehr.search import R, base_query

    query = select(R.c.id).where(*base_query(request, None))
    sql = str(query.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    if session.get_bind().dialect.name == "sqlite":
        return " ".join(str(row[-1]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
    session.execute(text("SET LOCAL enable_seqscan = off"))
    return " ".join(row[0] for row in session.execute(text(f"EXPLAIN {sql}")))


@both_databases
def test_each_new_query_shape_uses_an_index(context):
    """On a store of Observations coded in 400 systems, with the planner's statistics."""
    from sqlalchemy import text

    from ehr.search import parse

    def seed(session):
        for n in range(400):
            body = observation("fac-a-p1", display=f"Reading {n}")
            body["code"]["coding"][0]["system"] = f"urn:system-{n}"
            store.create(session, body)
    context.db.call(seed)
    context.db.call(lambda s: s.execute(text("ANALYZE")))
    shapes = {  # query -> the index that must serve it
        "code=urn:system-7|": "ix_fhir_token_hash",
        "patient=fac-a-p1&code:not=urn:system-7|": "ix_fhir_token_hash",
        "code:text=reading 7": "ix_fhir_string_value",
        "patient=fac-a-p1&category:missing=true": "fhir_token_pkey|sqlite_autoindex_fhir_token",
        f"patient=fac-a-p1&component-code-value-quantity={SYSTOLIC}$gt140": "fhir_quantity_pkey|sqlite_autoindex_fhir_quantity",
    }
    for query, index in shapes.items():
        pairs = [tuple(part.split("=", 1)) for part in query.split("&")]
        found = context.db.call(lambda s: plan(s, parse("Observation", pairs)))
        assert any(name in found for name in index.split("|")), (query, found)
        assert "SCAN fhir_token " not in found and "Seq Scan" not in found, (query, found)
