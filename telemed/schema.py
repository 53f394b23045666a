"""Database schema management with alembic: ``telemed db upgrade`` and friends."""

from __future__ import annotations

import importlib
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from telemed.db import normalise_url

MODEL_MODULES = ("telemed.models", "ehr.models", "labs.models", "webrtc.models", "reports.models", "custody.models",
                 "care.models", "rounds.models")


def load_models() -> None:
    """Import every package's tables so that ``SQLModel.metadata`` holds the whole schema."""
    for name in MODEL_MODULES:
        importlib.import_module(name)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("telemed") / "migrations"))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(url: str) -> str:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()
