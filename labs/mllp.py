"""``telemed labs listen``: an MLLP (0x0B ... 0x1C 0x0D) server for analyzer HL7 messages.

Only registered analyzers file (``labs.analyzers``): each message's MSH-3/MSH-4 must name one,
sent from one of its networks, and over TLS with its client certificate when one is registered
(or the listener runs TLS). Anyone else gets AR, nothing is filed, and the attempt is logged
and audited. Each message is processed in a database thread and answered on the same
connection; analyzers such as the Mindray BC series wait up to 10 s for each ACK.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from functools import partial
from zoneinfo import ZoneInfo

from hl7.mllp import InvalidBlockError, start_hl7_server
from sqlmodel import Session

from labs import analyzers, hl7
from labs.analyzers import PeerCertificate, Refused
from labs.codemaps import code_map
from labs.results import subjects
from labs.trail import Actor, record
from telemed.config import Settings
from telemed.db import Database

log = logging.getLogger("telemed.labs.mllp")
MAX_MESSAGE = 32 * 1024 * 1024  # histograms ride inside the message as Base64 images
REFUSED = "sender not authorised: nothing filed"  # the AR's text; the reason goes to the log and the trail


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """TLS with a client certificate required, signed by the configured CA (None: plain TCP)."""
    if not settings.mllp_tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=settings.mllp_tls_ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(settings.mllp_tls_cert, settings.mllp_tls_key)
    return context


async def serve(db: Database, settings: Settings, host: str, port: int,
                tls: ssl.SSLContext | None = None) -> asyncio.Server:
    # SQLite has one writer: concurrent senders queue here instead of spinning on its busy lock.
    writer_lock = asyncio.Lock() if db.is_sqlite else contextlib.nullcontext()
    handler = partial(_client, db, settings.tz, tls, writer_lock)
    return await start_hl7_server(handler, host, port, limit=MAX_MESSAGE)


def decode(block: bytes) -> str:
    """UTF-8 (MSH-18 UNICODE, as Mindray sends), else GB 18030, which Chinese LIS and older analyzers use."""
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        return block.decode("gb18030", errors="replace")


async def _client(db: Database, tz: ZoneInfo, tls: ssl.SSLContext | None, writer_lock, reader, writer) -> None:
    address = str(writer.get_extra_info("peername")[0])
    try:
        certificate = await _handshake(db, tls, address, writer) if tls else None
        if tls and certificate is None:
            return
        while True:
            try:
                block = await reader.readblock()
            except asyncio.IncompleteReadError:
                return  # the sender closed the connection
            except (InvalidBlockError, ValueError) as exc:
                log.warning("dropping connection from %s: bad MLLP framing: %s", address, exc)
                return
            async with writer_lock:
                answer = await db.run(receive, decode(block), address, certificate, tls is not None, tz)
            log.info("hl7 from %s: %s %s", address, answer.code, answer.text)
            writer.writeblock(answer.message.encode("utf-8"))
            await writer.drain()
    finally:
        writer.close()


async def _handshake(db: Database, tls: ssl.SSLContext, address: str, writer) -> PeerCertificate | None:
    """TLS on the accepted connection: done here rather than by the server, so that a refused
    handshake (no certificate, or one the CA did not sign) is logged and audited."""
    try:
        await writer.start_tls(tls)
    except (ssl.SSLError, OSError) as exc:
        await db.run(_refuse, "", address, f"TLS handshake refused: {exc}")
        return None
    return PeerCertificate.from_der(writer.get_extra_info("ssl_object").getpeercert(binary_form=True))


def receive(session: Session, text: str, address: str, certificate: PeerCertificate | None, tls: bool,
            tz: ZoneInfo) -> hl7.Ack:
    """Authenticate the sender of one message, then file it for the analyzer's facility, audited
    in the same transaction."""
    head = hl7.header(text)
    if head is None:
        _refuse(session, "", address, "not an HL7 message")
        return hl7.ack("AR", REFUSED)
    try:
        analyzer = analyzers.identify(session, head.application, head.facility, address, certificate, tls)
    except Refused as exc:
        _refuse(session, f"{head.application}/{head.facility}", address, str(exc))
        return head.refusal(REFUSED)
    answer = hl7.process(session, text, analyzer.facility_id, tz, code_map(session, analyzer.id))
    subject = subjects(session, bookings={head.booking}).get(head.booking) if head.booking else None
    patient = subject.patient_id if subject and subject.facility_id == analyzer.facility_id else None
    actor = Actor(username=f"analyzer:{analyzer.name}", role="analyzer", ip=address)
    record(session, [actor.event("labs.hl7.file", "allowed" if answer.code != "AR" else "error", patient_id=patient,
                                 resource=f"HL7/{head.control_id}", reason=f"{answer.code}: {answer.text}")])
    return answer


def _refuse(session: Session, sender: str, address: str, reason: str) -> None:
    log.warning("refused HL7 from %s (%s): %s", address, sender or "unidentified", reason)
    actor = Actor(username=sender[:100], role="analyzer", ip=address)
    record(session, [actor.event("labs.hl7.refused", "denied", resource="HL7", reason=reason)])
