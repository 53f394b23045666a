"""UTC storage, facility-local display."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def local(value: datetime, tz: ZoneInfo) -> datetime:
    return as_utc(value).astimezone(tz)


@lru_cache(maxsize=4096)  # bulk writes stamp thousands of resources with a few instants
def fhir_instant(value: datetime) -> str:
    return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class UTCDateTime(TypeDecorator):
    """Timestamps are stored in UTC and always come back time-zone aware, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else as_utc(value)

    def process_result_value(self, value, dialect):
        return None if value is None else as_utc(value)
