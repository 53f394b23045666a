"""The server's audit writer as a child process: every event reaches the chain with its fields,
a flush waits for the child to commit, and a killed writer is replaced without breaking the chain."""

from __future__ import annotations

import dataclasses
import os
import signal

import pytest
from sqlmodel import select

from telemed.audit import AuditEvent, verify
from telemed.audit_process import AuditProcess
from telemed.models import AuditEntry
from telemed.timeutil import fhir_instant
from tests.conftest import both_databases
from tests.ehr_support import fhir
from tests.processes import wait_dead


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, audit_process=True)


def events(start: int, count: int) -> list[AuditEvent]:
    return [AuditEvent(action="fhir.read", outcome="allowed", user_id=3, username="doc-a", role="facility_doctor",
                       patient_id=f"p{n % 3}" if n % 4 else None, resource=f"Observation/o{n}", ip="127.0.0.1",
                       request_id=f"r{n}", reason="broke the glass" if n == 5 else "", break_glass=n == 5)
            for n in range(start, start + count)]


def stored(context) -> list[AuditEntry]:
    return context.db.call(lambda s: list(s.exec(select(AuditEntry).order_by(AuditEntry.seq))))


def fields(event: AuditEvent | AuditEntry) -> tuple:
    return (event.action, event.outcome, event.user_id, event.username, event.role, event.patient_id, event.resource,
            event.reason, event.ip, event.request_id, event.break_glass, fhir_instant(event.ts))


@both_databases
def test_events_reach_the_chain_with_their_fields(context):
    assert isinstance(context.audit, AuditProcess)
    sent = events(0, 40)
    for event in sent:
        context.audit.record(event)
    context.audit.flush()
    assert [fields(row) for row in stored(context)] == [fields(event) for event in sent]
    assert context.db.call(verify) == (40, [])


def test_a_killed_writer_is_replaced_and_the_chain_goes_on(context):
    for event in events(0, 10):
        context.audit.record(event)
    context.audit.flush()
    first = context.audit.pid
    os.kill(first, signal.SIGKILL)
    wait_dead(first)
    for event in events(10, 10):
        context.audit.record(event)
    context.audit.flush()
    assert context.audit.pid != first
    assert [row.request_id for row in stored(context)] == [f"r{n}" for n in range(20)]
    assert context.db.call(verify) == (20, [])


@both_databases
async def test_the_server_audits_reads_and_denials_through_the_child(client, world, login):
    doctor, other, officer = await login("doc-a"), await login("doc-b"), await login("officer-a")
    assert (await fhir(client, "GET", "/fhir/Patient/fac-a-p1", doctor))[0] == 200
    assert (await fhir(client, "GET", "/fhir/Patient/fac-a-p1", other))[0] == 404  # out of scope reads as unknown
    response = await client.get("/api/audit?patient=fac-a-p1", headers=officer)  # it flushes first
    entries = [e["resource"] for e in (await response.json())["entry"]]
    reads = [(e["agent"][0]["who"]["identifier"]["value"], e["outcome"]) for e in entries
             if e["subtype"][0]["code"] == "fhir.read"]
    assert reads == [("doc-b", "4"), ("doc-a", "0")]
