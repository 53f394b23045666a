"""`telemed clients ...`: register a partner hospital's system for SMART Backend Services."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from telemed.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    clients = sub.add_parser("clients", help="hospital systems signing in with SMART Backend Services").add_subparsers(
        title="clients commands")
    add = clients.add_parser("add", help="register a client's public keys, tied to a partner hospital")
    add.add_argument("client_id")
    add.add_argument("--org", required=True, help="the partner hospital the client acts for")
    add.add_argument("--name", required=True, help="what the client is, as people read it")
    keys = add.add_mutually_exclusive_group(required=True)
    keys.add_argument("--jwks-url", help="where the client publishes its JWKS")
    keys.add_argument("--jwks-file", type=Path, help="a file holding the client's public JWKS")
    add.add_argument("--scope", required=True,
                     help='the scopes it may ask for, space-separated, e.g. "system/Observation.read system/Patient.read"')
    add.set_defaults(run=cmd_clients_add)
    revoke = clients.add_parser("revoke", help="stop a client: no new token, and its tokens stop working")
    revoke.add_argument("client_id")
    revoke.set_defaults(run=cmd_clients_revoke)


def cmd_clients_add(args: argparse.Namespace, settings: Settings) -> int:
    from telemed.cli import audit_cli, open_database
    from telemed.clients import ClientError, add_client

    try:
        jwks = args.jwks_file.read_text() if args.jwks_file else ""
    except (OSError, UnicodeDecodeError) as exc:
        print(f"telemed: {args.jwks_file}: {exc}", file=sys.stderr)
        return 1
    db = open_database(settings)
    try:
        client = db.call(add_client, args.client_id, args.name, args.org, args.scope,
                         jwks_url=args.jwks_url or "", jwks=jwks)
    except ClientError as exc:
        print(f"telemed: {exc}", file=sys.stderr)
        return 1
    audit_cli(settings, db, "admin.clients.create", resource=f"client/{client.client_id}",
              reason=f"organisation {client.org_id}, scopes {client.scopes}")
    print(f"telemed: registered client {client.client_id} for {client.org_id} ({client.scopes})")
    return 0


def cmd_clients_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from telemed.cli import audit_cli, open_database
    from telemed.clients import ClientError, revoke_client

    db = open_database(settings)
    try:
        db.call(revoke_client, args.client_id)
    except ClientError as exc:
        print(f"telemed: {exc}", file=sys.stderr)
        return 1
    audit_cli(settings, db, "admin.clients.revoke", resource=f"client/{args.client_id}")
    print(f"telemed: revoked client {args.client_id}")
    return 0
