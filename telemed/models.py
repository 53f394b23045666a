"""Foundation tables: organisations, users, tokens, detainee index, consult access, audit."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from telemed.timeutil import UTCDateTime, utcnow


def ts_column(nullable: bool = False, index: bool = False) -> Column:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class Role(StrEnum):
    FACILITY_DOCTOR = "facility_doctor"
    SPECIALIST = "specialist"
    MEDICAL_OFFICER = "medical_officer"
    ADMIN = "admin"
    CUSTODY_OFFICER = "custody_officer"
    CELL_KIOSK = "cell_kiosk"  # a facility's shared terminal: enters sick-call requests, nothing else


class OrgKind(StrEnum):
    FACILITY = "facility"
    HOSPITAL = "hospital"


class Organization(SQLModel, table=True):
    __tablename__ = "organization"
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    name_zh: str = Field(default="", max_length=200)
    kind: str = Field(max_length=16)  # OrgKind
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    display_name: str = Field(max_length=200)
    role: str = Field(max_length=32)  # Role
    org_id: str = Field(foreign_key="organization.id", max_length=64, index=True)
    password_hash: str = Field(max_length=256)
    specialty: str | None = Field(default=None, max_length=64)
    on_duty: bool = False
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    # A clinical account waits for a medical officer of its organisation: None until approved.
    approved_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    approved_by: int | None = Field(default=None, foreign_key="app_user.id")
    # Set when an administrator resets the password: the user chooses their own before anything else.
    must_change_password: bool = False


class TokenKind(StrEnum):
    BEARER = "bearer"
    SESSION = "session"


class AuthToken(SQLModel, table=True):
    __tablename__ = "auth_token"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    kind: str = Field(max_length=16)  # TokenKind
    csrf_token: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    expires_at: datetime = Field(sa_column=ts_column())
    revoked_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class CustodyStatus(StrEnum):
    IN_CUSTODY = "in-custody"
    TRANSFERRED = "transferred"
    RELEASED = "released"


class Detainee(SQLModel, table=True):
    """Index row kept in step with each Patient resource; the access policy reads it."""

    __tablename__ = "detainee"
    patient_id: str = Field(primary_key=True, max_length=64)
    facility_id: str = Field(foreign_key="organization.id", max_length=64, index=True)
    booking_number: str = Field(default="", max_length=64, index=True)
    national_id: str = Field(default="", max_length=64)
    name: str = Field(default="", max_length=200)
    sex: str = Field(default="unknown", max_length=16)
    birth_date: str = Field(default="", max_length=10)
    cell: str = Field(default="", max_length=32)
    admission_date: str = Field(default="", max_length=10)
    status: str = Field(default=CustodyStatus.IN_CUSTODY, max_length=16)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())


class ConsultAccess(SQLModel, table=True):
    """A specialist's window onto one detainee, opened when they accept a consult."""

    __tablename__ = "consult_access"
    __table_args__ = (UniqueConstraint("consult_id", "specialist_id"),)
    id: int | None = Field(default=None, primary_key=True)
    consult_id: str = Field(max_length=64, index=True)
    patient_id: str = Field(max_length=64, index=True)
    specialist_id: int = Field(foreign_key="app_user.id", index=True)
    accepted_at: datetime = Field(sa_column=ts_column())
    closed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class ConsultShare(SQLModel, table=True):
    """A resource a consult shared with, or produced for, its specialists."""

    __tablename__ = "consult_share"
    __table_args__ = (UniqueConstraint("consult_id", "resource_type", "resource_id"),)
    id: int | None = Field(default=None, primary_key=True)
    consult_id: str = Field(max_length=64, index=True)
    resource_type: str = Field(max_length=64)
    resource_id: str = Field(max_length=64)
    produced: bool = False


