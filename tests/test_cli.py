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


async def test_user_add_reads_the_password_from_stdin(settings, client, world):
    added = telemed(settings, "user", "add", "nurse-wu", "--role", "facility_doctor", "--org", "fac-a",
                    stdin="a-long-password\n")
    assert added.returncode == 0, added.stderr
    assert "added nurse-wu (facility_doctor, fac-a)" in added.stdout
    assert await bearer(client, "nurse-wu", "a-long-password")


@pytest.mark.parametrize("args, message", [
    (("user", "add", "x1", "--role", "specialist", "--org", "fac-a"), "a specialist belongs to a hospital"),
    (("user", "add", "x2", "--role", "admin", "--org", "nowhere"), "no organisation nowhere"),
    (("user", "add", "Bad Name", "--role", "admin", "--org", "fac-a"), "username 'Bad Name'"),
])
def test_user_add_refusals(settings, world, args, message):
    result = telemed(settings, *args, stdin="a-long-password\n")
    assert result.returncode == 1 and message in result.stderr


def test_demo_refuses_a_database_with_real_data(settings, world):
    result = telemed(settings, "demo")
    assert result.returncode == 1
    assert "already holds real data" in result.stderr
    assert telemed(settings, "demo", "--if-needed").returncode == 1  # still refused: not demo data


def test_db_current(settings):
    result = telemed(settings, "db", "current")
    assert result.returncode == 0 and f"current: {head_revision(settings.database_url)}" in result.stdout
