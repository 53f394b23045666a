"""`telemed ehr ...` subcommands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from telemed.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add this capability's subcommands."""
    ehr = sub.add_parser("ehr", help="the FHIR health record").add_subparsers(title="ehr commands")
    imp = ehr.add_parser("import", help="import FHIR Bundles (.json) or NDJSON (.ndjson), e.g. Synthea R4 output")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE", help="files, or folders of .json/.ndjson files")
    imp.add_argument("--facility", metavar="ORG", help="custody facility for imported Patients that name none")
    imp.add_argument("--batch", type=int, default=500, help="resources per transaction (default 500)")
    imp.set_defaults(run=cmd_import)


def expand(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in (".json", ".ndjson")))
        else:
            found.append(path)
    return found


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from ehr.importer import Importer, count_resources
    from telemed.cli import open_database
    from telemed.models import Organization, OrgKind

    files = expand(args.files)
    missing = [str(p) for p in files if not p.is_file()]
    if missing or not files:
        print(f"telemed: no such file: {', '.join(missing) or args.files[0]}", file=sys.stderr)
        return 1
    db = open_database(settings)
    try:
        if args.facility:
            org = db.call(lambda s: s.get(Organization, args.facility))
            if org is None or org.kind != OrgKind.FACILITY:
                print(f"telemed: --facility {args.facility} is not a custody facility", file=sys.stderr)
                return 1
        with tqdm(total=sum(count_resources(p) for p in files), unit="res", file=sys.stderr) as bar:
            summary = Importer(db, facility=args.facility, batch=args.batch, progress=bar.update).run(files)
    finally:
        db.close()
    rejected = sum(summary.rejected.values())
    print(f"telemed: imported {summary.created} new and {summary.updated} updated resources; {rejected} rejected")
    for reason, count in summary.rejected.most_common():
        print(f"  {count:>6}  {reason}   (first: {summary.examples[reason]})")
    return 0 if not rejected else 3
