"""FHIR HTTP responses: stored bytes served as they are, Bundles assembled from those bytes."""

from __future__ import annotations

from datetime import datetime

import orjson
from aiohttp import web

from ehr.errors import FhirError
from ehr.store import Stored
from ehr.summary import shaped
from telemed.timeutil import as_utc, fhir_instant, utcnow

FHIR_JSON = "application/fhir+json"


def base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}/fhir"


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(moment: datetime) -> str:
    """An RFC 9110 date (``Last-Modified``), spelled out here: email.utils' formatter cost a
    tenth of a FHIR read's time on the event loop."""
    t = as_utc(moment)
    return (f"{_DAYS[t.weekday()]}, {t.day:02d} {_MONTHS[t.month - 1]} {t.year:04d} "
            f"{t.hour:02d}:{t.minute:02d}:{t.second:02d} GMT")


def fhir_response(body: bytes | dict, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return web.Response(body=data, status=status, headers=headers, content_type=FHIR_JSON, charset="utf-8")


def version_headers(stored: Stored) -> dict[str, str]:
    return {"ETag": stored.etag, "Last-Modified": http_date(stored.last_updated)}


def resource_response(stored: Stored, status: int = 200, *, location: str | None = None,
                      minimal: bool = False) -> web.Response:
    headers = version_headers(stored)
    if location:
        headers["Location"] = location
    if minimal:
        return web.Response(status=status, headers=headers)
    return fhir_response(stored.content, status, headers)


def outcome_response(error: FhirError) -> web.Response:
    return fhir_response(error.outcome(), error.status)


def information(message: str) -> dict:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "information", "code": "informational", "diagnostics": message}]}


def entry(base: str, stored: Stored, mode: str | None = None, *, summary: str | None = None,
          elements: tuple[str, ...] = ()) -> bytes:
    content = shaped(stored.type, stored.content, summary, elements)
    search = b',"search":{"mode":"' + mode.encode() + b'"}' if mode else b""
    full_url = orjson.dumps(f"{base}/{stored.type}/{stored.id}")
    return b'{"fullUrl":' + full_url + b',"resource":' + content + search + b"}"


def bundle(kind: str, entries: list[bytes], *, total: int | None = None, links: dict[str, str] | None = None) -> bytes:
    head: dict = {"resourceType": "Bundle", "type": kind, "timestamp": fhir_instant(utcnow())}
    if total is not None:
        head["total"] = total
    if links:
        head["link"] = [{"relation": rel, "url": url} for rel, url in links.items()]
    return orjson.dumps(head)[:-1] + b',"entry":[' + b",".join(entries) + b"]}"
