"""Authenticated MLLP: only registered analyzers file, over plain TCP and over TLS with client
certificates; every refusal and every filing is audited. Real listener, real sockets."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import replace

import pytest
from hl7.mllp import open_hl7_connection
from sqlalchemy import select

from labs.analyzers import PeerCertificate, find, remove
from labs.mllp import serve, tls_context
from labs.models import HeldMessage, LabResult
from telemed.audit import about_patients
from telemed.models import AuditEntry
from tests.conftest import both_databases
from tests.labs_support import msa, oru, register_analyzer, send_mllp
from tests.tls_support import Authority

POTASSIUM_CRITICAL = [("NM", "2823-3^K^LN", "7.9", "mmol/L")]



def filed(context) -> list[LabResult]:
    return context.db.call(lambda s: s.execute(select(LabResult)).scalars().all())


def trail(context, action: str) -> list[AuditEntry]:
    return context.db.call(lambda s: s.execute(select(AuditEntry).where(AuditEntry.action == action)
                                               .order_by(AuditEntry.seq)).scalars().all())




@both_databases
async def test_unknown_senders_get_ar_and_nothing_is_filed(context, mllp_port, caplog):
    context.db.call(register_analyzer, "BC-5380", "fac-a")
    context.db.call(register_analyzer, "BS-240", "fac-a", addresses=("10.20.0.0/16",))
    context.db.call(register_analyzer, "XN-1000", "fac-a", cert_subject="CN=xn-1000,O=Telemed tests")
    refusals = {
        "unregistered MSH-3": oru("fac-a-1", POTASSIUM_CRITICAL, control="R1", sender="ROGUE"),
        "registered MSH-3, other MSH-4": oru("fac-a-1", POTASSIUM_CRITICAL, control="R2").replace("|LAB|", "|ICU|", 1),
        "address not allowed": oru("fac-a-1", POTASSIUM_CRITICAL, control="R3", sender="BS-240"),
        "certificate registered, plain TCP": oru("fac-a-1", POTASSIUM_CRITICAL, control="R4", sender="XN-1000"),
        "not HL7": "GET / HTTP/1.1",
    }
    for case, message in refusals.items():
        answer = await send_mllp(mllp_port, message)
        assert msa(answer)[1] == "AR", case
        assert msa(answer)[3] == "sender not authorised: nothing filed", case  # no hint for the sender
    assert filed(context) == [] and context.db.call(lambda s: s.execute(select(HeldMessage)).all()) == []
    refused = trail(context, "labs.hl7.refused")
    assert [e.outcome for e in refused] == ["denied"] * 5 and {e.ip for e in refused} == {"127.0.0.1"}
    reasons = [e.reason for e in refused]
    assert "ROGUE/LAB (MSH-3/MSH-4) is not a registered analyzer" in reasons[0]
    assert "BC-5380/ICU (MSH-3/MSH-4) is not a registered analyzer" in reasons[1]
    assert "BS-240: source address 127.0.0.1 is not one of its networks" in reasons[2]
    assert "XN-1000: must connect over TLS" in reasons[3] and reasons[4] == "not an HL7 message"
    assert caplog.text.count("refused HL7 from 127.0.0.1") == 5
    # The registered analyzer, from its address, files; the filing names it and the detainee.
    accepted = await send_mllp(mllp_port, oru("fac-a-1", POTASSIUM_CRITICAL, control="OK1"))
    assert msa(accepted)[1:3] == ["AA", "OK1"]
    [result] = filed(context)
    assert result.flag == "HH" and result.patient_id == "fac-a-p1"
    [entry] = trail(context, "labs.hl7.file")
    assert (entry.username, entry.role, entry.patient_id) == ("analyzer:BC-5380", "analyzer", "fac-a-p1")
    assert entry.reason.startswith("AA: filed 1") and entry.resource == "HL7/OK1"
    by_patient = context.db.call(lambda s: s.execute(select(AuditEntry.action)
                                                     .where(about_patients(s, ["fac-a-p1"]))).scalars().all())
    assert "labs.hl7.file" in by_patient


@both_databases
async def test_the_analyzer_files_for_its_own_facility_only(context, mllp_port):
    context.db.call(register_analyzer, "BC-5380", "fac-b")
    answer = await send_mllp(mllp_port, oru("fac-a-1", POTASSIUM_CRITICAL, control="F1"))
    assert msa(answer)[1] == "AE" and "unknown detainee fac-a-1" in msa(answer)[3]
    assert filed(context) == []
    [held] = context.db.call(lambda s: s.execute(select(HeldMessage)).scalars().all())
    assert held.facility_id == "fac-b" and held.analyzer_id is not None
    [entry] = trail(context, "labs.hl7.file")
    assert entry.patient_id is None and entry.username == "analyzer:BC-5380"
    context.db.call(lambda s: remove(s, find(s, "BC-5380")))
    assert context.db.call(lambda s: s.get(HeldMessage, held.id).analyzer_id) is None  # kept, unlinked


@pytest.fixture
def pki(tmp_path):
    ca, stranger = Authority(tmp_path, "telemed-ca"), Authority(tmp_path, "stranger-ca")
    return {"ca": ca, "server": ca.issue("mllp-server", server=True), "xn": ca.issue("xn-1000"),
            "other": ca.issue("unregistered-analyzer"), "forged": stranger.issue("xn-1000")}


@pytest.fixture
async def over_tls(context, world, pki, unused_tcp_port_factory):
    settings = replace(context.settings, mllp_tls_cert=str(pki["server"].cert), mllp_tls_key=str(pki["server"].key),
                       mllp_tls_ca=str(pki["ca"].issued.cert))
    port = unused_tcp_port_factory()
    server = await serve(context.db, settings, "127.0.0.1", port, tls_context(settings))
    yield port
    server.close()
    await server.wait_closed()


def client_tls(pki, name: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki["ca"].issued.cert))
    if name:
        context.load_cert_chain(str(pki[name].cert), str(pki[name].key))
    return context


async def send_tls(port: int, message: str, context: ssl.SSLContext | None) -> str | None:
    """The ACK, or None when the listener ended the connection without one."""
    try:
        reader, writer = await open_hl7_connection("127.0.0.1", port, ssl=context,
                                                   server_hostname="127.0.0.1" if context else None)
    except (ssl.SSLError, ConnectionError):
        return None
    try:
        writer.writeblock(message.encode())
        await writer.drain()
        return (await asyncio.wait_for(reader.readblock(), 10)).decode()
    except (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError):
        return None
    finally:
        writer.close()


@both_databases
async def test_mllp_over_tls_with_client_certificates(context, pki, over_tls):
    xn = PeerCertificate.from_der(pki["xn"].der)
    context.db.call(register_analyzer, "XN-1000", "fac-a", cert_fingerprint=xn.fingerprint)
    context.db.call(register_analyzer, "BC-5380", "fac-a")  # no certificate registered
    message = oru("fac-a-1", POTASSIUM_CRITICAL, control="T1", sender="XN-1000")
    assert await send_tls(over_tls, message, client_tls(pki, None)) is None  # no client certificate
    assert await send_tls(over_tls, message, client_tls(pki, "forged")) is None  # not signed by our CA
    assert await send_tls(over_tls, message, None) is None  # plain TCP to the TLS port
    other = await send_tls(over_tls, message, client_tls(pki, "other"))  # our CA, not XN-1000's certificate
    assert msa(other)[1] == "AR"
    no_cert_registered = await send_tls(over_tls, oru("fac-a-1", POTASSIUM_CRITICAL, control="T2"),
                                        client_tls(pki, "xn"))
    assert msa(no_cert_registered)[1] == "AR"
    assert filed(context) == []
    reasons = [e.reason for e in trail(context, "labs.hl7.refused")]
    assert len(reasons) == 5
    assert sum(r.startswith("TLS handshake refused") for r in reasons) == 3
    assert any("XN-1000: client certificate CN=unregistered-analyzer" in r for r in reasons)
    assert any("BC-5380: no client certificate is registered for it" in r for r in reasons)
    answer = await send_tls(over_tls, message, client_tls(pki, "xn"))
    assert msa(answer)[1:3] == ["AA", "T1"]
    [result] = filed(context)
    assert result.flag == "HH"
    [entry] = trail(context, "labs.hl7.file")
    assert entry.username == "analyzer:XN-1000" and entry.patient_id == "fac-a-p1"


def test_tls_settings_come_as_three_files_or_none():
    from telemed.config import ConfigError, load_settings

    assert load_settings({}).mllp_host == "127.0.0.1" and load_settings({}).mllp_port == 2575
    with pytest.raises(ConfigError, match="give all three or none"):
        load_settings({"TELEMED_MLLP_TLS_CERT": "server.pem", "TELEMED_MLLP_TLS_KEY": "server.key"})
    with pytest.raises(ConfigError, match="TELEMED_MLLP_PORT"):
        load_settings({"TELEMED_MLLP_PORT": "70000"})


def test_an_ipv4_sender_seen_by_a_dual_stack_socket_is_matched_as_ipv4(context, world):
    from labs.analyzers import Refused, identify

    context.db.call(register_analyzer, "BC-5380", "fac-a", addresses=("192.168.10.0/24",))
    found = context.db.call(lambda s: identify(s, "BC-5380", "LAB", "::ffff:192.168.10.21", None, False).name)
    assert found == "BC-5380"
    with pytest.raises(Refused, match="::ffff:192.168.11.1 is not one of its networks"):
        context.db.call(identify, "BC-5380", "LAB", "::ffff:192.168.11.1", None, False)
