"""The labs demo data: months of results, one open critical alert, orders and a held message."""

from __future__ import annotations

from sqlalchemy import func, select

from labs import analyzers, codemaps, demo, hl7
from labs.models import HeldMessage, LabAlert, LabOrder, LabResult
from telemed.demo import DemoContext
from tests.conftest import make_patient


def test_demo_loads_results_alert_orders_and_held_message(context, world):
    def people(session) -> list[str]:
        return [make_patient(session, "fac-a", f"D{n:03d}", sex="female" if n % 5 == 0 else "male",
                             resource_id=f"demo-{n:03d}") for n in range(demo.PATIENTS + 1)]

    ids = context.db.call(people)
    ctx = DemoContext(db=context.db, settings=context.settings, facility_id="fac-a", hospital_id="hosp-1",
                      users={"doctor": world.users["doc-a"]}, patient_ids=ids)
    demo.load(ctx)

    def count(session, model, *where) -> int:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar()

    results = context.db.call(count, LabResult)
    abnormal = context.db.call(count, LabResult, LabResult.flag != "N")
    assert results > demo.PATIENTS * demo.MONTHS * 50 and 0 < abnormal < results / 5
    [alert] = context.db.call(lambda s: s.execute(select(LabAlert)).scalars().all())
    assert alert.loinc == "2823-3" and alert.flag == "HH" and alert.acknowledged_at is None
    assert context.db.call(count, LabOrder, LabOrder.status == "active") == 3
    # Two analyzers with their maps; the chemistry analyzer's unmapped code waits to be mapped.
    names = context.db.call(lambda s: {a.name: len(codemaps.entries(s, a.id)) for a in analyzers.listing(s)})
    assert names == {"生化仪 1 · Chemistry 1": 9, "血球仪 1 · Haematology 1": 10}
    held = context.db.call(lambda s: s.execute(select(HeldMessage).order_by(HeldMessage.id)).scalars().all())
    assert [h.analyzer_id is not None for h in held] == [False, True]
    codes = context.db.call(codemaps.code_map, held[1].analyzer_id)
    assert [c["code"] for c in hl7.unknown_codes(held[1].content, codes)] == ["12"]
    by_hl7 = context.db.call(lambda s: s.execute(select(LabResult).where(LabResult.source == "hl7")).scalars().all())
    assert ("14749-6", round(92 * 0.05551, 4)) in {(r.loinc, r.value_num) for r in by_hl7}  # mapped, mg/dL converted
    k = context.db.call(lambda s: s.get(LabResult, alert.result_id))
    assert k.conditions == "haemolysed"
    assert context.db.call(count, LabResult, LabResult.status == "corrected") == 1
    assert context.db.call(count, LabResult, LabResult.comparator == "<") == 1
