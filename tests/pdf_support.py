"""What counts as data when a test looks for the wrong script: every run of Chinese characters
(or Latin words) stored in the database, i.e. names and free text, as opposed to the UI's words."""

from __future__ import annotations

import re

from sqlalchemy import inspect, text

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
