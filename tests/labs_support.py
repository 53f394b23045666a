"""Shared helpers of the labs tests: results through the API, HL7 messages, an MLLP listener and client."""

from __future__ import annotations

import asyncio

import pytest
from hl7.mllp import open_hl7_connection

from labs.analyzers import Registration, register
from labs.mllp import serve

POTASSIUM, HGB, HBSAG = "2823-3", "718-7", "5196-1"


async def enter(client, headers: dict, patient: str, results: list[tuple[str, object]],
                when: str = "2026-03-01T08:00:00Z", order_id: str | None = None):
    body = {"patient_id": patient, "effective_at": when, "order_id": order_id,
            "results": [{"loinc": code, "value": value} for code, value in results]}
    return await client.post("/api/labs/results", json=body, headers=headers)


def register_analyzer(session, application: str, facility: str, *, addresses: tuple[str, ...] = ("127.0.0.1/32",),
                      sending_facility: str = "LAB", **cert) -> int:
    """Register an analyzer named after its MSH-3 (``cert``: cert_subject, cert_fingerprint)."""
    return register(session, Registration(application, facility, application, sending_facility, addresses,
                                          **cert)).id


def oru(booking: str, observations: list[tuple[str, str, str, str]], *, control: str = "MSG1",
        sender: str = "BC-5380^Mindray", when: str = "20260301080000") -> str:
    """An ORU^R01 (v2.3.1) with OBX rows (value type, code^text^system, value, unit)."""
    segments = [
        f"MSH|^~\\&|{sender}|LAB||TELEMED|{when}||ORU^R01|{control}|P|2.3.1||||||UNICODE",
        f"PID|1||{booking}^^^^MR||王^小明||19800501|M",
        f"OBR|1||S{control}|00001^Automated Count^99MRC|||{when}",
    ]
    for n, (kind, code, value, unit) in enumerate(observations, start=1):
        segments.append(f"OBX|{n}|{kind}|{code}||{value}|{unit}|||||F")
    return "\r".join(segments)


async def send_mllp(port: int, message: str, timeout: float = 10) -> str:
    reader, writer = await open_hl7_connection("127.0.0.1", port, encoding="utf-8")
    try:
        writer.writeblock(message.encode("utf-8"))
        await writer.drain()
        return (await asyncio.wait_for(reader.readblock(), timeout)).decode("utf-8")
    finally:
        writer.close()
        await writer.wait_closed()


def msa(answer: str) -> list[str]:
    """The MSA segment's fields of an acknowledgement."""
    return next(seg for seg in answer.split("\r") if seg.startswith("MSA")).split("|")


@pytest.fixture
async def mllp_port(context, world, unused_tcp_port_factory):
    """The real MLLP listener on a free loopback port, for the test's database."""
    port = unused_tcp_port_factory()
    server = await serve(context.db, context.settings, "127.0.0.1", port)
    yield port
    server.close()
    await server.wait_closed()
