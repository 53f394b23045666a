"""Organisations and users, shared by the CLI, the admin API and the demo loader."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from telemed.models import OrgKind, Organization, Role, User
from telemed.security import hash_password

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
ORG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
MIN_PASSWORD = 10


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


def add_user(session: Session, username: str, password: str, *, role: str, org_id: str,
             display_name: str = "", specialty: str | None = None, on_duty: bool = False) -> User:
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
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must be at least {MIN_PASSWORD} characters")
    if session.exec(select(User).where(User.username == username)).first():
        raise AccountError(f"user {username} already exists")
    user = User(username=username, display_name=display_name or username, role=role, org_id=org_id,
                password_hash=hash_password(password), specialty=specialty, on_duty=on_duty)
    session.add(user)
    session.flush()
    return user


def user_view(user: User) -> dict:
    return {
        "id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
        "org_id": user.org_id, "specialty": user.specialty, "on_duty": user.on_duty, "active": user.active,
        "locked": bool(user.locked_until), "failed_logins": user.failed_logins,
    }


def org_view(org: Organization) -> dict:
    return {"id": org.id, "name": org.name, "name_zh": org.name_zh, "kind": org.kind}
