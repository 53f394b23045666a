"""The ``telemed`` command."""

from __future__ import annotations

import argparse
import getpass
import importlib
import logging
import sys

from telemed import logs
from telemed.config import ConfigError, Settings, load_settings

# Capabilities that add subcommands, each as ``register(subparsers)``.
FEATURE_CLIS = ("ehr.cli", "labs.cli", "reports.cli")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"telemed: configuration error: {exc}", file=sys.stderr)
        return 2
    return args.run(args, settings) or 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="telemed", description="Telemedicine platform for custody facilities")
    sub = parser.add_subparsers(title="commands")

    serve = sub.add_parser("serve", help="serve the web app and APIs")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(run=cmd_serve)

    db = sub.add_parser("db", help="database schema").add_subparsers(title="db commands")
    db.add_parser("upgrade", help="migrate the schema to the newest version").set_defaults(run=cmd_db_upgrade)
    db.add_parser("current", help="print the schema version").set_defaults(run=cmd_db_current)

    user = sub.add_parser("user", help="users").add_subparsers(title="user commands")
    add = user.add_parser("add", help="add a user; the password is read from stdin or prompted for")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=["facility_doctor", "specialist", "medical_officer", "admin", "custody_officer"])
    add.add_argument("--org", required=True)
    add.add_argument("--display-name", default="")
    add.add_argument("--specialty")
    add.add_argument("--on-duty", action="store_true")
    add.set_defaults(run=cmd_user_add)
    approve = user.add_parser("approve", help="approve a new clinical account as a medical officer; the officer's "
                                              "password is read from stdin or prompted for")
    approve.add_argument("username")
    approve.add_argument("--officer", required=True, help="the approving medical officer's username")
    approve.set_defaults(run=cmd_user_approve)

    org = sub.add_parser("org", help="organisations").add_subparsers(title="org commands")
    add_org = org.add_parser("add", help="add a custody facility or partner hospital")
    add_org.add_argument("org_id")
    add_org.add_argument("--name", required=True)
    add_org.add_argument("--name-zh", default="")
    add_org.add_argument("--kind", required=True, choices=["facility", "hospital"])
    add_org.set_defaults(run=cmd_org_add)

    demo = sub.add_parser("demo", help="load demo data into an empty database")
    demo.add_argument("--if-needed", action="store_true", help="succeed quietly when the demo is already loaded")
    demo.set_defaults(run=cmd_demo)

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(title="audit commands")
    verify = audit.add_parser("verify", help="check every entry's MAC, the chain's links, and the checkpoints")
    verify.add_argument("--checkpoints", help="the checkpoint file to hold the trail to (default: the server's own; "
                                              "give the copy from write-once storage)")
    verify.set_defaults(run=cmd_audit_verify)
    audit.add_parser("rotate-key", help="start sealing new entries with a new key (old keys are kept)").set_defaults(
        run=cmd_audit_rotate_key)
    export = audit.add_parser("export", help="write the trail as FHIR AuditEvent NDJSON")
    export.add_argument("--out", default="-")
    export.set_defaults(run=cmd_audit_export)

    for name in FEATURE_CLIS:
        importlib.import_module(name).register(sub)
    return parser


