"""SMART Backend Services: registered clients (a partner hospital's systems) and the OAuth 2.0
client-credentials grant with a ``private_key_jwt`` assertion (RFC 7523), as SMART App Launch
2.2 "Backend Services" describes. A token names the client's hospital and its granted scopes;
the policy (telemed.policy, role ``hospital_system``) and the scopes decide every read."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from telemed.models import Organization, OrgKind, SmartAssertion, SmartClient, SmartToken
from telemed.policy import HOSPITAL_SYSTEM
from telemed.scopes import ScopeError, parse_scopes
from telemed.security import Principal, TokenCache, token_hash
from telemed.timeutil import as_utc, utcnow

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = {"RS384": "RSA", "ES384": "EC"}  # SMART: servers support at least one; both here
TOKEN_SECONDS = 300  # SMART: expires_in SHOULD be at most 300 s
ASSERTION_MAX_SECONDS = 300  # SMART: exp no more than five minutes in the future


class ClientError(ValueError):
    """A refused registration or token request; ``error`` is the OAuth 2.0 error code."""

    def __init__(self, message: str, error: str = "invalid_client", status: int = 401) -> None:
        super().__init__(message)
        self.error, self.status = error, status


@dataclass(frozen=True)
class Assertion:
    """What the unverified assertion claims, to find the keys that must verify it."""

    client_id: str
    kid: str
    alg: str
    jku: str | None


def check_key_set(text: str) -> KeySet:
    """A JWKS of public RSA or EC keys, each with a ``kid``."""
    try:
        keys = KeySet.import_key_set(orjson.loads(text))
    except (orjson.JSONDecodeError, JoseError, KeyError, TypeError, ValueError) as exc:
        raise ClientError(f"not a JWKS: {exc}", "invalid_client") from None
    for key in keys:
        if key.key_type not in ALGORITHMS.values() or not key.kid:
            raise ClientError("every key needs a kid and must be RSA or EC", "invalid_client")
        if key.is_private:
            raise ClientError("the JWKS holds a private key: register the public keys only", "invalid_client")
    if not keys:
        raise ClientError("the JWKS holds no key", "invalid_client")
    return keys


def add_client(session: Session, client_id: str, name: str, org_id: str, scopes: str, *,
               jwks_url: str = "", jwks: str = "") -> SmartClient:
    org = session.get(Organization, org_id)
    if org is None or org.kind != OrgKind.HOSPITAL:
        raise ClientError(f"{org_id} is not a partner hospital")
    if session.get(SmartClient, client_id) is not None:
        raise ClientError(f"client {client_id} is already registered")
    if bool(jwks_url) == bool(jwks):
        raise ClientError("give the client's keys as a JWKS URL or a JWKS file, one of the two")
    if jwks_url and not jwks_url.startswith(("https://", "http://")):
        raise ClientError(f"{jwks_url} is not an http(s) URL")
    if jwks:
        check_key_set(jwks)
    try:
        granted, words = parse_scopes(scopes)
    except ScopeError as exc:
        raise ClientError(str(exc)) from None
    if any(letter not in "rs" for _, letter in granted.granted):
        raise ClientError("a hospital's system reads: register read scopes only (.read, .rs, .r, .s)")
    client = SmartClient(client_id=client_id, name=name, org_id=org_id, jwks_url=jwks_url, jwks=jwks,
                         scopes=" ".join(words))
    session.add(client)
    session.flush()
    return client


def revoke_client(session: Session, client_id: str) -> None:
    client = session.get(SmartClient, client_id)
    if client is None or client.revoked_at is not None:
        raise ClientError(f"no registered client {client_id}")
    client.revoked_at = utcnow()
    session.add(client)


def claimed(assertion: str) -> Assertion:
    """The assertion's header and issuer, read before its signature is checked."""
    try:
        compact = jws.extract_compact(assertion.encode())
        header, claims = compact.headers(), orjson.loads(compact.payload)
    except (JoseError, orjson.JSONDecodeError, ValueError, UnicodeError) as exc:
        raise ClientError(f"the client assertion is not a signed JWT: {exc}") from None
    if not isinstance(claims, dict) or not isinstance(claims.get("iss"), str):
        raise ClientError("the client assertion names no issuer (iss)")
    if header.get("alg") not in ALGORITHMS:
        raise ClientError(f"alg {header.get('alg')!r}: sign with {' or '.join(ALGORITHMS)}")
    if not isinstance(header.get("kid"), str):
        raise ClientError("the client assertion's header names no kid")
    if header.get("typ", "JWT") != "JWT":
        raise ClientError("the client assertion's typ must be JWT")
    return Assertion(claims["iss"], header["kid"], header["alg"], header.get("jku"))


