"""Passwords (argon2id), bearer and session tokens, and the failed-login brake."""

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

from telemed.models import AuthToken, TokenKind, User
from telemed.timeutil import as_utc, utcnow

# argon2id with the library's defaults (RFC 9106 low-memory profile).
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-password")

SLOW_AFTER = 3  # failed attempts before each further attempt must wait
LOCK_AFTER = 10  # failed attempts before the account locks
LOCK_MINUTES = 15
MAX_DELAY_SECONDS = 60


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
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


def authenticate(session: Session, username: str, password: str, now: datetime | None = None) -> User:
    """Check a password, applying the brake. Raises ``LoginRefused``."""
    now = now or utcnow()
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or not user.active:
        verify_password(_DUMMY_HASH, password)  # same cost as a real check
        raise LoginRefused(401, "invalid username or password")
    _refuse_if_braked(user, now)
    if verify_password(user.password_hash, password):
        user.failed_logins = 0
        user.locked_until = None
        session.add(user)
        return user
    user.failed_logins += 1
    user.last_failed_at = now
    if user.failed_logins >= LOCK_AFTER:
        user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
    session.add(user)
    session.commit()
    if user.locked_until:
        raise LoginRefused(423, f"account locked after {user.failed_logins} failed attempts",
                           retry_after=LOCK_MINUTES * 60)
    raise LoginRefused(401, "invalid username or password")


def _refuse_if_braked(user: User, now: datetime) -> None:
    if user.locked_until and as_utc(user.locked_until) > now:
        wait = int((as_utc(user.locked_until) - now).total_seconds()) + 1
        raise LoginRefused(423, "account locked after repeated failed logins; ask an administrator "
                                f"or wait {wait // 60 + 1} minutes", retry_after=wait)
    if user.failed_logins >= SLOW_AFTER and user.last_failed_at:
        delay = min(2 ** (user.failed_logins - SLOW_AFTER), MAX_DELAY_SECONDS)
        ready = as_utc(user.last_failed_at) + timedelta(seconds=delay)
        if ready > now:
            wait = int((ready - now).total_seconds()) + 1
            raise LoginRefused(429, f"too many failed logins; try again in {wait} s", retry_after=wait)


def unlock(session: Session, user: User) -> None:
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)


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
    Revocation through this process drops the entry at once; another process sees it within
    ``ttl`` seconds."""

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[Principal, float, datetime]] = {}
        self._lock = threading.Lock()

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


def revoke_token(session: Session, raw: str, cache: TokenCache) -> bool:
    digest = token_hash(raw)
    cache.drop(digest)
    token = session.exec(select(AuthToken).where(AuthToken.token_hash == digest)).first()
    if token is None or token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    session.add(token)
    return True
