"""Fixtures: real SQLite and PostgreSQL databases, a migrated schema, seeded organisations and
users, and the app on a real loopback server.

A test runs on SQLite unless it asks for both, with ``@both_databases``.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlmodel import Session

from ehr import store
from ehr.custody import BOOKING_SYSTEM, custody_extension
from telemed.accounts import add_org, add_user
from telemed.config import Settings
from telemed.context import Context
from telemed.db import make_engine
from telemed.models import OrgKind, Role
from telemed.schema import upgrade
from tests.pg import PostgresServer

both_databases = pytest.mark.parametrize("db_kind", ["sqlite", "postgresql"])
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session")
def pg_server():
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def janus_server():
    """Janus from Debian's package, for the consult tests' second media backend."""
    from tests.janus import BINARY, MISSING, JanusServer

    if BINARY is None:
        pytest.skip(MISSING)
    server = JanusServer().start()
    yield server
    server.stop()


@pytest.fixture
def db_kind() -> str:
    return "sqlite"


@pytest.fixture
def db_url(request, db_kind: str, tmp_path: Path):
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'telemed.db'}"
        return
    server = request.getfixturevalue("pg_server")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    upgrade(db_url)
    # The audit trail from a thread, not a child process, so that each test's context opens at
    # once; tests/test_audit_process.py runs the server's child.
    return Settings(database_url=db_url, data_dir=tmp_path / "data", secret_key="test-secret-key-0123456789",
                    db_threads=4, audit_process=False)


@pytest.fixture
def context(settings: Settings):
    ctx = Context.open(settings)
    yield ctx
    ctx.close()


@dataclass
class World:
    """Two facilities, a partner hospital, one user of each role (and a few more), some detainees."""

    users: dict[str, int] = field(default_factory=dict)
    patients: dict[str, list[str]] = field(default_factory=dict)  # facility -> patient ids

    password: str = PASSWORD


def make_patient(session, facility: str, booking: str, *, sex: str = "male", birth: str = "1980-05-01",
                 family: str = "王", given: str = "小明", resource_id: str | None = None) -> str:
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": BOOKING_SYSTEM, "value": booking}],
        "name": [{"family": family, "given": [given], "text": family + given}],
        "gender": sex,
        "birthDate": birth,
        "managingOrganization": {"reference": f"Organization/{facility}"},
        "extension": [custody_extension(facility, "1-01", "2026-01-05")],
    }
    return store.create(session, patient, resource_id=resource_id).id


USERS = (
    ("doc-a", Role.FACILITY_DOCTOR, "fac-a", None),
    ("doc-b", Role.FACILITY_DOCTOR, "fac-b", None),
    ("spec-1", Role.SPECIALIST, "hosp-1", "cardiology"),
    ("spec-2", Role.SPECIALIST, "hosp-1", "cardiology"),
    ("officer-a", Role.MEDICAL_OFFICER, "fac-a", None),
    ("officer-b", Role.MEDICAL_OFFICER, "fac-b", None),
    ("admin", Role.ADMIN, "fac-a", None),
)


def seed_world(session) -> World:
    seeded = World()
    add_org(session, "fac-a", "Facility A", OrgKind.FACILITY, "甲看守所")
    add_org(session, "fac-b", "Facility B", OrgKind.FACILITY, "乙看守所")
    add_org(session, "hosp-1", "Partner Hospital", OrgKind.HOSPITAL, "合作医院")
    for username, role, org, specialty in USERS:
        user = add_user(session, username, PASSWORD, role=role, org_id=org, display_name=username,
                        specialty=specialty, on_duty=role == Role.SPECIALIST)
        seeded.users[username] = user.id
    for facility in ("fac-a", "fac-b"):
        seeded.patients[facility] = [
            make_patient(session, facility, f"{facility}-{n}", sex="male" if n % 2 else "female",
                         resource_id=f"{facility}-p{n}")
            for n in range(1, 4)
        ]
    return seeded


@pytest.fixture
def world(context: Context) -> World:
    return context.db.call(seed_world)


def _migrate_and_seed(url: str) -> World:
    upgrade(url)
    engine = make_engine(url, pool_size=1)
    with Session(engine) as session:
        seeded = seed_world(session)
        session.commit()
    engine.dispose()
    return seeded


@functools.cache
def _sqlite_template() -> tuple[Path, World]:
    """A migrated, seeded SQLite file made once per process and copied for each module: the
    mutation runs (scripts/mutation.py) fork a pytest per mutant from the process that made it."""
    folder = Path(tempfile.mkdtemp(prefix="telemed-template-"))
    owner = os.getpid()
    atexit.register(lambda: os.getpid() == owner and shutil.rmtree(folder, ignore_errors=True))
    return folder / "telemed.db", _migrate_and_seed(f"sqlite:///{folder / 'telemed.db'}")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_world(request, tmp_path_factory):
    """One migrated and seeded database per test module and kind, for tests that change it only
    inside ``rolled_back``: a fresh database per test costs seconds of migrations and hashing."""
    server = request.getfixturevalue("pg_server") if request.param == "postgresql" else None
    if server:
        url = server.create_database()
        seeded = _migrate_and_seed(url)
    else:
        template, seeded = _sqlite_template()
        path = tmp_path_factory.mktemp("shared") / "telemed.db"
        shutil.copyfile(template, path)
        url = f"sqlite:///{path}"
    engine = make_engine(url, pool_size=1)
    yield engine, seeded
    engine.dispose()
    if server:
        server.drop_database(url)


@pytest.fixture
def rolled_back(shared_world):
    """(session, world) on the module's shared database; everything the test wrote is undone."""
    engine, seeded = shared_world
    with Session(engine) as session:
        yield session, seeded
        session.rollback()


@pytest.fixture
async def client(aiohttp_client, context: Context):
    from telemed.app import create_app

    return await aiohttp_client(create_app(context=context))


async def bearer(client, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = await client.post("/api/auth/token", json={"username": username, "password": password})
    assert response.status == 200, await response.text()
    return {"Authorization": f"Bearer {(await response.json())['access_token']}"}


@pytest.fixture
def login(client, world):
    """``await login("doc-a")`` -> headers with a fresh bearer token for that user."""

    async def _login(username: str) -> dict[str, str]:
        return await bearer(client, username)

    return _login
