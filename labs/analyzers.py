"""The analyzer registry: who may file results over MLLP, from where, with which certificate,
and for which facility. A message is filed only when its MSH-3/MSH-4 identity is registered, it
comes from one of that analyzer's networks, and (when a certificate is registered, or the
listener runs TLS) over TLS with that analyzer's certificate."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import delete, select, update
from sqlmodel import Session

from labs.models import Analyzer, AnalyzerCode, HeldMessage
from telemed.models import OrgKind, Organization

FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


class AnalyzerError(ValueError):
    """A registration that cannot be made as asked."""


class Refused(Exception):
    """A sender that may not file: the reason goes to the log, the audit trail and the AR."""


@dataclass(frozen=True)
class PeerCertificate:
    subject: str  # RFC 4514
    fingerprint: str  # SHA-256 of the DER, hex

    @classmethod
    def from_der(cls, der: bytes) -> PeerCertificate:
        return cls(x509.load_der_x509_certificate(der).subject.rfc4514_string(), hashlib.sha256(der).hexdigest())

    @classmethod
    def from_pem(cls, pem: bytes) -> PeerCertificate:
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise AnalyzerError(f"not a PEM certificate: {exc}") from None
        return cls.from_der(cert.public_bytes(Encoding.DER))


@dataclass(frozen=True)
class Registration:
    name: str
    facility_id: str
    sending_application: str
    sending_facility: str
    addresses: tuple[str, ...]
    cert_subject: str = ""
    cert_fingerprint: str = ""


def networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()]


def _checked(session: Session, reg: Registration) -> Registration:
    name, app, fac = reg.name.strip(), reg.sending_application.strip(), reg.sending_facility.strip()
    if not name:
        raise AnalyzerError("name: required")
    if not app:
        raise AnalyzerError("sending application (MSH-3): required")
    if "^" in app + fac or "|" in app + fac:
        raise AnalyzerError("MSH-3 and MSH-4: the first component only, without ^ or |")
    org = session.get(Organization, reg.facility_id)
    if org is None or org.kind != OrgKind.FACILITY:
        raise AnalyzerError(f"facility: no facility {reg.facility_id!r}")
    addresses = [a.strip() for a in reg.addresses if a.strip()]
    if not addresses:
        raise AnalyzerError("addresses: at least one address or network (CIDR) the analyzer connects from")
    try:
        cidrs = tuple(str(n) for n in networks(",".join(addresses)))
    except ValueError as exc:
        raise AnalyzerError(f"addresses: {exc}") from None
    fingerprint = reg.cert_fingerprint.replace(":", "").strip().lower()
    if fingerprint and not FINGERPRINT.match(fingerprint):
        raise AnalyzerError("certificate fingerprint: the SHA-256 of the certificate, 64 hexadecimal digits")
    return Registration(name, reg.facility_id, app, fac, cidrs, reg.cert_subject.strip(), fingerprint)


def register(session: Session, reg: Registration) -> Analyzer:
    reg = _checked(session, reg)
    if session.execute(select(Analyzer.id).where(Analyzer.name == reg.name)).first():
        raise AnalyzerError(f"name: an analyzer {reg.name!r} is already registered")
    same = session.execute(select(Analyzer.name).where(Analyzer.sending_application == reg.sending_application,
                                                       Analyzer.sending_facility == reg.sending_facility)).first()
    if same:
        raise AnalyzerError(f"MSH-3/MSH-4: {reg.sending_application}/{reg.sending_facility} is already "
                            f"registered as {same[0]!r}")
    analyzer = Analyzer(name=reg.name, facility_id=reg.facility_id, sending_application=reg.sending_application,
                        sending_facility=reg.sending_facility, addresses=",".join(reg.addresses),
                        cert_subject=reg.cert_subject, cert_fingerprint=reg.cert_fingerprint)
    session.add(analyzer)
    session.flush()
    return analyzer


def find(session: Session, name: str, facility_id: str | None = None) -> Analyzer | None:
    """By name; ``facility_id`` limits it to that facility's analyzers."""
    query = select(Analyzer).where(Analyzer.name == name)
    if facility_id is not None:
        query = query.where(Analyzer.facility_id == facility_id)
    return session.execute(query).scalars().first()


def get(session: Session, analyzer_id: int, facility_id: str | None = None) -> Analyzer | None:
    analyzer = session.get(Analyzer, analyzer_id)
    if analyzer is None or (facility_id is not None and analyzer.facility_id != facility_id):
        return None
    return analyzer


def listing(session: Session, facility_id: str | None = None) -> list[Analyzer]:
    query = select(Analyzer).order_by(Analyzer.facility_id, Analyzer.name)
    if facility_id is not None:
        query = query.where(Analyzer.facility_id == facility_id)
    return list(session.execute(query).scalars())


def remove(session: Session, analyzer: Analyzer) -> None:
    """The analyzer and its code map. Messages it sent stay held, no longer linked to it (SQLite
    may give its id to the next analyzer registered)."""
    session.execute(delete(AnalyzerCode).where(AnalyzerCode.analyzer_id == analyzer.id))
    session.execute(update(HeldMessage).where(HeldMessage.analyzer_id == analyzer.id).values(analyzer_id=None))
    session.delete(analyzer)
    session.flush()


def analyzer_json(analyzer: Analyzer) -> dict:
    return {"id": analyzer.id, "name": analyzer.name, "facility_id": analyzer.facility_id,
            "sending_application": analyzer.sending_application, "sending_facility": analyzer.sending_facility,
            "addresses": analyzer.addresses.split(","), "cert_subject": analyzer.cert_subject,
            "cert_fingerprint": analyzer.cert_fingerprint, "created_at": analyzer.created_at.isoformat()}


def identify(session: Session, application: str, facility: str, address: str,
             certificate: PeerCertificate | None, tls: bool) -> Analyzer:
    """The registered analyzer that sent a message, or ``Refused`` saying why not."""
    analyzer = session.execute(select(Analyzer).where(Analyzer.sending_application == application,
                                                      Analyzer.sending_facility == facility)).scalars().first()
    if analyzer is None:
        raise Refused(f"sender {application}/{facility} (MSH-3/MSH-4) is not a registered analyzer")
    try:
        peer = ipaddress.ip_address(address)
        peer = getattr(peer, "ipv4_mapped", None) or peer  # a dual-stack listener sees ::ffff:a.b.c.d
    except ValueError:
        raise Refused(f"{analyzer.name}: unreadable source address {address!r}") from None
    if not any(peer in network for network in networks(analyzer.addresses)):
        raise Refused(f"{analyzer.name}: source address {address} is not one of its networks")
    registered_cert = analyzer.cert_subject or analyzer.cert_fingerprint
    if tls and not registered_cert:
        raise Refused(f"{analyzer.name}: no client certificate is registered for it")
    if registered_cert and certificate is None:
        raise Refused(f"{analyzer.name}: must connect over TLS with its client certificate")
    if certificate is not None and not _same_certificate(analyzer, certificate):
        raise Refused(f"{analyzer.name}: client certificate {certificate.subject} "
                      f"(SHA-256 {certificate.fingerprint}) is not the one registered for it")
    return analyzer


def _same_certificate(analyzer: Analyzer, certificate: PeerCertificate) -> bool:
    if analyzer.cert_fingerprint and analyzer.cert_fingerprint != certificate.fingerprint:
        return False
    return not analyzer.cert_subject or analyzer.cert_subject == certificate.subject