class BreakGlass(SQLModel, table=True):
    __tablename__ = "break_glass"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    patient_id: str = Field(max_length=64, index=True)
    reason: str = Field(max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    expires_at: datetime = Field(sa_column=ts_column())
    reviewed_by: int | None = Field(default=None, foreign_key="app_user.id")
    reviewed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class AuditEntry(SQLModel, table=True):
    """Append-only; each row's hash is a MAC over its content and the previous row's hash
    (see ``telemed.audit``)."""

    __tablename__ = "audit_entry"
    seq: int = Field(primary_key=True)
    ts: datetime = Field(sa_column=ts_column())
    user_id: int | None = None
    username: str = Field(default="", max_length=64)
    role: str = Field(default="", max_length=32)
    action: str = Field(max_length=64)
    patient_id: str | None = Field(default=None, max_length=64)
    resource: str = Field(default="", max_length=200)
    outcome: str = Field(max_length=16)  # allowed | denied | error
    reason: str = Field(default="", max_length=2000)
    ip: str = Field(default="", max_length=64)
    request_id: str = Field(default="", max_length=64)
    break_glass: bool = False
    prev_hash: str = Field(max_length=64)
    key_id: str = Field(default="", max_length=16)  # "": written before keys (migration 0016)
    field_tags: str = Field(default="", max_length=64)
    hash: str = Field(max_length=64)


class AuditPatient(SQLModel, table=True):
    """Which entries name which detainee, for the entries up to the last multiple of
    ``telemed.audit.PATIENT_INDEX_EVERY``; later ones are found by their own ``patient_id``.
    A per-entry index put a random B-tree insert, most of an entry's cost, on every audited
    read; written in bulk, each page takes many rows at once."""

    __tablename__ = "audit_patient"
    __table_args__ = {"sqlite_with_rowid": False}
    patient_id: str = Field(primary_key=True, max_length=64)
    seq: int = Field(primary_key=True)


class LoginFailure(SQLModel, table=True):
    """Failed logins the brake counts (telemed.throttle): per account and address ("pair"), and
    per address ("address", username empty). In the database, so that a restart forgets nothing
    and every process of a cluster brakes alike."""

    __tablename__ = "login_failure"
    kind: str = Field(primary_key=True, max_length=8)
    username: str = Field(primary_key=True, max_length=200)
    address: str = Field(primary_key=True, max_length=64)
    count: int = 0
    last: float = 0.0  # seconds since the epoch


class SmartClient(SQLModel, table=True):
    """A partner hospital's system, registered to sign in with SMART Backend Services: its public
    keys (a JWKS URL, or the JWKS itself) and the scopes it may be granted."""

    __tablename__ = "smart_client"
    client_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    org_id: str = Field(foreign_key="organization.id", max_length=64, index=True)
    jwks_url: str = Field(default="", max_length=500)
    jwks: str = Field(default="", max_length=20_000)
    scopes: str = Field(max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    revoked_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class SmartAssertion(SQLModel, table=True):
    """A client assertion's ``jti`` seen, kept until the assertion expires: a replay is refused."""

    __tablename__ = "smart_assertion"
    client_id: str = Field(primary_key=True, max_length=64)
    jti: str = Field(primary_key=True, max_length=255)
    expires_at: datetime = Field(sa_column=ts_column(index=True))


class SmartToken(SQLModel, table=True):
    """An access token issued to a registered client, by hash, with the scopes granted."""

    __tablename__ = "smart_token"
    token_hash: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(foreign_key="smart_client.client_id", max_length=64, index=True)
    scopes: str = Field(max_length=2000)
    expires_at: datetime = Field(sa_column=ts_column())


class Notification(SQLModel, table=True):
    """A pushed notification kept for one recipient until they dismiss it: the pop-up a closed
    page missed is still in the list. Written once, by the process that publishes the push."""

    __tablename__ = "notification"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=32, index=True)  # the same for every recipient of one push
    user_id: int = Field(foreign_key="app_user.id", index=True)
    kind: str = Field(max_length=32)
    toast: dict = Field(sa_column=Column(JSON, nullable=False))  # the text in every language
    link: str = Field(default="", max_length=500)
    severity: str = Field(default="", max_length=16)
    patient_id: str | None = Field(default=None, max_length=64)  # whom it is about, for the audit of its reads
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    dismissed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class BusEvent(SQLModel, table=True):
    """A message between server processes (telemed.bus): kept for an hour, so that a process
    whose listening connection dropped reads what was sent meanwhile."""

    __tablename__ = "bus_event"
    seq: int | None = Field(default=None, primary_key=True)
    origin: str = Field(max_length=120)
    topic: str = Field(max_length=60)
    payload: str = Field(sa_column=Column(Text(), nullable=False))
    sent_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(index=True))
