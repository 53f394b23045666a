"""Organisations and users, shared by the CLI, the admin API and the demo loader."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import update
from sqlmodel import Session, select
from zxcvbn import zxcvbn

from telemed.models import AuthToken, OrgKind, Organization, Role, User
from telemed.security import hash_password, verify_password
from telemed.timeutil import utcnow

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
ORG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
MIN_PASSWORD = 12  # OWASP ASVS 2.1.1
MAX_PASSWORD = 128
# zxcvbn's score: 3 is "safely unguessable: moderate protection from offline slow-hash attacks";
# its lists hold the common passwords, names and words of the leaked-password corpora.
MIN_STRENGTH = 3
CLINICAL_ROLES = frozenset({Role.FACILITY_DOCTOR, Role.SPECIALIST, Role.MEDICAL_OFFICER})
MAX_NAME = 200
# What an administrator may change on an account (the username never changes: the audit trail names it).
EDITABLE = ("display_name", "role", "org_id", "specialty", "on_duty", "active")


class AccountError(ValueError):
    """A refused account change; ``field`` names the form field at fault and ``code`` the
    message (``admin.err.<code>``) that the pages show in the user's language."""

    def __init__(self, message: str, *, field: str = "", code: str = "") -> None:
        super().__init__(message)
        self.field, self.code = field, code


def add_org(session: Session, org_id: str, name: str, kind: str, name_zh: str = "") -> Organization:
    if not ORG_ID.match(org_id):
        raise AccountError(f"organisation id {org_id!r}: letters, digits and '-' only", field="id", code="org_id")
    if not name.strip():
        raise AccountError("an organisation needs a name", field="name", code="required")
    if kind not in set(OrgKind):
        raise AccountError(f"kind must be one of {', '.join(OrgKind)}", field="kind", code="kind")
    if session.get(Organization, org_id):
        raise AccountError(f"organisation {org_id} already exists", field="id", code="org_exists")
    org = Organization(id=org_id, name=name.strip(), name_zh=name_zh.strip(), kind=kind)
    session.add(org)
    session.flush()
    return org


def _check_role_and_org(session: Session, role: str, org_id: str) -> None:
    if role not in set(Role):
        raise AccountError(f"role must be one of {', '.join(Role)}", field="role", code="role")
    org = session.get(Organization, org_id)
    if org is None:
        raise AccountError(f"no organisation {org_id}", field="org_id", code="no_org")
    expected = OrgKind.HOSPITAL if role == Role.SPECIALIST else OrgKind.FACILITY
    if role != Role.ADMIN and org.kind != expected:
        raise AccountError(f"a {role} belongs to a {expected}, and {org_id} is a {org.kind}", field="org_id",
                           code=f"needs_{expected}")


