"""What must be read with a stored result, in the reader's language: its status when it is not
simply final, and its specimen's conditions (the same words as the record page's)."""

from __future__ import annotations

from ehr.values import SHOWN_STATUSES, condition_label
from labs.models import LabResult
from labs.specimen import BY_KEY
from telemed.i18n import translate


def conditions_of(row: LabResult) -> list[str]:
    return [c for c in row.conditions.split(",") if c in BY_KEY]


def row_marks(row: LabResult, lang: str) -> list[str]:
    found = [translate(lang, f"ehr.result_status.{row.status}")] if row.status in SHOWN_STATUSES else []
    return found + [condition_label({BY_KEY[c].code}, BY_KEY[c].display, lang) for c in conditions_of(row)]