def open_database(settings: Settings):
    from telemed.db import Database

    return Database(settings.database_url, threads=2)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from telemed.app import create_app

    logs.configure()
    host, port = args.host or settings.host, args.port or settings.port
    print(f"telemed: serving on http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    web.run_app(create_app(settings), host=host, port=port, print=None, access_log=None)
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from telemed.schema import upgrade

    logging.getLogger("alembic").setLevel(logging.WARNING)
    upgrade(settings.database_url)
    print("telemed: database schema is up to date")
    return 0


def cmd_db_current(args: argparse.Namespace, settings: Settings) -> int:
    from telemed.schema import current_revision, head_revision

    db = open_database(settings)
    current, head = current_revision(db.engine), head_revision(settings.database_url)
    print(f"current: {current or 'none'}  head: {head}")
    return 0 if current == head else 1


def read_password(prompt: str = "password: ") -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if first != getpass.getpass("again: "):
            raise SystemExit("telemed: the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    from telemed.accounts import AccountError, add_user

    password = read_password()
    db = open_database(settings)
    try:
        user = db.call(add_user, args.username, password, role=args.role, org_id=args.org,
                       display_name=args.display_name, specialty=args.specialty, on_duty=args.on_duty, pending=True)
    except AccountError as exc:
        print(f"telemed: {exc}", file=sys.stderr)
        return 1
    audit_cli(settings, db, "admin.users.create", resource=f"user/{user.username}",
              reason=f"role {user.role}, organisation {user.org_id}")
    waiting = " - it can sign in once a medical officer approves it" if user.approved_at is None else ""
    print(f"telemed: added {user.username} ({user.role}, {user.org_id}){waiting}")
    return 0


def cmd_user_approve(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import select

    from telemed.accounts import AccountError, approve
    from telemed.models import User
    from telemed.security import verify_password

    password = read_password(f"password of {args.officer}: ")
    db = open_database(settings)
    officer = db.call(lambda s: s.exec(select(User).where(User.username == args.officer)).first())
    user = db.call(lambda s: s.exec(select(User).where(User.username == args.username)).first())
    if officer is None or not verify_password(officer.password_hash, password):
        audit_cli(settings, db, "account.approve", outcome="denied", resource=f"user/{args.username}",
                  reason=f"wrong officer or password ({args.officer})")
        print("telemed: wrong officer username or password", file=sys.stderr)
        return 1
    try:
        if user is None:
            raise AccountError("no such account waiting for your approval")
        db.call(approve, officer.id, user.id)
    except AccountError as exc:
        audit_cli(settings, db, "account.approve", outcome="denied", officer=officer, resource=f"user/{args.username}",
                  reason=str(exc))
        print(f"telemed: {exc}", file=sys.stderr)
        return 1
    audit_cli(settings, db, "account.approve", officer=officer, resource=f"user/{user.username}",
              reason=f"role {user.role}, organisation {user.org_id}")
    print(f"telemed: {user.username} approved by {officer.username}")
    return 0


def audit_cli(settings: Settings, db, action: str, *, outcome: str = "allowed", officer=None, **fields: str) -> None:
    """An audit entry for a change made from the command line, committed before the command ends."""
    from telemed.audit import AuditEvent, Signer, write_batch

    signer = Signer.from_settings(settings)
    who = {"user_id": officer.id, "username": officer.username, "role": officer.role} if officer else {"username": "cli"}
    head = write_batch(db.engine, [AuditEvent(action=action, outcome=outcome, ip="cli", **who, **fields)], signer)
    if head:
        signer.checkpoints.write(signer.keys, head, force=True)


def cmd_org_add(args: argparse.Namespace, settings: Settings) -> int:
    from telemed.accounts import AccountError, add_org

    db = open_database(settings)
    try:
        org = db.call(add_org, args.org_id, args.name, args.kind, args.name_zh)
    except AccountError as exc:
        print(f"telemed: {exc}", file=sys.stderr)
        return 1
    audit_cli(settings, db, "admin.orgs.create", resource=f"Organization/{org.id}")
    print(f"telemed: added {org.kind} {org.id}")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from telemed import demo

    db = open_database(settings)
    try:
        demo.load(db, settings)
    except demo.DemoRefused as exc:
        if args.if_needed and db.call(demo.state) == "demo":
            print_logins(settings)
            return 0
        print(f"telemed: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    print(f"telemed: demo loaded: 1 facility, 1 partner hospital, {demo.DETAINEES} detainees")
    print_logins(settings)
    return 0


def print_logins(settings: Settings) -> None:
    from telemed.demo import USERS

    print(f"\nOpen http://{settings.host}:{settings.port}/ and sign in as one of:")
    for username, password, role, org, _display, _specialty in USERS:
        print(f"  {role:<16} user {username:<11} password {password}   ({org})")
    print()


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from telemed.audit import Signer, verify
    from telemed.audit_keys import AuditKeyError

    try:
        signer = Signer.from_settings(settings)
    except AuditKeyError as exc:
        print(f"telemed: {exc}", file=sys.stderr)
        return 2
    checkpoints = Path(args.checkpoints) if args.checkpoints else None
    checked, problems = open_database(settings).call(verify, signer, checkpoints)
    for problem in problems:
        print(f"entry {problem.seq}: {problem.problem}" if problem.seq else f"trail: {problem.problem}")
    print(f"telemed: {checked} audit entries checked, {len(problems)} problem(s)")
    return 1 if problems else 0


def cmd_audit_rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    from telemed.audit_keys import AuditKeyError, load_keyring, rotate

    try:
        old = load_keyring(settings.audit_key_path, settings.audit_key)
        new_id = rotate(settings.audit_key_path, settings.audit_key)
    except AuditKeyError as exc:
        print(f"telemed: {exc}", file=sys.stderr)
        return 1
    audit_cli(settings, open_database(settings), "audit.key.rotate", reason=f"key {old.current_id} -> {new_id}")
    print(f"telemed: new entries are sealed with key {new_id}; keep {settings.audit_key_path} "
          "(the old keys verify the old entries) and restart the server")
    return 0


def cmd_audit_export(args: argparse.Namespace, settings: Settings) -> int:
    import orjson
    from sqlmodel import select

    from telemed.audit import to_fhir
    from telemed.models import AuditEntry

    out = sys.stdout.buffer if args.out == "-" else open(args.out, "wb")
    db = open_database(settings)
    with db.session() as session:
        for entry in session.exec(select(AuditEntry).order_by(AuditEntry.seq)).yield_per(1000):
            out.write(orjson.dumps(to_fhir(entry)) + b"\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
