"""`telemed labs ...` subcommands: sync-catalog, import, listen."""

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
    listen = labs.add_parser("listen", help="receive HL7 v2 ORU^R01 over MLLP")
    listen.add_argument("--host", default="0.0.0.0")
    listen.add_argument("--port", type=int, default=2575)
    listen.add_argument("--facility", required=True, help="the facility whose analyzers connect here")
    listen.set_defaults(run=cmd_listen)


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
                                           facility_id=args.facility, progress=progress, alongside=True)
    except importer.ImportFailed as exc:
        print(f"telemed: {exc}", file=sys.stderr)
        return 1
    for error in report.errors:
        print(error.text(), file=sys.stderr)
    print(f"telemed: {report.added} result(s) added, {report.duplicates} already present, "
          f"{report.error_count} bad, {report.alerts} critical alert(s) raised")
    return 1 if report.error_count else 0


def cmd_listen(args: argparse.Namespace, settings) -> int:
    from telemed import logs
    from labs.mllp import serve
    from telemed.cli import open_database

    logs.configure()
    db = open_database(settings)

    async def run() -> None:
        server = await serve(db, settings, args.facility, args.host, args.port)
        print(f"telemed: listening for HL7 (MLLP) on {args.host}:{args.port} for {args.facility} (Ctrl-C stops)",
              flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"telemed: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