def check_password(password: str, *related: str) -> None:
    """Refuse a password that is short, or common or easy to guess (``related``: the user's
    names, which make it weaker)."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must be at least {MIN_PASSWORD} characters", field="password",
                           code="password_short")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"password must be at most {MAX_PASSWORD} characters", field="password",
                           code="password_long")
    if zxcvbn(password, user_inputs=[r for r in related if r])["score"] < MIN_STRENGTH:
        raise AccountError("password is too common or too easy to guess: use a longer phrase of unrelated words",
                           field="password", code="password_weak")


def _check_display_name(name: str) -> str:
    name = name.strip()
    if len(name) > MAX_NAME:
        raise AccountError(f"display name: at most {MAX_NAME} characters", field="display_name", code="too_long")
    return name


def add_user(session: Session, username: str, password: str, *, role: str, org_id: str,
             display_name: str = "", specialty: str | None = None, on_duty: bool = False,
             pending: bool = False) -> User:
    """A new account. ``pending``: a clinical account that cannot log in until a medical officer
    approves it (``approve``); the admin API and the CLI create them so."""
    if not USERNAME.match(username):
        raise AccountError(f"username {username!r}: 2-64 lower-case letters, digits, '.', '_' or '-'",
                           field="username", code="username")
    _check_role_and_org(session, role, org_id)
    check_password(password, username, display_name)
    if session.exec(select(User).where(User.username == username)).first():
        raise AccountError(f"user {username} already exists", field="username", code="user_exists")
    user = User(username=username, display_name=_check_display_name(display_name) or username, role=role,
                org_id=org_id, password_hash=hash_password(password), specialty=specialty or None, on_duty=on_duty,
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
        raise AccountError("no such account waiting for your approval", code="not_pending")
    user.approved_at, user.approved_by = utcnow(), officer.id
    session.add(user)
    session.flush()
    return user


def update_user(session: Session, user: User, changes: dict, *, acting_user_id: int) -> list[str]:
    """Apply an administrator's edit; returns the names of the fields that changed."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise AccountError(f"not editable: {', '.join(unknown)}", field=unknown[0], code="not_editable")
    wanted = {name: getattr(user, name) for name in EDITABLE} | changes
    wanted["display_name"] = _check_display_name(str(wanted["display_name"] or "")) or user.username
    wanted["specialty"] = str(wanted["specialty"] or "").strip() or None
    for flag in ("on_duty", "active"):
        if not isinstance(wanted[flag], bool):
            raise AccountError(f"{flag} must be true or false", field=flag, code="boolean")
    _check_role_and_org(session, str(wanted["role"]), str(wanted["org_id"]))
    if user.id == acting_user_id and (not wanted["active"] or wanted["role"] != Role.ADMIN):
        raise AccountError("you cannot deactivate your own account or take away your own administration",
                           field="active" if not wanted["active"] else "role", code="own_account")
    changed = [name for name in EDITABLE if getattr(user, name) != wanted[name]]
    for name in changed:
        setattr(user, name, wanted[name])
    session.add(user)
    return changed


def revoke_tokens(session: Session, user: User) -> list[str]:
    """Revoke every live session and token of ``user``; returns their hashes (to drop from caches)."""
    live = (AuthToken.user_id == user.id) & AuthToken.revoked_at.is_(None)
    hashes = list(session.exec(select(AuthToken.token_hash).where(live)).all())
    session.exec(update(AuthToken).where(live).values(revoked_at=utcnow()))
    return hashes


def reset_password(session: Session, user: User) -> tuple[str, list[str]]:
    """A new random password (returned once, never stored in clear), and the hashes of the user's
    sessions and tokens, all revoked so that whoever held the old one is out."""
    password = secrets.token_urlsafe(12)
    user.password_hash = hash_password(password)
    user.must_change_password = True  # known to the administrator: the user replaces it at once
    session.add(user)
    return password, revoke_tokens(session, user)


def user_view(user: User) -> dict:
    return {
        "id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
        "org_id": user.org_id, "specialty": user.specialty, "on_duty": user.on_duty, "active": user.active,
        "state": "pending" if user.approved_at is None else "active" if user.active else "inactive",
    }


def org_view(org: Organization) -> dict:
    return {"id": org.id, "name": org.name, "name_zh": org.name_zh, "kind": org.kind}


def change_own_password(session: Session, user_id: int, current: str, new: str) -> tuple[User, list[str]]:
    """The user replaces their password (the one an administrator reset, say): checked against the
    current one and the password rules; every session and token of the user is revoked (their
    hashes returned, to drop from caches), so the caller signs the user in again."""
    user = session.get(User, user_id)
    if user is None or not verify_password(user.password_hash, current):
        raise AccountError("the current password is wrong", field="current", code="current_wrong")
    if new == current:
        raise AccountError("choose a password other than the current one", field="password", code="password_same")
    check_password(new, user.username, user.display_name)
    user.password_hash, user.must_change_password = hash_password(new), False
    session.add(user)
    return user, revoke_tokens(session, user)
