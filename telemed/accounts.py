"""Organisations and users, shared by the CLI, the admin API and the demo loader."""

from __future__ import annotations

import re

from sqlmodel import Session, select
from zxcvbn import zxcvbn

from telemed.models import OrgKind, Organization, Role, User
from telemed.security import hash_password
from telemed.timeutil import utcnow

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
ORG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
MIN_PASSWORD = 12  # OWASP ASVS 2.1.1
MAX_PASSWORD = 128
# zxcvbn's score: 3 is "safely unguessable: moderate protection from offline slow-hash attacks";
# its lists hold the common passwords, names and words of the leaked-password corpora.
MIN_STRENGTH = 3
CLINICAL_ROLES = frozenset({Role.FACILITY_DOCTOR, Role.SPECIALIST, Role.MEDICAL_OFFICER})


class AccountError(ValueError):
    pass


def add_org(session: Session, org_id: str, name: str, kind: str, name_zh: str = "") -> Organization:
    if not ORG_ID.match(org_id):
        raise AccountError(f"organisation id {org_id!r}: letters, digits and '-' only")
    if kind not in set(OrgKind):
        raise AccountError(f"kind must be one of {', '.join(OrgKind)}")
    if session.get(Organization, org_id):
        raise AccountError(f"organisation {org_id} already exists")
    org = Organization(id=org_id, name=name, name_zh=name_zh, kind=kind)
    session.add(org)
    session.flush()
    return org


def check_password(password: str, *related: str) -> None:
    """Refuse a password that is short, or common or easy to guess (``related``: the user's
    names, which make it weaker)."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"password must be at most {MAX_PASSWORD} characters")
    if zxcvbn(password, user_inputs=[r for r in related if r])["score"] < MIN_STRENGTH:
        raise AccountError("password is too common or too easy to guess: use a longer phrase of unrelated words")


def add_user(session: Session, username: str, password: str, *, role: str, org_id: str,
             display_name: str = "", specialty: str | None = None, on_duty: bool = False,
             pending: bool = False) -> User:
    """A new account. ``pending``: a clinical account that cannot log in until a medical officer
    approves it (``approve``); the admin API and the CLI create them so."""
    if not USERNAME.match(username):
        raise AccountError(f"username {username!r}: 2-64 lower-case letters, digits, '.', '_' or '-'")
    if role not in set(Role):
        raise AccountError(f"role must be one of {', '.join(Role)}")
    org = session.get(Organization, org_id)
    if org is None:
        raise AccountError(f"no organisation {org_id}")
    expected = OrgKind.HOSPITAL if role == Role.SPECIALIST else OrgKind.FACILITY
    if role != Role.ADMIN and org.kind != expected:
        raise AccountError(f"a {role} belongs to a {expected}, and {org_id} is a {org.kind}")
    check_password(password, username, display_name)
    if session.exec(select(User).where(User.username == username)).first():
        raise AccountError(f"user {username} already exists")
    user = User(username=username, display_name=display_name or username, role=role, org_id=org_id,
                password_hash=hash_password(password), specialty=specialty, on_duty=on_duty,
                approved_at=None if pending and role in CLINICAL_ROLES else utcnow())
    session.add(user)
    session.flush()
    return user


def may_approve(officer: User, user: User) -> bool:
    """A medical officer approves the clinical accounts of their own facility, and specialists
    (whose hospitals have no medical officers of their own); never their own account."""
    if officer.role != Role.MEDICAL_OFFICER or not officer.active or officer.approved_at is None:
        return False
    if officer.id == user.id or user.approved_at is not None or user.role not in CLINICAL_ROLES:
        return False
    return user.role == Role.SPECIALIST or user.org_id == officer.org_id


def pending_for(session: Session, officer: User) -> list[User]:
    waiting = session.exec(select(User).where(User.approved_at == None).order_by(User.created_at)).all()  # noqa: E711
    return [user for user in waiting if may_approve(officer, user)]


def approve(session: Session, officer_id: int, user_id: int) -> User:
    officer, user = session.get(User, officer_id), session.get(User, user_id)
    if officer is None or user is None or not may_approve(officer, user):
        raise AccountError("no such account waiting for your approval")
    user.approved_at, user.approved_by = utcnow(), officer.id
    session.add(user)
    session.flush()
    return user


def user_view(user: User) -> dict:
    return {
        "id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
        "org_id": user.org_id, "specialty": user.specialty, "on_duty": user.on_duty, "active": user.active,
        "state": "pending" if user.approved_at is None else "active" if user.active else "inactive",
    }


def org_view(org: Organization) -> dict:
    return {"id": org.id, "name": org.name, "name_zh": org.name_zh, "kind": org.kind}
