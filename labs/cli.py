"""`telemed labs ...` subcommands: sync-catalog, import, listen, analyzer, map."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add this capability's subcommands."""
    labs = sub.add_parser("labs", help="laboratory: catalogue, analyzer import, HL7 listener").add_subparsers(
        title="labs commands")
    labs.add_parser("sync-catalog", help="write the catalogue as FHIR ObservationDefinitions (when changed)") \
        .set_defaults(run=cmd_sync)
    imp = labs.add_parser("import", help="import an analyzer export (CSV or Excel)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--profile", default="generic", help="column-mapping profile (default: generic)")
    imp.add_argument("--facility", help="accept only detainees of this facility")
    imp.set_defaults(run=cmd_import)
    listen = labs.add_parser("listen", help="receive HL7 v2 ORU^R01 over MLLP from registered analyzers")
    listen.add_argument("--host", help="address to bind (default: TELEMED_MLLP_HOST, loopback)")
    listen.add_argument("--port", type=int, help="TCP port (default: TELEMED_MLLP_PORT, 2575)")
    listen.set_defaults(run=cmd_listen)
    from labs import analyzer_cli

    analyzer_cli.register(labs)


def cmd_sync(args: argparse.Namespace, settings) -> int:
    from labs.sync import sync_catalogue
    from telemed.cli import open_database

    written = open_database(settings).call(sync_catalogue)
    print(f"telemed: catalogue synced, {written} ObservationDefinition(s) written")
    return 0


def cmd_import(args: argparse.Namespace, settings) -> int:
    from tqdm import tqdm

    from labs import importer
    from telemed.cli import open_database

    profile = importer.profiles().get(args.profile)
    if profile is None:
        print(f"telemed: no profile {args.profile!r}; choose one of {', '.join(importer.profiles())}", file=sys.stderr)
        return 2
    if not args.file.is_file():
        print(f"telemed: no file {args.file}", file=sys.stderr)
        return 2
    try:
        frame = importer.read_frame(args.file)
        with tqdm(total=len(frame), unit="row", desc=args.file.name) as bar:
            def progress(done: int, _total: int) -> None:
                bar.update(done - bar.n)

            report = importer.import_frame(open_database(settings), frame, profile, settings.tz,
                                           facility_id=args.facility, progress=progress, alongside=True,
                                           actor=operator(), resource=f"file/{args.file.name}")
    except importer.ImportFailed as exc:
        print(f"telemed: {exc}", file=sys.stderr)
        return 1
    for error in report.errors:
        print(error.text(), file=sys.stderr)
    print(f"telemed: {report.added} result(s) added, {report.duplicates} already present, "
          f"{report.error_count} bad, {report.alerts} critical alert(s) raised")
    return 1 if report.error_count else 0


def operator():
    """The person at the command line, as the audit trail names them."""
    import getpass

    from labs.trail import Actor

    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (a container, say)
        import os

        name = f"uid {os.getuid()}"
    return Actor(username=f"cli:{name}", role="operator")


def cmd_listen(args: argparse.Namespace, settings) -> int:
    from telemed import logs
    from labs.mllp import serve, tls_context
    from telemed.cli import open_database

    logs.configure()
    host, port = args.host or settings.mllp_host, args.port or settings.mllp_port
    try:
        tls = tls_context(settings)
    except (OSError, ValueError) as exc:
        print(f"telemed: TELEMED_MLLP_TLS_*: {exc}", file=sys.stderr)
        return 1
    db = open_database(settings)

    async def run() -> None:
        server = await serve(db, settings, host, port, tls)
        print(f"telemed: listening for HL7 (MLLP{' over TLS' if tls else ''}) on {host}:{port} "
              "for registered analyzers (Ctrl-C stops)", flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"telemed: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    return 0
