from ehr import store
from telemed.models import Detainee
from tests.conftest import both_databases


@both_databases
def test_patient_write_keeps_detainee_index(context, world):
    def check(session):
        detainee = session.get(Detainee, "fac-a-p1")
        assert detainee.facility_id == "fac-a"
        assert detainee.booking_number == "fac-a-1"
        stored = store.read(session, "Patient", "fac-a-p1")
        assert stored.version == 1 and stored.resource["meta"]["versionId"] == "1"

    context.db.call(check)
