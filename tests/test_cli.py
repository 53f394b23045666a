import subprocess
import sys

import pytest

from telemed.schema import head_revision
from tests.conftest import bearer


def telemed(settings, *args, stdin: str = "") -> subprocess.CompletedProcess:
    env = {"TELEMED_DATABASE_URL": settings.database_url, "TELEMED_DATA_DIR": str(settings.data_dir),
           "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "telemed.cli", *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=120)


NEW_PASSWORD = "tundra-violin-orbit-42"


async def test_user_add_reads_the_password_and_a_medical_officer_approves(settings, client, world):
    added = telemed(settings, "user", "add", "nurse-wu", "--role", "facility_doctor", "--org", "fac-a",
                    stdin=NEW_PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert "added nurse-wu (facility_doctor, fac-a)" in added.stdout and "medical officer approves" in added.stdout
    waiting = await client.post("/api/auth/token", json={"username": "nurse-wu", "password": NEW_PASSWORD})
    assert waiting.status == 401

    wrong_officer = telemed(settings, "user", "approve", "nurse-wu", "--officer", "officer-b", stdin=world.password + "\n")
    assert wrong_officer.returncode == 1 and "no such account waiting" in wrong_officer.stderr
    bad_password = telemed(settings, "user", "approve", "nurse-wu", "--officer", "officer-a", stdin="guess\n")
    assert bad_password.returncode == 1
    approved = telemed(settings, "user", "approve", "nurse-wu", "--officer", "officer-a", stdin=world.password + "\n")
    assert approved.returncode == 0, approved.stderr
    assert await bearer(client, "nurse-wu", NEW_PASSWORD)
    trail = telemed(settings, "audit", "export")
    approvals = [line for line in trail.stdout.splitlines() if '"account.approve"' in line]
    assert len(approvals) == 3 and '"officer-a"' in approvals[-1] and "user/nurse-wu" in approvals[-1]


@pytest.mark.parametrize("args, message", [
    (("user", "add", "x1", "--role", "specialist", "--org", "fac-a"), "a specialist belongs to a hospital"),
    (("user", "add", "x2", "--role", "admin", "--org", "nowhere"), "no organisation nowhere"),
    (("user", "add", "Bad Name", "--role", "admin", "--org", "fac-a"), "username 'Bad Name'"),
])
def test_user_add_refusals(settings, world, args, message):
    result = telemed(settings, *args, stdin=NEW_PASSWORD + "\n")
    assert result.returncode == 1 and message in result.stderr


def test_demo_refuses_a_database_with_real_data(settings, world):
    result = telemed(settings, "demo")
    assert result.returncode == 1
    assert "already holds real data" in result.stderr
    assert telemed(settings, "demo", "--if-needed").returncode == 1  # still refused: not demo data


def test_db_current(settings):
    result = telemed(settings, "db", "current")
    assert result.returncode == 0 and f"current: {head_revision(settings.database_url)}" in result.stdout