def client_for(session: Session, found: Assertion) -> SmartClient:
    client = session.get(SmartClient, found.client_id)
    if client is None or client.revoked_at is not None:
        raise ClientError(f"no registered client {found.client_id}")
    if found.jku is not None and found.jku != client.jwks_url:
        raise ClientError("the assertion's jku is not the client's registered JWKS URL")
    session.expunge(client)  # read after this lookup's transaction ends
    return client


def verify(assertion: str, found: Assertion, keys: KeySet, token_url: str, now: datetime) -> dict:
    """The assertion's claims, once its signature, audience, lifetime and jti are right."""
    matching = [k for k in keys if k.kid == found.kid and k.key_type == ALGORITHMS[found.alg]]
    if len(matching) != 1:
        raise ClientError(f"{len(matching)} of the client's keys match kid {found.kid} for {found.alg}; one must")
    try:
        claims = jwt.decode(assertion, matching[0], algorithms=[found.alg]).claims
        stamp = int(now.timestamp())
        jwt.JWTClaimsRegistry(now=stamp, iss={"essential": True, "value": found.client_id},
                              sub={"essential": True, "value": found.client_id},
                              aud={"essential": True, "value": token_url},
                              exp={"essential": True}, jti={"essential": True}).validate(claims)
    except JoseError as exc:
        raise ClientError(f"the client assertion is refused: {exc}") from None
    if claims["exp"] > stamp + ASSERTION_MAX_SECONDS:
        raise ClientError(f"the client assertion's exp is more than {ASSERTION_MAX_SECONDS} s ahead")
    if not isinstance(claims["jti"], str) or not 0 < len(claims["jti"]) <= 255:
        raise ClientError("the client assertion's jti must be a string of at most 255 characters")
    return claims


def grant(session: Session, client: SmartClient, claims: dict, asked: str) -> tuple[str, str]:
    """(access token, scopes granted): the asked-for scopes, each within what the client is
    registered for; the assertion's jti is spent in the same transaction."""
    try:
        wanted, words = parse_scopes(asked)
    except ScopeError as exc:
        raise ClientError(str(exc), "invalid_scope", 400) from None
    registered, _ = parse_scopes(client.scopes)
    if not registered.covers(wanted):
        raise ClientError(f"scope {asked!r} goes beyond what client {client.client_id} is registered for "
                          f"({client.scopes})", "invalid_scope", 400)
    now = utcnow()
    session.execute(delete(SmartAssertion).where(SmartAssertion.expires_at < now))
    try:
        with session.begin_nested():
            session.add(SmartAssertion(client_id=client.client_id, jti=claims["jti"],
                                       expires_at=datetime.fromtimestamp(claims["exp"], now.tzinfo)))
    except IntegrityError:
        raise ClientError("the client assertion's jti was already used") from None
    raw = secrets.token_urlsafe(32)
    session.add(SmartToken(token_hash=token_hash(raw), client_id=client.client_id, scopes=" ".join(words),
                           expires_at=now + timedelta(seconds=TOKEN_SECONDS)))
    return raw, " ".join(words)


def principal_for(client: SmartClient, scopes: str) -> Principal:
    return Principal(user_id=0, username=f"client:{client.client_id}"[:64], display_name=client.name,
                     role=HOSPITAL_SYSTEM, org_id=client.org_id, scopes=parse_scopes(scopes)[0])


def resolve_client_token(session: Session, raw: str, cache: TokenCache) -> Principal | None:
    digest = token_hash(raw)
    row = session.exec(select(SmartToken, SmartClient).join(SmartClient, SmartToken.client_id == SmartClient.client_id)
                       .where(SmartToken.token_hash == digest)).first()
    if row is None:
        return None
    token, client = row
    if client.revoked_at is not None or as_utc(token.expires_at) <= utcnow():
        return None
    principal = principal_for(client, token.scopes)
    cache.put(digest, principal, token.expires_at)
    return principal

