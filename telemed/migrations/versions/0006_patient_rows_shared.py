"""drop the reference rows that duplicated another param's

Revision ID: 0006
Revises: 0005
``patient`` on most clinical types has the paths of ``subject`` (or ``actor``, ``target``),
narrowed to Patient targets: it now searches that param's rows, and its own copies go.
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SHARING = ("Encounter", "Condition", "MedicationRequest", "MedicationStatement", "Observation", "DiagnosticReport",
           "ServiceRequest", "DocumentReference", "Appointment", "Provenance")


def upgrade() -> None:
    types = ", ".join(f"'{t}'" for t in SHARING)
    op.execute(f"DELETE FROM fhir_reference WHERE param = 'patient' AND res_type IN ({types})")


def downgrade() -> None:
    for rtype in SHARING:
        source = {"Appointment": "actor", "Provenance": "target"}.get(rtype, "subject")
        op.execute(f"INSERT INTO fhir_reference (res_type, res_id, param, target_type, target_id) "
                   f"SELECT res_type, res_id, 'patient', target_type, target_id FROM fhir_reference "
                   f"WHERE res_type = '{rtype}' AND param = '{source}' AND target_type = 'Patient'")
