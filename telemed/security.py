"""Passwords (argon2id), logging in, and bearer and session tokens."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlmodel import Session, select

from telemed.bus import LocalBus
from telemed.models import AuthToken, TokenKind, User
from telemed.scopes import Scopes
from telemed.throttle import LoginThrottle
from telemed.timeutil import as_utc, utcnow

# argon2id with the library's defaults (RFC 9106 low-memory profile).
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-password")

# Every login attempt runs exactly one password check, whatever the account's state or the
# brake says: how long an answer takes must not tell whether the account exists.
password_checks = 0
GENERIC_REFUSAL = "invalid username or password"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    global password_checks
    password_checks += 1
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    display_name: str
    role: str
    org_id: str
    specialty: str | None = None
    token_id: int | None = None
    csrf_token: str = ""
    # A registered system's token (SMART Backend Services): what its scopes grant. None: a person,
    # limited by the policy alone.
    scopes: Scopes | None = None
    must_change_password: bool = False


def principal_of(user: User, token: AuthToken | None = None) -> Principal:
    return Principal(
        user_id=user.id or 0,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        org_id=user.org_id,
        specialty=user.specialty,
        token_id=token.id if token else None,
        csrf_token=token.csrf_token if token else "",
        must_change_password=user.must_change_password,
    )


class LoginRefused(Exception):
    """A login attempt that must not be checked now; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(session: Session, username: str, password: str, address: str, throttle: LoginThrottle) -> User:
    """Check a password, applying the brake. Raises ``LoginRefused``: 429 while the brake holds
    (for unknown usernames too), otherwise one 401 for every reason a login fails."""
    wait = throttle.wait(username, address)
    user = session.exec(select(User).where(User.username == username)).first()
    usable = user is not None and user.active and user.approved_at is not None
    matches = verify_password(user.password_hash if usable else _DUMMY_HASH, password)
    if wait:
        raise LoginRefused(429, f"too many failed logins; try again in {wait} s", retry_after=wait)
    if not (usable and matches):
        throttle.failed(username, address)
        raise LoginRefused(401, GENERIC_REFUSAL)
    throttle.succeeded(username, address)
    return user


def issue_token(session: Session, user: User, kind: TokenKind, ttl_seconds: int) -> tuple[str, AuthToken]:
    raw = secrets.token_urlsafe(32)
    token = AuthToken(
        token_hash=token_hash(raw),
        user_id=user.id,
        kind=kind,
        csrf_token=secrets.token_urlsafe(24) if kind == TokenKind.SESSION else "",
        expires_at=utcnow() + timedelta(seconds=ttl_seconds),
    )
    session.add(token)
    session.flush()
    return raw, token


class TokenCache:
    """Validated tokens for a few seconds, so that each request need not touch the database.
    A revocation drops the entry at once here and, through the bus, in the other processes (a
    process that missed the message sees it within ``ttl`` seconds)."""

    TOPIC = "tokens.revoked"

    def __init__(self, bus: LocalBus | None = None, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[Principal, float, datetime]] = {}
        self._lock = threading.Lock()
        self.bus = bus or LocalBus()
        self.bus.on(self.TOPIC, lambda payload: self._forget(payload["hashes"]))

    def revoked(self, hashes: list[str]) -> None:
        """These tokens were revoked (committed): forget them here and in every other process."""
        self._forget(hashes)
        self.bus.send(self.TOPIC, {"hashes": hashes})

    def _forget(self, hashes: list[str]) -> None:
        for digest in hashes:
            self.drop(digest)

    def get(self, token_hash: str) -> Principal | None:
        with self._lock:
            entry = self._entries.get(token_hash)
        if entry is None:
            return None
        principal, cached_until, expires_at = entry
        if time.monotonic() > cached_until or utcnow() >= expires_at:
            self.drop(token_hash)
            return None
        return principal

    def put(self, token_hash: str, principal: Principal, expires_at: datetime) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[token_hash] = (principal, time.monotonic() + self.ttl, as_utc(expires_at))

    def drop(self, token_hash: str) -> None:
        with self._lock:
            self._entries.pop(token_hash, None)


def resolve_token(session: Session, raw: str, kind: TokenKind, cache: TokenCache) -> Principal | None:
    digest = token_hash(raw)
    cached = cache.get(digest)
    if cached is not None:
        return cached
    row = session.exec(
        select(AuthToken, User).join(User, AuthToken.user_id == User.id).where(
            AuthToken.token_hash == digest, AuthToken.kind == kind)
    ).first()
    if row is None:
        return None
    token, user = row
    if token.revoked_at is not None or as_utc(token.expires_at) <= utcnow() or not user.active:
        return None
    principal = principal_of(user, token)
    cache.put(digest, principal, token.expires_at)
    return principal


def revoke_token(session: Session, raw: str) -> bool:
    """Mark the token revoked; the caller tells the token cache once this commits."""
    digest = token_hash(raw)
    token = session.exec(select(AuthToken).where(AuthToken.token_hash == digest)).first()
    if token is None or token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    session.add(token)
    return True
