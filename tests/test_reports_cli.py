"""`telemed reports batch` as a user runs it: a real subprocess on a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pypdf import PdfReader

from reports.synthetic import seed_campaign


def telemed(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TELEMED_DATABASE_URL": settings.database_url, "TELEMED_DATA_DIR": str(settings.data_dir),
           "TELEMED_SECRET_KEY": settings.secret_key, "TELEMED_REPORT_WORKERS": "1"}
    return subprocess.run([sys.executable, "-m", "telemed.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_cli_batch_writes_the_files_and_reports_errors(context, world, settings, tmp_path):
    campaign = seed_campaign(context.db, "fac-a", 3, seed=11, refused=0, pending=0)
    out = tmp_path / "out"
    done = telemed(settings, "reports", "batch", campaign, "--lang", "en", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "done: 3/3" in done.stdout
    assert len(PdfReader(out / "merged.pdf").pages) >= 6 and (out / "summary.pdf").is_file()
    listed = telemed(settings, "reports", "campaigns", "fac-a")
    assert campaign in listed.stdout and "examined 3/3" in listed.stdout
    missing = telemed(settings, "reports", "batch", "c-nope")
    assert missing.returncode == 1 and "no campaign c-nope" in missing.stderr
    assert not Path(settings.data_dir / "reports" / "c-nope").exists()
