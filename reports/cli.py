"""`telemed reports ...` subcommands: run (or resume) a campaign's batch, cancel one, list campaigns."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from telemed.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add this capability's subcommands."""
    reports = sub.add_parser("reports", help="exam campaigns and report batches").add_subparsers(title="reports commands")
    batch = reports.add_parser("batch", help="render a campaign's reports (resumes an unfinished batch)")
    batch.add_argument("campaign_id")
    batch.add_argument("--lang", default="zh-CN", choices=["zh-CN", "en"])
    batch.add_argument("--out", help="directory for the files (default: TELEMED_DATA_DIR/reports/...)")
    batch.add_argument("--workers", type=int, help="worker processes (default: TELEMED_REPORT_WORKERS)")
    batch.set_defaults(run=cmd_batch)
    cancel = reports.add_parser("cancel", help="cancel a running batch")
    cancel.add_argument("job_id")
    cancel.set_defaults(run=cmd_cancel)
    campaigns = reports.add_parser("campaigns", help="list a facility's campaigns with completion")
    campaigns.add_argument("facility_id")
    campaigns.set_defaults(run=cmd_campaigns)


def cmd_batch(args: argparse.Namespace, settings: Settings) -> int:
    from reports.batch import BatchError, run_batch
    from reports.campaigns import CampaignError, get_campaign
    from telemed.cli import open_database

    db = open_database(settings)
    try:
        db.call(get_campaign, args.campaign_id)
    except CampaignError as exc:
        print(f"telemed: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()

    def progress(job) -> None:
        print(f"\r{job.done}/{job.total} reports", end="", file=sys.stderr, flush=True)

    try:
        result = run_batch(settings, args.campaign_id, lang=args.lang, workers=args.workers, on_progress=progress,
                           out_dir=Path(args.out) if args.out else None)
    except BatchError as exc:
        print(f"telemed: {exc}", file=sys.stderr)
        return 1
    print(file=sys.stderr)
    print(f"telemed: batch {result.job_id} {result.status}: {result.done}/{result.total} reports in {result.out_dir}")
    for name in result.files:
        print(f"  {result.out_dir / name}")
    return 0 if result.status == "done" else 1


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    from reports.batch import BatchError, cancel_job
    from telemed.cli import open_database

    try:
        job = open_database(settings).call(cancel_job, args.job_id)
    except BatchError as exc:
        print(f"telemed: {exc}", file=sys.stderr)
        return 1
    print(f"telemed: batch {job.id} is {job.status}")
    return 0


def cmd_campaigns(args: argparse.Namespace, settings: Settings) -> int:
    from reports.campaigns import list_campaigns
    from telemed.cli import open_database

    for c in open_database(settings).call(list_campaigns, args.facility_id):
        done = c["completion"]
        print(f"{c['id']}  {c['status']:<6}  {c['period_start']}..{c['period_end']}  "
              f"examined {done['examined']}/{done['total']}  refused {done['refused']}  {c['name']}")
    return 0
