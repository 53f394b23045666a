"""`telemed labs analyzer add|list|remove` and `telemed labs map set|list|remove`: the analyzer
registry and the code maps from the command line, audited as the operator."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(labs: argparse._SubParsersAction) -> None:
    analyzer = labs.add_parser("analyzer", help="register the analyzers that may send results").add_subparsers(
        title="analyzer commands", required=True)
    add = analyzer.add_parser("add", help="register an analyzer")
    add.add_argument("name")
    add.add_argument("--facility", required=True, help="the facility whose detainees it files for")
    add.add_argument("--application", required=True, help="MSH-3 sending application, as the analyzer sends it")
    add.add_argument("--sending-facility", default="", help="MSH-4 sending facility (default: sent empty)")
    add.add_argument("--address", action="append", required=True,
                     help="an address or network (CIDR) it connects from; repeat for more")
    add.add_argument("--cert-file", type=Path, help="its TLS client certificate (PEM): subject and fingerprint")
    add.add_argument("--cert-subject", default="", help="or: the certificate's subject (RFC 4514)")
    add.add_argument("--cert-fingerprint", default="", help="or: the certificate's SHA-256 fingerprint")
    add.set_defaults(run=cmd_add)
    analyzer.add_parser("list", help="list the registered analyzers").set_defaults(run=cmd_list)
    remove = analyzer.add_parser("remove", help="remove an analyzer and its code map")
    remove.add_argument("name")
    remove.set_defaults(run=cmd_remove)

    codes = labs.add_parser("map", help="an analyzer's test codes -> the catalogue").add_subparsers(
        title="map commands", required=True)
    put = codes.add_parser("set", help="map one of the analyzer's codes to a catalogue test")
    put.add_argument("analyzer")
    put.add_argument("code", help="the analyzer's code (OBX-3, first component)")
    put.add_argument("loinc", help="the catalogue test (LOINC)")
    put.add_argument("--unit", default="", help="the unit the analyzer reports it in, when not in the message")
    put.set_defaults(run=cmd_map_set)
    show = codes.add_parser("list", help="list an analyzer's map")
    show.add_argument("analyzer")
    show.set_defaults(run=cmd_map_list)
    drop = codes.add_parser("remove", help="remove one code from an analyzer's map")
    drop.add_argument("analyzer")
    drop.add_argument("code")
    drop.set_defaults(run=cmd_map_remove)


def _run(settings, fn, *args) -> int:
    """Call ``fn(session, *args)`` in one transaction; a refusal is printed and changes nothing."""
    from labs.analyzers import AnalyzerError
    from labs.codemaps import MapError
    from telemed.cli import open_database

    try:
        return open_database(settings).call(fn, *args)
    except (AnalyzerError, MapError) as exc:
        print(f"telemed: {exc}", file=sys.stderr)
        return 2


def _audit(session, action: str, resource: str, reason: str = "") -> None:
    from labs.cli import operator
    from labs.trail import record

    record(session, [operator().event(action, "allowed", resource=resource, reason=reason)])


def cmd_add(args: argparse.Namespace, settings) -> int:
    from labs.analyzers import AnalyzerError, PeerCertificate, Registration, register

    subject, fingerprint = args.cert_subject, args.cert_fingerprint
    if args.cert_file:
        try:
            cert = PeerCertificate.from_pem(args.cert_file.read_bytes())
        except (OSError, AnalyzerError) as exc:
            print(f"telemed: --cert-file: {exc}", file=sys.stderr)
            return 2
        subject, fingerprint = cert.subject, cert.fingerprint
    reg = Registration(args.name, args.facility, args.application, args.sending_facility, tuple(args.address),
                       subject, fingerprint)

    def add(session) -> int:
        found = register(session, reg)
        _audit(session, "labs.analyzer.add", f"Analyzer/{found.name}", _describe(found))
        print(f"telemed: registered {found.name}: {_describe(found)}")
        return 0

    return _run(settings, add)


def _describe(analyzer) -> str:
    certificate = " ".join(filter(None, (analyzer.cert_subject, analyzer.cert_fingerprint)))
    return (f"MSH-3 {analyzer.sending_application!r}, MSH-4 {analyzer.sending_facility!r}, files for "
            f"{analyzer.facility_id}, from {analyzer.addresses}{f', certificate {certificate}' if certificate else ''}")


def cmd_list(args: argparse.Namespace, settings) -> int:
    from labs.analyzers import listing

    def show(session) -> int:
        for analyzer in listing(session):
            print(f"{analyzer.name}\t{_describe(analyzer)}")
        return 0

    return _run(settings, show)


def _named(session, name: str):
    from labs.analyzers import AnalyzerError, find

    analyzer = find(session, name)
    if analyzer is None:
        raise AnalyzerError(f"no analyzer {name!r} (telemed labs analyzer list)")
    return analyzer


def cmd_remove(args: argparse.Namespace, settings) -> int:
    from labs.analyzers import remove

    def drop(session) -> int:
        analyzer = _named(session, args.name)
        remove(session, analyzer)
        _audit(session, "labs.analyzer.remove", f"Analyzer/{args.name}")
        print(f"telemed: removed {args.name}")
        return 0

    return _run(settings, drop)


def cmd_map_set(args: argparse.Namespace, settings) -> int:
    from labs.codemaps import set_code

    def put(session) -> int:
        entry = set_code(session, _named(session, args.analyzer), args.code, args.loinc, args.unit)
        _audit(session, "labs.map.set", f"Analyzer/{args.analyzer}",
               f"{entry.code} -> {entry.loinc} {entry.unit}".strip())
        print(f"telemed: {args.analyzer}: {entry.code} -> {entry.loinc}{f' ({entry.unit})' if entry.unit else ''}")
        return 0

    return _run(settings, put)


def cmd_map_list(args: argparse.Namespace, settings) -> int:
    from labs.codemaps import entries, entry_json

    def show(session) -> int:
        for entry in entries(session, _named(session, args.analyzer).id):
            row = entry_json(entry, "en")
            print(f"{row['code']}\t{row['loinc']}\t{row['test']}\t{row['unit'] or row['catalogue_unit']}")
        return 0

    return _run(settings, show)


def cmd_map_remove(args: argparse.Namespace, settings) -> int:
    from labs.analyzers import AnalyzerError
    from labs.codemaps import remove_code

    def drop(session) -> int:
        if not remove_code(session, _named(session, args.analyzer), args.code):
            raise AnalyzerError(f"{args.analyzer} has no code {args.code!r} in its map")
        _audit(session, "labs.map.remove", f"Analyzer/{args.analyzer}", args.code)
        print(f"telemed: {args.analyzer}: {args.code} removed")
        return 0

    return _run(settings, drop)
