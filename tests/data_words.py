"""What counts as data when a test looks for the wrong script: every run of Chinese characters
(or Latin words) stored in the database, i.e. names and free text, as opposed to the UI's words."""

from __future__ import annotations

import re

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.orm import Session

from tests.browser_support import Data

HAN = re.compile(r"[\u3400-\u9fff]+")


def stored_strings(db) -> list[str]:
    """Every text value in every table (resources are JSON text)."""
    def collect(session) -> list[str]:
        found: list[str] = []
        connection = session.connection()
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    if isinstance(value, str):
                        found.append(value)
        return found
    return db.call(collect)


def data_han_runs(db) -> set[str]:
    return {run for value in stored_strings(db) for run in HAN.findall(value)}


NAME_COLUMNS = {"detainee": ("name", "booking_number", "cell", "national_id"),
                "app_user": ("display_name", "username", "specialty"),
                "organization": ("name", "name_zh", "id"), "exam_campaign": ("name",),
                "consult": ("question", "decision_reason", "security_note"), "lab_analyzer": ("name",)}


def names_and_labels(url: str) -> tuple[list[str], set[str], set[str]]:
    """(people's names, every Latin word of the stored names and labels, the values themselves)
    of a database by URL: typed by people, so data even where they look like codes."""
    engine = create_engine(url)
    people: list[str] = []
    latin: set[str] = set()
    exact: set[str] = set()
    with engine.connect() as connection:
        for table, columns in NAME_COLUMNS.items():
            for row in connection.execute(text(f'SELECT {", ".join(columns)} FROM "{table}"')):
                for value in row:
                    latin.update(re.findall(r"[A-Za-z][A-Za-z0-9]*", value or ""))
                    exact.add(value or "")
                if table in ("detainee", "app_user"):
                    people.append(row[0])
    engine.dispose()
    return people, latin, exact


def han_of_url(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return data_han_runs(_Plain(session))
    finally:
        engine.dispose()


class _Plain:
    """``db.call(fn)`` over one open session, so ``stored_strings`` reads any engine."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def call(self, fn):
        return fn(self.session)


def page_data(url: str) -> Data:
    """What the database at ``url`` holds that pages may show as data (names, free text, labels)."""
    names, latin, exact = names_and_labels(url)
    return Data(han=han_of_url(url), latin=latin, names=names, exact=exact)
